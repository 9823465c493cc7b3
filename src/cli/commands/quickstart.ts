/**
 * `portraitseg quickstart`: the whole pipeline on the embedded synthetic default, end to end:
 * synthesize data -> inspect -> augmentation preview -> train teacher -> distill student ->
 * eval both -> export the student (tfjs + ONNX, parity-checked) -> blur a sample image.
 * Each step is the real CLI command, so the quick start exercises exactly what users run.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { RECIPES, UsageError } from '../common';

interface QuickstartArgs {
  out: string;
  images: number;
  count: number;
  seed: number;
  backend?: string;
  fast: boolean;
  verbose?: boolean;
}

interface Step {
  title: string;
  argv: string[];
}

export function quickstartSteps(a: QuickstartArgs): Step[] {
  const o = (p: string) => path.join(a.out, p);
  const backend = a.backend ? ['--backend', a.backend] : [];
  const seed = ['--seed', String(a.seed)];
  const teacherImages = String(a.images);
  const studentImages = String(a.images);
  return [
    { title: 'synthesize a labeled portrait dataset', argv: ['data', 'synth', '--out', o('data/train'), '--count', String(a.count), '--seed', String(a.seed), '--size', '128x128', '--unlabeled', String(Math.round(a.count / 2))] },
    { title: 'synthesize a held-out set', argv: ['data', 'synth', '--out', o('data/val'), '--count', String(Math.max(16, Math.round(a.count / 5))), '--seed', String(a.seed + 1000), '--size', '256x256'] },
    { title: 'inspect it (counts, coverage, contact sheet)', argv: ['data', 'inspect', '--data', o('data/train'), '--out', o('inspect'), ...seed] },
    { title: 'augmentation preview', argv: ['augment', 'preview', '--data', o('data/train'), '--out', o('augment-preview.png'), '--count', '12', ...seed] },
    {
      title: 'train the teacher (unet_teacher_s)',
      argv: ['train', 'teacher', '--config', RECIPES.teacher, '--data', o('data/train'), '--val', o('data/val'), '--out', o('teacher'), '--images', teacherImages, ...seed, ...backend, '--set', `train.evalEvery=${Math.max(200, Math.round(a.images / 4))}`, '--set', `train.checkpointEvery=${Math.max(200, Math.round(a.images / 4))}`],
    },
    {
      title: 'distill the student (mnv2_student_s, labeled + unlabeled images)',
      argv: ['distill', 'student', '--config', RECIPES.student, '--teacher', o('teacher'), '--data', o('data/train'), '--val', o('data/val'), '--unlabeled', o('data/train/unlabeled/images'), '--out', o('student'), '--images', studentImages, ...seed, ...backend, '--set', `train.evalEvery=${Math.max(200, Math.round(a.images / 4))}`, '--set', `train.checkpointEvery=${Math.max(200, Math.round(a.images / 4))}`],
    },
    { title: 'evaluate the teacher', argv: ['eval', '--model', o('teacher'), '--data', o('data/val'), '--report', o('eval-teacher.json'), ...backend] },
    { title: 'evaluate the student', argv: ['eval', '--model', o('student'), '--data', o('data/val'), '--report', o('eval-student.json'), '--overlays', o('overlays-student'), ...backend] },
    { title: 'export the student for the browser (tfjs)', argv: ['export', '--model', o('student'), '--format', 'tfjs', '--out', o('export/tfjs')] },
    { title: 'export the student for mobile (ONNX)', argv: ['export', '--model', o('student'), '--format', 'onnx', '--out', o('export/onnx')] },
    { title: 'blur the background of a sample image with the exported student', argv: ['blur', '--model', o('export/tfjs'), '--input', o('data/val/images/0000.jpg'), '--output', o('blurred.png'), ...backend] },
  ];
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
    const a = { ...args };
    if (a.fast) {
      a.images = Math.min(a.images, 16);
      a.count = Math.min(a.count, 12);
    }
    if (a.images < 1 || a.count < 4) throw new UsageError('quickstart: --images must be >= 1 and --count >= 4');
    fs.mkdirSync(a.out, { recursive: true });
    // Late import: index.ts imports this module through the command table.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildParser } = require('../index') as typeof import('../index');
    const steps = quickstartSteps(a);
    const t0 = Date.now();
    for (const [i, step] of steps.entries()) {
      const ts = Date.now();
      process.stderr.write(`\n=== [${i + 1}/${steps.length}] ${step.title}\n$ portraitseg ${step.argv.join(' ')}\n`);
      await buildParser([...step.argv, ...(a.verbose ? ['--verbose'] : [])]).parseAsync();
      process.stderr.write(`--- done in ${((Date.now() - ts) / 1000).toFixed(1)} s\n`);
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    process.stdout.write(
      [
        '',
        `quickstart finished in ${secs} s. Look at:`,
        `  ${path.join(a.out, 'inspect')}/            dataset report and contact sheet`,
        `  ${path.join(a.out, 'augment-preview.png')}  augmentation preview`,
        `  ${path.join(a.out, 'teacher/curves.png')}   teacher training curves`,
        `  ${path.join(a.out, 'eval-teacher.json')} / eval-student.json  held-out metrics`,
        `  ${path.join(a.out, 'export/')}              the student for the browser (tfjs) and mobile (ONNX)`,
        `  ${path.join(a.out, 'blurred.png')}          a background blurred by the exported student`,
        '',
      ].join('\n'),
    );
  },
};
