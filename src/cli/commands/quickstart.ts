/**
 * `portraitseg quickstart`: the whole pipeline on synthetic data, end to end (src/recipes/quickstart.ts):
 * synthesize data -> inspect -> augmentation preview -> train teacher -> distill student ->
 * eval both -> export the student (tfjs + ONNX, parity-checked) -> blur a sample image.
 */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import type { BackendName } from '../../config/config';
import { runWithSignals, UsageError } from '../common';

interface QuickstartArgs {
  out: string;
  images: number;
  count: number;
  seed: number;
  backend?: string;
  fast: boolean;
  verbose?: boolean;
}

/** The flags as the library's options: --fast caps the run at a smoke test's size. */
export function quickstartOptions(args: QuickstartArgs): { out: string; images: number; count: number; seed: number; backend?: BackendName } {
  const images = args.fast ? Math.min(args.images, 16) : args.images;
  const count = args.fast ? Math.min(args.count, 12) : args.count;
  if (!(images >= 1) || !(count >= 4)) throw new UsageError('quickstart: --images must be >= 1 and --count >= 4');
  return { out: args.out, images, count, seed: args.seed, backend: args.backend as BackendName | undefined };
}

export const quickstartCommand: CommandModule<object, QuickstartArgs> = {
  command: 'quickstart',
  describe: 'run the whole pipeline on the embedded synthetic default (data -> train -> distill -> eval -> export -> blur)',
  builder: (y) =>
    (y as Argv)
      .option('out', { type: 'string', default: 'runs/quickstart', describe: 'folder for everything the quick start writes' })
      .option('images', { type: 'number', default: 1200, describe: 'training length (images seen) for the teacher and for the student' })
      .option('count', { type: 'number', default: 400, describe: 'synthetic training images' })
      .option('seed', { type: 'number', default: 42, describe: 'random seed' })
      .option('backend', { type: 'string', choices: ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'], describe: 'compute backend' })
      .option('fast', { type: 'boolean', default: false, describe: 'a tiny smoke run (for tests): few images, few steps' })
      .example('$0 quickstart', 'about 10 minutes on a 2-core laptop')
      .example('$0 quickstart --fast', 'a one-minute smoke run') as unknown as Argv<QuickstartArgs>,
  handler: async (args) => {
    const o = quickstartOptions(args);
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runQuickstart } = require('../../recipes/quickstart') as typeof import('../../recipes/quickstart');
    await runWithSignals(async ({ log, signal }) => {
      const r = await runQuickstart({ ...o, log, signal });
      const at = (p: string) => path.join(o.out, p);
      const summary = r.interrupted
        ? `quickstart interrupted after ${r.seconds.toFixed(0)} s; what it wrote is under ${o.out}\n`
        : [
            '',
            `quickstart finished in ${r.seconds.toFixed(0)} s. Look at:`,
            `  ${at('inspect')}/            dataset report and contact sheet`,
            `  ${at('augment-preview.png')}  augmentation preview`,
            `  ${at('teacher/curves.png')}   teacher training curves`,
            `  ${at('eval-teacher.json')} / eval-student.json  held-out metrics`,
            `  ${at('export/')}              the student for the browser (tfjs) and mobile (ONNX)`,
            `  ${at('blurred.png')}          a background blurred by the exported student`,
            '',
          ].join('\n');
      return { summary, interrupted: r.interrupted };
    });
  },
};
