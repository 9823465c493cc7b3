/** `portraitseg train teacher`: a thin wrapper over src/recipes/teacher.ts. */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import * as fs from 'fs';
import { checkRunArgs, CommonArgs, defaultRecipe, describeRun, UsageError, RunArgs, runFlags, runWithSignals, withRunOptions } from '../common';


interface TeacherArgs extends RunArgs {
  model?: string;
  unlabeled?: string[];
}

/** Pure check of flag combinations: the rule of every run command (src/cli/common.ts). */
export const checkTeacherArgs = (a: TeacherArgs): true => checkRunArgs(a, { model: a.model });

const teacherCommand: CommandModule<CommonArgs, TeacherArgs> = {
  command: 'teacher',
  describe: 'train a teacher segmentation model on labeled portraits',
  builder: (y) =>
    withRunOptions(y as Argv<CommonArgs>, 'teacher')
      .option('model', { type: 'string', describe: 'model name from the registry (config key: model.name)' })
      .option('unlabeled', { type: 'array', string: true, describe: 'unlabeled image folder(s), taught by the frozen teacher of a recipe that has one (the pretrained default; config key: data.unlabeled)' })
      .example('$0 train teacher --data ../shared/datasets/picsart-selfies --backgrounds ../shared/datasets/backgrounds --out runs/teacher', '')
      .example('$0 train teacher --data runs/synth --images 2000 --set train.lr=0.002', '')
      .example('$0 train teacher --resume runs/teacher --images 20000', '')
      .example('$0 train teacher --init runs/teacher --config configs/finetune.json --data my-photos --out runs/finetuned', '')
      .check((a) => checkTeacherArgs(a as TeacherArgs)) as unknown as Argv<TeacherArgs>,
  handler: async (a) => {
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { trainTeacher } = require('../../recipes/teacher') as typeof import('../../recipes/teacher');
    const recipe = defaultRecipe('teacher', a, { model: a.model });
    const file = a.config ?? recipe?.file ?? null;
    await runWithSignals(async ({ log, signal }) => {
      if (recipe) log(recipe.line);
      const sources = { file, set: a.set ?? [], flags: { seed: a.seed, backend: a.backend, ...runFlags(a), 'model.name': a.model, 'data.unlabeled': a.unlabeled } };
      // A teacher recipe that learns from a frozen model beside the labels (learning without
      // forgetting: configs/teacher-finetune.json) runs on the distillation loop.
      if (file ? recipeHasTeacher(file) : runHasTeacher(a.resume!)) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { distillStudent } = require('../../recipes/student') as typeof import('../../recipes/student');
        if (!a.resume) log(`train teacher: ${path.relative(process.cwd(), file!) || file} learns from a frozen teacher beside the labels (distill.*): it runs on the distillation loop`);
        const r = await distillStudent({ sources, out: a.out, kind: 'teacher', resume: a.resume ?? null, log, signal });
        r.model.dispose();
        return { summary: describeRun({ runDir: r.runDir, result: r }, evalHint(r.config.data)), interrupted: r.stopReason === 'interrupted' };
      }
      if (a.unlabeled?.length) throw new UsageError(`--unlabeled: ${file ? path.relative(process.cwd(), file) || file : 'this run'} has no frozen teacher (distill.teacher) to label them; use the pretrained recipe (--config configs/teacher-finetune.json) or distill student`);
      const run = await trainTeacher({ sources, out: a.out, resume: a.resume, log, signal });
      run.model.dispose();
      const d = run.config.data;
      return { summary: describeRun(run, evalHint(d)), interrupted: run.result.stopReason === 'interrupted' };
    });
  },
};

/** True when a recipe file (with its `extends`) names a frozen teacher (distill.teacher / distill.teachers). */
export function recipeHasTeacher(file: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readConfigFile } = require('../../config/load') as typeof import('../../config/load');
  const d = (readConfigFile(file) as { distill?: { teacher?: unknown; teachers?: unknown[] } }).distill;
  return !!d && (!!d.teacher || (Array.isArray(d.teachers) && d.teachers.length > 0));
}

/** True when the run being resumed was made by the distillation loop with a teacher. */
function runHasTeacher(resume: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolveResume } = require('../../models/folders') as typeof import('../../models/folders');
  const f = path.join(resolveResume(resume).runDir, 'config.json');
  return fs.existsSync(f) && recipeHasTeacher(f);
}

export const trainCommand: CommandModule = {
  command: 'train <what>',
  describe: 'train a teacher model',
  builder: (y) => y.command(teacherCommand as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};

/** The held-out data to evaluate a finished run on: its --val set, else its --data's val split. */
function evalHint(d: { path: string | null; val: string | null }): string {
  return d.val ? `--data ${d.val}` : `--data ${d.path} --split val`;
}
