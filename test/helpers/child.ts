import { spawnSync } from 'child_process';
import { ROOT } from './cli';

/**
 * Runs a snippet of TypeScript in a fresh node (through tsx, from the repository root), so a test
 * can watch a case that would crash or exhaust its process on a regression without taking mocha
 * down with it. `uid`/`gid` run it as another user (a root test process checking permissions);
 * `maxOldSpaceMb` caps V8's heap so a runaway allocation ends at once.
 */
export function runTs(code: string, opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; maxOldSpaceMb?: number; timeout?: number } = {}) {
  const args = [...(opts.maxOldSpaceMb ? [`--max-old-space-size=${opts.maxOldSpaceMb}`] : []), '--require', 'tsx/cjs', '-e', code];
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: opts.timeout ?? 120000,
    env: opts.env ?? process.env,
    uid: opts.uid,
    gid: opts.gid,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
