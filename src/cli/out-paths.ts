/**
 * The output rule (src/util/out-paths.ts) for the commands: checked before any work, so a bad
 * output costs one line (exit 2), not a raw EEXIST / EISDIR / ENOTDIR after minutes of computing,
 * and never an input or an unrelated file overwritten. `--overwrite` is declared here once.
 */
import type { Argv } from 'yargs';
import { UsageError } from './common';
import { checkOutput, CheckedOutput, OutputPathError, OutputRequest } from '../util/out-paths';

export { ARTEFACTS } from '../util/out-paths';
export type { InputPath } from '../util/out-paths';

export interface OverwriteArgs {
  overwrite?: boolean;
}

/** Adds `--overwrite`: replace an existing output of the same kind (`what`), written whole. */
export function withOverwrite<T>(y: Argv<T>, what: string): Argv<T & OverwriteArgs> {
  return y.option('overwrite', {
    type: 'boolean',
    default: false,
    describe: `replace an existing ${what} (only that kind of output; never an input). Without it an existing, non-empty output is refused`,
  }) as unknown as Argv<T & OverwriteArgs>;
}

/** checkOutput with the CLI's error type: one line naming the flag, exit 2. */
export function checkOut(req: OutputRequest): CheckedOutput {
  try {
    return checkOutput(req);
  } catch (e) {
    if (e instanceof OutputPathError) throw new UsageError(e.message);
    throw e;
  }
}
