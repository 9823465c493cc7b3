import { spawnSync } from 'child_process';
import * as path from 'path';

export const ROOT = path.join(__dirname, '../..');

/** Runs the CLI from source through tsx, the way a user runs the built bin. */
export function cli(args: string[], opts: { cwd?: string; timeout?: number; input?: string } = {}) {
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: opts.timeout ?? 300000,
    input: opts.input,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
