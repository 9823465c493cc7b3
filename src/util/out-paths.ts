/**
 * One rule for every output path (`--out`, `--report`, `--sheet`, `--overlays`, `distill compare
 * --out`, synth, label, export, run folders, augment preview), checked before any work:
 *
 *  1. Shape: a folder output is not a file (nor below one); a file output is not a folder; a
 *     dangling symbolic link is refused (it would fail with a raw ENOTDIR after the work).
 *  2. Never inside or onto an input: compared by device + inode along the output's real path, so
 *     every spelling (`./x`, `d/../x`, a symlink, a bind mount, a hard-linked file) is caught; an
 *     existing output folder that holds an input is refused too.
 *  3. A non-empty existing output is refused unless it holds the same kind of artefact (a synth
 *     dataset, an export, an eval report...) and `--overwrite` was given. Run folders are never
 *     replaced (`--resume` continues them).
 *
 * Multi-file outputs (export, synth, label, a new run folder) are written whole: filled in a temp
 * folder beside the target, then renamed into place (writeOutputDir). A kill leaves the old folder
 * or the new one, never a mix; cut between the two renames of a replacement, both wait beside
 * the target and recoverOutputDir (called by the next check and by the model loader) puts the new
 * one back. A run folder is claimed before its setup starts (claimOutput: an exclusive lock file
 * beside it), so two runs on one `--out` cannot both pass the check.
 *
 * Low in the layers (fs only): the CLI, the recipes, export and label all use it.
 */
import * as fs from 'fs';
import * as path from 'path';

/** An output path that breaks the rule: a user mistake (the CLI prints one line, exit 2). */
export class OutputPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputPathError';
  }
}

/** An input the outputs must stay out of: a dataset folder or list file, a model folder or file. */
export interface InputPath {
  flag: string;
  path: string;
}

/** What an output is, so that an existing one can be told apart from anything else. */
export interface Artefact {
  /** In messages: "a synthetic dataset (synth.json)". */
  what: string;
  kind: 'file' | 'folder';
  /**
   * True when `p` (existing, not empty) holds this kind of artefact: only then may `--overwrite`
   * replace it. Absent: an existing one is never replaced and `refuse` says what to do instead.
   */
  recognise?: (p: string) => boolean;
  /** The line for an existing artefact that is never replaced (run folders: "continue it with --resume"). */
  refuse?: (flag: string, p: string) => string;
}

export interface OutputRequest {
  flag: string;
  path: string;
  artefact: Artefact;
  /** `--overwrite`: replace an existing artefact of the same kind. */
  overwrite?: boolean;
  inputs?: InputPath[];
}

export interface CheckedOutput {
  /** The absolute path to write, links in it resolved (a link to a folder is written through, not replaced). */
  target: string;
  /** An earlier artefact of the same kind is there and will be replaced (`--overwrite`). */
  replaces: boolean;
}

// ---------------------------------------------------------------- identities

interface FileId {
  dev: number;
  ino: number;
}

function idOf(p: string): FileId | null {
  try {
    const s = fs.statSync(p);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return null;
  }
}

const sameId = (a: FileId | null, b: FileId | null) => !!a && !!b && a.dev === b.dev && a.ino === b.ino;

/** True when `a` and `b` are the same file or folder (device + inode), however spelled. */
export function sameFile(a: string, b: string): boolean {
  return sameId(idOf(a), idOf(b));
}

/**
 * Identity of an existing file (device + inode: catches hard links, symlinks and other spellings),
 * or of the real path it would get.
 */
export function fileKey(p: string): string {
  const id = idOf(p);
  if (id) return `ino:${id.dev}:${id.ino}`;
  try {
    return `path:${realOutputPath('', p)}`;
  } catch {
    return `path:${path.resolve(p)}`;
  }
}

/**
 * The real path `p` has or would get: the real path of its nearest existing ancestor (links
 * resolved) joined with the rest. A dangling link on the way is refused naming `flag`.
 */
