/**
 * Parses a command line with the real CLI parser (strict flags, choices, required options and
 * each command's own `.check()`), with every handler replaced by one that records what it got:
 * a dry run that reads no file and loads no model. Used to hold documented command lines and the
 * quick start's printed steps against the CLI.
 */
import type { Argv, CommandModule } from 'yargs';
import { buildParser } from '../../src/cli';
import { commands } from '../../src/cli/commands';

class DryRun extends Error {
  constructor(readonly command: string[]) {
    super('dry run');
  }
}

/** A yargs instance whose `.command(m)` registers a dry copy of m (chained calls stay wrapped). */
function dryYargs(y: Argv): Argv {
  const proxy: Argv = new Proxy(y, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (key === 'command' && typeof args[0] === 'object' && args[0] !== null) args[0] = dryCommand(args[0] as CommandModule);
        const r = v.apply(target, args);
        return r === target ? proxy : r;
      };
    },
  });
  return proxy;
}

function dryCommand(c: CommandModule): CommandModule {
  const builder = c.builder;
  return {
    ...c,
    builder: typeof builder === 'function' ? (y: Argv) => builder(dryYargs(y)) : builder,
    handler: (a) => {
      throw new DryRun(a._.map(String));
    },
  };
}

/**
 * The command a command line reaches (`['data', 'inspect']`), or the one-line error the CLI
 * would print for it (`Unknown argument: sheet`). `argv` is what follows `portraitseg`.
 */
export async function dryParse(argv: string[]): Promise<{ command: string[] } | { error: string }> {
  try {
    await buildParser(argv, commands.map(dryCommand)).exitProcess(false).parseAsync();
  } catch (e) {
    if (e instanceof DryRun) return { command: e.command };
    return { error: (e as Error).message };
  }
  return { error: 'no command handler ran (e.g. --help or --version)' };
}
