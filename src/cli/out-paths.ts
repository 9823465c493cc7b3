/**
 * Checks of output paths before any work starts, so a typo costs one line (exit 2), not a
 * raw EEXIST / ENOTDIR after minutes of computing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from './common';

/** The nearest existing ancestor of `p` (or p itself) and whether it is a folder. */
function nearestExisting(p: string): { at: string; dir: boolean } {
  let cur = path.resolve(p);
  for (;;) {
    try {
      return { at: cur, dir: fs.statSync(cur).isDirectory() };
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return { at: cur, dir: true };
      cur = up;
    }
  }
}

/** `flag dir` will be a folder we write into: it must be a folder or creatable as one. */
export function checkOutFolder(flag: string, dir: string): void {
  const { at, dir: isDir } = nearestExisting(dir);
  if (isDir) return;
  if (at === path.resolve(dir)) throw new UsageError(`${flag} ${dir}: is a file, expected a folder (give a new or existing folder)`);
  throw new UsageError(`${flag} ${dir}: ${at} is a file, so this folder cannot be created`);
}

/** `flag file` will be written as a file: it must not be a folder, and its folder must be creatable. */
export function checkOutFile(flag: string, file: string): void {
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`${flag} ${file}: is a folder, expected a file name`);
  const parent = path.dirname(path.resolve(file));
  const { at, dir } = nearestExisting(parent);
  if (!dir) throw new UsageError(`${flag} ${file}: ${at} is a file, so the folder for it cannot be created`);
}