export function realOutputPath(flag: string, p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    let linked = false;
    try {
      linked = fs.lstatSync(cur).isSymbolicLink();
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return abs;
      rest.unshift(path.basename(cur));
      cur = up;
      continue;
    }
    try {
      return path.join(fs.realpathSync(cur), ...rest);
    } catch {
      const to = linked ? fs.readlinkSync(cur) : '?';
      throw new OutputPathError(`${flag} ${p}: ${cur === abs ? 'is' : `${cur} is`} a symbolic link to ${to}, which does not exist: remove the link or choose another ${flag || 'path'}`);
    }
  }
}

/** The existing folders from `real` (or its nearest existing ancestor) up to the root, with their ids. */
function existingChain(real: string): { p: string; id: FileId }[] {
  const out: { p: string; id: FileId }[] = [];
  let cur = real;
  for (;;) {
    const id = idOf(cur);
    if (id) out.push({ p: cur, id });
    const up = path.dirname(cur);
    if (up === cur) return out;
    cur = up;
  }
}

// ---------------------------------------------------------------- the check

const isEmptyDir = (p: string) => fs.readdirSync(p).length === 0;

/**
 * Checks one output path against the rule (module comment) and returns the path to write.
 * Throws OutputPathError with one line naming the flag otherwise. Nothing is written (a replacement
 * cut by a kill is put back first: recoverOutputDir).
 */
export function checkOutput(o: OutputRequest): CheckedOutput {
  const { flag, artefact } = o;
  const p = o.path;
  const target = realOutputPath(flag, p);
  if (artefact.kind === 'folder') recoverOutputDir(target);
  const st = (() => {
    try {
      return fs.statSync(target);
    } catch {
      return null;
    }
  })();
  const noun = artefact.kind === 'folder' ? 'folder' : 'file';
  // 1. shape
  if (st) {
    if (artefact.kind === 'folder' && !st.isDirectory()) throw new OutputPathError(`${flag} ${p}: is a file, not a folder: choose another ${flag} (a new or empty folder)`);
    if (artefact.kind === 'file' && st.isDirectory()) throw new OutputPathError(`${flag} ${p}: is a folder, expected a file name`);
  } else {
    const chain = existingChain(path.dirname(target));
    const nearest = chain[0];
    if (nearest && !fs.statSync(nearest.p).isDirectory()) {
      throw new OutputPathError(
        artefact.kind === 'folder' ? `${flag} ${p}: ${nearest.p} is a file, so this folder cannot be created` : `${flag} ${p}: ${nearest.p} is a file, so the folder for it cannot be created`,
      );
    }
  }
  // 2. inputs: the output is not an input, not inside one, and does not hold one
  const chain = existingChain(target);
  const targetId = st ? idOf(target) : null;
  for (const input of o.inputs ?? []) {
    const inId = idOf(input.path);
    if (!inId) continue;
    if (sameId(targetId, inId)) throw new OutputPathError(`${flag} ${p}: is the input ${input.flag} ${input.path}: choose another ${noun} (inputs are never written)`);
    const hit = chain.find((c) => sameId(c.id, inId));
    if (hit) throw new OutputPathError(`${flag} ${p}: inside the input ${input.flag} ${input.path}: write it outside the input (inputs are never written)`);
    if (targetId && st!.isDirectory()) {
      let inReal = '';
      try {
        inReal = fs.realpathSync(input.path);
      } catch {
        continue;
      }
      if (existingChain(inReal).some((c) => sameId(c.id, targetId))) {
        throw new OutputPathError(`${flag} ${p}: holds the input ${input.flag} ${input.path}: choose another ${noun} (inputs are never written)`);
      }
    }
  }
  // 3. an existing output: empty, or the same kind of artefact with --overwrite
  if (!st || (st.isDirectory() ? isEmptyDir(target) : st.size === 0)) return { target, replaces: false };
  if (!artefact.recognise) throw new OutputPathError(artefact.refuse ? artefact.refuse(flag, p) : `${flag} ${p}: already exists: choose another ${noun}`);
  if (!artefact.recognise(target)) {
    throw new OutputPathError(`${flag} ${p}: already exists and is not ${artefact.what}: choose another ${noun} (--overwrite replaces only ${artefact.what})`);
  }
  if (!o.overwrite) throw new OutputPathError(`${flag} ${p}: already exists (${artefact.what}): add --overwrite to replace it, or choose another ${noun}`);
  return { target, replaces: true };
}

