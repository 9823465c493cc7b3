/** Options shared by every command, and the argv -> Config bridge. */
import type { Argv } from 'yargs';
import { Config } from '../config/config';
import { resolveConfig } from '../config/load';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CommonArgs {
  config?: string;
  set?: string[];
  seed?: number;
  backend?: string;
  verbose?: boolean;
}

/** Adds --config, --set, --seed and --backend to a command. */
export function withConfigOptions<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('config', { type: 'string', describe: 'JSON config file (may "extends" another)' })
    .option('set', { type: 'string', array: true, describe: 'override a config key, e.g. --set train.lr=0.001 (repeatable)' })
    .option('seed', { type: 'number', describe: 'random seed (config key: seed)' })
    .option('backend', {
      type: 'string',
      choices: ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'],
      describe: 'compute backend (config key: backend)',
    }) as unknown as Argv<T & CommonArgs>;
}

/**
 * Resolves the config from --config, --set and named flags. `flags` maps dotted config
 * keys to the value of the flag that sets them (undefined = flag not given).
 */
export function configFromArgs(args: CommonArgs, flags: Record<string, unknown> = {}): Config {
  return resolveConfig({
    file: args.config ?? null,
    set: args.set ?? [],
    flags: { seed: args.seed, backend: args.backend, ...flags },
  });
}

/** "WIDTHxHEIGHT" -> [height, width] (config order), with a one-line error naming the flag. */
export function parseWxH(flag: string, v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(String(v).trim());
  if (!m) throw new UsageError(`${flag} ${v}: expected WIDTHxHEIGHT, e.g. ${flag} 256x256`);
  return [Number(m[2]), Number(m[1])];
}

/** Placeholder handler for commands whose issue has not landed yet. */
export function notYet(what: string, issue: number): () => never {
  return () => {
    throw new UsageError(`${what} is not implemented yet (tracked in issue #${issue})`);
  };
}
