/** `portraitseg train teacher`: a thin wrapper over src/recipes/teacher.ts. */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { checkRunArgs, CommonArgs, describeRun, RunArgs, runFlags, runWithSignals, withRunOptions } from '../common';

/** The recipe a fresh run starts from (a --config sits on top of it). */
export const DEFAULT_TEACHER_CONFIG = path.resolve(__dirname, '../../../configs/teacher.json');

interface TeacherArgs extends RunArgs {
  model?: string;
}

/** Pure check of flag combinations: the rule of every run command (src/cli/common.ts). */
export const checkTeacherArgs = (a: TeacherArgs): true => checkRunArgs(a, { model: a.model });

const teacherCommand: CommandModule<CommonArgs, TeacherArgs> = {
  command: 'teacher',
  describe: 'train a teacher segmentation model on labeled portraits',
  builder: (y) =>
    withRunOptions(y as Argv<CommonArgs>, 'teacher')
      .option('model', { type: 'string', describe: 'model name from the registry (config key: model.name)' })
      .example('$0 train teacher --data ../shared/datasets/picsart-selfies --backgrounds ../shared/datasets/backgrounds --out runs/teacher', '')
      .example('$0 train teacher --data runs/synth --images 2000 --set train.lr=0.002', '')
      .example('$0 train teacher --resume runs/teacher --images 20000', '')
      .example('$0 train teacher --init runs/teacher --config configs/finetune.json --data my-photos --out runs/finetuned', '')
      .check((a) => checkTeacherArgs(a as TeacherArgs)) as unknown as Argv<TeacherArgs>,
  handler: async (a) => {
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { trainTeacher } = require('../../recipes/teacher') as typeof import('../../recipes/teacher');
    await runWithSignals(async ({ log, signal }) => {
      const run = await trainTeacher({
        sources: { file: a.config ?? null, set: a.set ?? [], flags: { seed: a.seed, backend: a.backend, ...runFlags(a), 'model.name': a.model } },
        out: a.out,
        resume: a.resume,
        log,
        signal,
      });
      run.model.dispose();
      const d = run.config.data;
      return { summary: describeRun(run, `--data ${d.path}${d.val ? '' : ' --split val'}`), interrupted: run.result.stopReason === 'interrupted' };
    });
  },
};

export const trainCommand: CommandModule = {
  command: 'train <what>',
  describe: 'train a teacher model',
  builder: (y) => y.command(teacherCommand as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};