// ---------------------------------------------------------------- kinds of artefact

function readJson(f: string): Record<string, unknown> | null {
  try {
    if (fs.statSync(f).size > 64 * 1024 * 1024) return null;
    const v = JSON.parse(fs.readFileSync(f, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function isPng(f: string): boolean {
  try {
    const fd = fs.openSync(f, 'r');
    try {
      const b = Buffer.alloc(8);
      return fs.readSync(fd, b, 0, 8, 0) === 8 && b.equals(PNG_SIGNATURE);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** The manifest `data synth` writes into its dataset folder. */
export const SYNTH_MANIFEST = 'synth.json';

/**
 * The artefacts of each command, in one table: what each output is and how an existing one is
 * recognised (the manifest its writer leaves in it).
 */
export const ARTEFACTS = {
  synth: {
    what: `a synthetic dataset (${SYNTH_MANIFEST} from data synth)`,
    kind: 'folder',
    recognise: (p: string) => readJson(path.join(p, SYNTH_MANIFEST))?.kind === 'portraitseg-synth',
  },
  labels: {
    what: 'a label dataset (label.json from portraitseg label)',
    kind: 'folder',
    recognise: (p: string) => readJson(path.join(p, 'label.json'))?.kind === 'portraitseg-labels',
  },
  export: {
    what: 'an export (portraitseg.json with "export", from portraitseg export)',
    kind: 'folder',
    recognise: (p: string) => {
      const m = readJson(path.join(p, 'portraitseg.json'));
      return !!m && !!m.export && typeof m.export === 'object';
    },
  },
  inspect: {
    what: 'a data inspect report (report.json + contact-sheet.png)',
    kind: 'folder',
    recognise: (p: string) => {
      const r = readJson(path.join(p, 'report.json'));
      return !!r && typeof r.usable === 'number' && typeof r.found === 'number' && fs.readdirSync(p).every((f) => f === 'report.json' || f === 'contact-sheet.png');
    },
  },
  overlays: {
    what: 'an overlays folder (PNGs only)',
    kind: 'folder',
    recognise: (p: string) => fs.readdirSync(p).every((f) => /\.png$/i.test(f) && isPng(path.join(p, f))),
  },
  evalReport: {
    what: 'an eval report (JSON with miou and count)',
    kind: 'file',
    recognise: (p: string) => {
      const r = readJson(p);
      return !!r && typeof r.miou === 'number' && typeof r.count === 'number';
    },
  },
  compareTable: {
    what: 'a distill compare table (markdown starting with "| model")',
    kind: 'file',
    recognise: (p: string) => {
      try {
        const fd = fs.openSync(p, 'r');
        try {
          const b = Buffer.alloc(64);
          const n = fs.readSync(fd, b, 0, 64, 0);
          return /^\| model\b/.test(b.subarray(0, n).toString('utf8'));
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        return false;
      }
    },
  },
  compareRows: {
    what: 'distill compare rows (JSON with sets and rows)',
    kind: 'file',
    recognise: (p: string) => {
      const r = readJson(p);
      return !!r && Array.isArray(r.rows) && Array.isArray(r.sets);
    },
  },
  imported: {
    what: 'an imported model',
    kind: 'folder',
    refuse: (flag: string, p: string) => `${flag} ${p} already exists and is not empty: choose a new folder (import never overwrites)`,
  },
  png: {
    what: 'a PNG image',
    kind: 'file',
    recognise: isPng,
  },
} satisfies Record<string, Artefact>;

// ---------------------------------------------------------------- atomic folders

let counter = 0;

/**
 * `.NAME.KIND-PID-N` beside `target`: `partial` (being written), `complete` (written, about to
 * replace the target), `replaced` (the old one, about to be removed). Names of their own, so that
 * the checkpoint writer's `.NAME.tmp-*` / `.NAME.old-*` (src/models/io.ts) are never mistaken for them.
 */
function beside(target: string, kind: 'partial' | 'complete' | 'replaced'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${kind}-${process.pid}-${counter++}`);
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Puts back a folder output whose replacement was cut between its two renames (kill -9): the
 * complete new copy waits as `.NAME.complete-PID-N`, the old one as `.NAME.replaced-PID-N`; the
 * new one wins. Temp folders of dead writers (`.NAME.partial-PID-N`, incomplete) are removed.
 * Returns what was put back, or null.
 */
export function recoverOutputDir(target: string): string | null {
  const dir = path.dirname(target);
  const base = path.basename(target);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return null;
  }
  const ours = names
    .map((n) => ({ n, m: new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(partial|complete|replaced)-(\\d+)-(\\d+)$`).exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => !!x.m && !pidAlive(Number(x.m[2])));
  if (ours.length === 0) return null;
  let put: string | null = null;
  if (!fs.existsSync(target)) {
    const pick = ours.filter((x) => x.m[1] === 'complete').pop() ?? ours.filter((x) => x.m[1] === 'replaced').pop();
    if (pick) {
      fs.renameSync(path.join(dir, pick.n), target);
      put = pick.n;
    }
  }
  for (const x of ours) if (x.n !== put) fs.rmSync(path.join(dir, x.n), { recursive: true, force: true });
  return put;
}

/**
 * Writes a multi-file output as one: `fill(tmp)` fills a temp folder beside `target`, which is
 * then renamed into place. With `replace`, an existing folder is swapped out (the complete new
 * copy is renamed `.NAME.complete-*` first, so a kill between the renames is recoverable) and
 * removed. Without it, a target that appeared meanwhile (not empty) is refused and nothing is
 * left. A failing `fill` removes the temp folder and leaves `target` as it was.
 */
export async function writeOutputDir<T>(target: string, fill: (tmp: string) => Promise<T> | T, o: { replace?: boolean; flag?: string } = {}): Promise<T> {
  const abs = path.resolve(target);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = beside(abs, 'partial');
  fs.mkdirSync(tmp);
  let result: T;
  try {
    result = await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const exists = fs.existsSync(abs) && !(fs.statSync(abs).isDirectory() && isEmptyDir(abs));
  if (!exists) {
    try {
      fs.renameSync(tmp, abs);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (['ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) {
        throw new OutputPathError(`${o.flag ?? 'output'} ${target}: appeared while it was being written (not overwritten; nothing was written)`);
      }
      throw e;
    }
    return result;
  }
  if (!o.replace) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new OutputPathError(`${o.flag ?? 'output'} ${target}: appeared while it was being written (not overwritten; nothing was written)`);
  }
  const ready = beside(abs, 'complete');
  fs.renameSync(tmp, ready);
  const old = beside(abs, 'replaced');
  fs.renameSync(abs, old);
  fs.renameSync(ready, abs);
  fs.rmSync(old, { recursive: true, force: true });
  return result;
}

// ---------------------------------------------------------------- claims

export interface Claim {
  /** The lock file (beside the target). */
  lock: string;
  release(): void;
}

/**
 * Claims `target` for this process before its setup starts: an exclusive lock file
 * `.NAME.lock` beside it (O_EXCL: of two processes, exactly one creates it). A second claim fails
 * with one line naming the holder. The lock goes when released, and when the process exits.
 */
export function claimOutput(flag: string, target: string): Claim {
  const abs = path.resolve(target);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const lock = path.join(path.dirname(abs), `.${path.basename(abs)}.lock`);
  let fd: number;
  try {
    fd = fs.openSync(lock, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    let pid = NaN;
    try {
      pid = parseInt(fs.readFileSync(lock, 'utf8'), 10);
    } catch {
      /* removed meanwhile: still refused, the other process had it */
    }
    const alive = pidAlive(pid);
    throw new OutputPathError(
      alive
        ? `${flag} ${target}: another portraitseg process (pid ${pid}) is creating it right now: choose another ${flag}`
        : `${flag} ${target}: claimed by a process that is gone (pid ${Number.isNaN(pid) ? '?' : pid}, killed while creating it): delete ${lock} and try again`,
    );
  }
  fs.writeSync(fd, `${process.pid}\n`);
  fs.closeSync(fd);
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      fs.unlinkSync(lock);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { lock, release };
}
