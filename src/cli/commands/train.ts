/** `portraitseg train teacher`: a thin wrapper over src/train/teacher.ts. */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { configFromArgs, CommonArgs, UsageError, withConfigOptions } from '../common';
import { resolveConfig } from '../../config/load';

/** The recipe used when no --config is given. */
export const DEFAULT_TEACHER_CONFIG = path.resolve(__dirname, '../../../configs/teacher.json');

interface TeacherArgs extends CommonArgs {
  data?: string;
  val?: string;
  out?: string;
  resume?: string;
  images?: number;
  batch?: number;
  model?: string;
  backgrounds?: string;
}

/** Pure check of flag combinations. */
export function checkTeacherArgs(a: TeacherArgs): true {
  if (a.resume && (a.model || a.config || a.data || a.out)) {
    throw new UsageError('--resume continues a run with its own saved config and data: drop --model/--config/--data/--out (e.g. portraitseg train teacher --resume runs/teacher --images 20000)');
  }
  return true;
}

function flagsOf(a: TeacherArgs): Record<string, unknown> {
  return {
    'data.path': a.data,
    'data.val': a.val,
    'train.images': a.images,
    'train.batchSize': a.batch,
    'model.name': a.model,
    'data.backgrounds': a.backgrounds,
  };
}

const teacherCommand: CommandModule<CommonArgs, TeacherArgs> = {
  command: 'teacher',
  describe: 'train a teacher segmentation model on labeled portraits',
  builder: (y) =>
    withConfigOptions(y as Argv<CommonArgs>)
      .option('data', { type: 'string', describe: 'labeled data: folder, list file, datasets/*.json or a known name (config key: data.path)' })
      .option('val', { type: 'string', describe: 'validation set; default a seeded data.valFraction split of --data (config key: data.val)' })
      .option('out', { type: 'string', describe: 'run folder to create (default runs/teacher-<model>-<time>)' })
      .option('resume', { type: 'string', describe: 'continue a run from its folder (last checkpoint) or a checkpoint folder, bit-for-bit' })
      .option('images', { type: 'number', describe: 'training length in images seen (config key: train.images)' })
      .option('batch', { type: 'number', describe: 'batch size (config key: train.batchSize)' })
      .option('model', { type: 'string', describe: 'model name from the registry (config key: model.name)' })
      .option('backgrounds', { type: 'string', describe: 'background photos for background-swap augmentation (config key: data.backgrounds)' })
      .example('$0 train teacher --data ../shared/datasets/picsart-selfies --backgrounds ../shared/datasets/backgrounds --out runs/teacher', '')
      .example('$0 train teacher --data runs/synth --images 2000 --set train.lr=0.002', '')
      .example('$0 train teacher --resume runs/teacher --images 20000', '')
      .check((a) => checkTeacherArgs(a as TeacherArgs)) as unknown as Argv<TeacherArgs>,
  handler: async (a) => {
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { trainTeacher, readRunConfig, abortOnSigint } = require('../../train/teacher') as typeof import('../../train/teacher');
    const cfg = a.resume
      ? resolveConfig({ base: readRunConfig(a.resume), set: a.set ?? [], flags: { seed: a.seed, backend: a.backend, ...flagsOf(a) } })
      : configFromArgs({ ...a, config: a.config ?? DEFAULT_TEACHER_CONFIG }, flagsOf(a));
    if (!cfg.data.path) throw new UsageError('train teacher: --data DIR is required (e.g. portraitseg train teacher --data ../shared/datasets/picsart-selfies --out runs/teacher)');
    const log = (l: string) => process.stderr.write(l + '\n');
    const ac = new AbortController();
    const off = abortOnSigint(ac, log);
    try {
      const run = await trainTeacher({ config: cfg, out: a.out, resume: a.resume, log, signal: ac.signal });
      const best = run.result.state.bestScore;
      process.stdout.write(
        `run folder: ${path.relative(process.cwd(), run.runDir) || '.'}\n` +
          `  ${run.result.stopReason}: ${run.result.state.imagesSeen} images in ${run.result.seconds.toFixed(0)} s` +
          (best !== null ? `, best val mIoU ${best.toFixed(4)} (step ${run.result.state.bestStep})` : '') +
          '\n' +
          `  files: config.json metrics.jsonl curves.png last/ best/\n` +
          `  evaluate: portraitseg eval --model ${path.relative(process.cwd(), run.runDir)} --data ${cfg.data.path}${cfg.data.val ? '' : ' --split val'}\n`,
      );
      // Ctrl-C: the checkpoint is saved; exit like an interrupted program (128 + SIGINT).
      if (run.result.stopReason === 'interrupted') process.exitCode = 130;
    } finally {
      off();
    }
  },
};

export const trainCommand: CommandModule = {
  command: 'train <what>',
  describe: 'train a teacher model',
  builder: (y) => y.command(teacherCommand as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};
