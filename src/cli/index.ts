/**
 * The portraitseg command line. Thin by design (principle 4 in DEVELOPERS.md): each command lives in
 * src/cli/commands/<name>.ts, parses flags and calls into the library.
 */
import yargs, { type CommandModule } from 'yargs';
import { ConfigError } from '../config/schema';
import { UsageError } from './common';
import { OutputPathError } from '../util/out-paths';
import { commands } from './commands';

/** The yargs parser of `argv`, over the command table (`table`: the same commands with other handlers, for tests). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function buildParser(argv: string[], table: CommandModule<any, any>[] = commands) {
  let y = yargs(argv)
    .scriptName('portraitseg')
    .usage('$0 <command> [options]\n\nTrain, distill, evaluate and export portrait segmentation models for background blur.')
    .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
    .strictCommands()
    .strict()
    .recommendCommands()
    .demandCommand(1, 'Give a command, e.g. `portraitseg quickstart`. See --help.')
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      if (msg && msg.startsWith('Did you mean')) throw new UsageError(`unknown command "${argv[0]}". ${msg}`);
      throw new UsageError(msg);
    });
  for (const c of table) y = y.command(c);
  return y;
}

/**
 * tfjs' cpu backend prints a one-time "install our node backend" banner (console.warn) on first
 * use; our backend choice is deliberate and logged, so the CLI drops that one message.
 */
export function muteTfjsBanner(): void {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('install our node backend')) return;
    warn(...args);
  };
}

export async function run(argv: string[]): Promise<void> {
  muteTfjsBanner();
  const verbose = argv.includes('--verbose');
  try {
    await buildParser(argv).parseAsync();
  } catch (e) {
    const err = e as Error;
    const known = err instanceof UsageError || err instanceof ConfigError || err instanceof OutputPathError;
    process.stderr.write(`portraitseg: error: ${err.message}\n`);
    if (verbose && !known) process.stderr.write(`${err.stack}\n`);
    else if (!known) process.stderr.write('(run with --verbose for the stack trace)\n');
    process.exitCode = known ? 2 : 1;
  }
}
