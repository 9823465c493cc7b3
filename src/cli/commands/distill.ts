/** `portraitseg distill student`: a thin wrapper over src/distill/student.ts. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { checkRunArgs, configFromArgs, CommonArgs, defaultRecipe, parseWxH, RunArgs, runFlags, runWithSignals, UsageError, withConfigOptions, withRunOptions } from '../common';
import { selectBackend } from '../../backend';
import { writeFileAtomic } from '../../util/fs';
import { validationSummary } from '../../train/callbacks';
import { ARTEFACTS, checkOut, OverwriteArgs, withOverwrite } from '../out-paths';

/** The recipe a fresh run starts from (a --config sits on top of it). */
export const DEFAULT_DISTILL_CONFIG = path.resolve(__dirname, '../../../configs/distill.json');

interface StudentArgs extends RunArgs {
  teacher?: string[];
  'teacher-flip'?: boolean;
  unlabeled?: string[];
  student?: string;
  'input-size'?: string;
  'input-range'?: string;
  output?: string;
}

/** "WxH" -> [H, W] (config order); the shared parser, kept under this name for callers. */
export const parseSize = parseWxH;

/** Pure check of flag combinations: the rule of every run command (src/cli/common.ts). */
export const checkStudentArgs = (a: StudentArgs): true => checkRunArgs(a, { student: a.student });

const studentCommand: CommandModule<CommonArgs, StudentArgs> = {
  command: 'student',
  describe: 'distill a small student from a frozen teacher (our run or an external TensorFlow.js model)',
  builder: (y) =>
    withRunOptions(y as Argv<CommonArgs>, 'student')
      .option('teacher', { type: 'string', array: true, describe: 'teacher: run folder, checkpoint folder, imported model folder or model.json (config key: distill.teacher); repeat for an ensemble (mean P(person); config key: distill.teachers); per teacher: PATH,inputSize=WxH,inputRange=0..1,output=sigmoid' })
      .option('teacher-flip', { type: 'boolean', describe: 'horizontal-flip test-time augmentation of the teacher(s) (config key: distill.teacherFlip)' })
      .option('unlabeled', { type: 'string', array: true, describe: 'unlabeled image folder(s), labeled on the fly by the teacher (config key: data.unlabeled)' })
      .option('student', { type: 'string', describe: 'student model name (config key: model.name; default from configs/distill.json: mnv2_student_s)' })
      .option('input-size', { type: 'string', describe: 'external teacher: input size WxH (config key: external.inputSize)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'external teacher: input value range (config key: external.inputRange)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits'], describe: 'external teacher: what its output is (config key: external.output)' })
      .example('$0 distill student --teacher runs/teacher --data ../shared/datasets/picsart-selfies --unlabeled ../shared/datasets/picsart-selfies-unlabeled --out runs/student', '')
      .example('$0 distill student --teacher runs/teacher --teacher runs/selfie --teacher-flip --data DIR --out runs/student', '')
      .example('$0 distill student --resume runs/student --images 20000', '')
      .check((a) => checkStudentArgs(a as StudentArgs)) as unknown as Argv<StudentArgs>,
  handler: async (a) => {
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { distillStudent } = require('../../recipes/student') as typeof import('../../recipes/student');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseModelOptions, hasInputOptions } = require('../../eval/tta') as typeof import('../../eval/tta');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { absoluteSpec, isPackagedName } = require('../../models/import/packaged') as typeof import('../../models/import/packaged');
    const teachers = (a.teacher ?? []).map((t) => parseModelOptions('--teacher', t));
    const first = teachers[0];
    const external = a['input-size'] !== undefined || a['input-range'] !== undefined || a.output !== undefined || (first !== undefined && hasInputOptions(first));
    for (const [flag, p] of [...teachers.map((t) => ['--teacher', t.path] as const), ['--data', a.data], ['--resume', a.resume], ['--init', a.init]] as const) {
      if (p && !fs.existsSync(p) && !(flag === '--data' && /^[a-z0-9_-]+$/i.test(p)) && !((flag === '--teacher' || flag === '--init') && isPackagedName(p))) throw new UsageError(`${flag} ${p}: not found`);
    }
    const flags = {
      seed: a.seed,
      backend: a.backend,
      ...runFlags(a),
      'distill.teacher': first?.path,
      // --teacher replaces the recipe's teachers: the ensemble is exactly the ones given
      'distill.teachers': teachers.length > 0 ? teachers.slice(1).map((t) => ({ ...t, path: absoluteSpec(t.path) })) : undefined,
      'distill.teacherFlip': a['teacher-flip'],
      'data.unlabeled': a.unlabeled,
      'model.name': a.student,
      'external.inputSize': first?.inputSize ?? (a['input-size'] !== undefined ? parseSize('--input-size', a['input-size']) : undefined),
      'external.inputRange': first?.inputRange ?? a['input-range'],
      'external.output': first?.output ?? a.output,
    };
    const recipe = defaultRecipe('student', a, { student: a.student });
    await runWithSignals(async ({ log, signal }) => {
      if (recipe) log(recipe.line);
      const r = await distillStudent({
        sources: { file: a.config ?? recipe?.file ?? null, set: a.set ?? [], flags },
        teacher: first?.path ?? null,
        out: a.out,
        resume: a.resume ?? null,
        externalTeacher: external ? true : undefined,
        log,
        signal,
      });
      r.model.dispose();
      const rate = r.seconds > 0 ? (r.state.imagesSeen / r.seconds).toFixed(2) : '?';
      const summary =
        `${r.cache.misses + r.cache.hits > 0 ? `distilled ${r.meta.name} from ${r.teacher}` : `trained ${r.meta.name} (teacher: ${r.teacher})`}: ${r.state.imagesSeen} images in ${r.seconds.toFixed(1)} s (${rate} img/s overall)` +
        `${r.state.bestScore !== null ? `, best val mIoU ${r.state.bestScore.toFixed(4)}` : ''}; teacher rows cached ${r.cache.hits}, computed ${r.cache.misses}\n` +
        `run folder: ${r.runDir} (best/, last/, metrics.jsonl, curves.png)\n`;
      const v = validationSummary(r.state, r.lastEval?.miou ?? null);
      return { summary: v ? summary + `${v}\n` : summary, interrupted: r.stopReason === 'interrupted' };
    });
  },
};

interface CompareArgs extends CommonArgs, OverwriteArgs {
  model?: string[];
  data?: string;
  val?: string[];
  out?: string;
}

/** The rows JSON written beside a compare table: table.md -> table.json. */
export function compareJsonPath(out: string): string {
  return out.replace(/\.md$/, '') + '.json';
}

/** "label=path" -> {label, spec}; a bare path is labelled by its folder name. */
export function parseModelSpec(v: string): { label: string; spec: string } {
  const i = v.indexOf('=');
  if (i > 0) return { label: v.slice(0, i), spec: v.slice(i + 1) };
  return { label: path.basename(v.replace(/[/\\]+$/, '')), spec: v };
}

const compareCommand: CommandModule<CommonArgs, CompareArgs> = {
  command: 'compare',
  describe: 'one table of teacher, students and baselines: params, GFLOPs, ms/frame, mIoU and boundary F on each held-out set, stability, training wall time',
  builder: (y) =>
    withOverwrite(withConfigOptions(y as Argv<CommonArgs>), 'compare table and its rows JSON (written by distill compare)')
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'LABEL=SPEC[+SPEC...][,flip], repeatable; SPEC: run/model folder, mediapipe:selfie, a .tflite file; + averages an ensemble, ,flip adds flip TTA; the first row is the reference' })
      .option('data', { type: 'string', describe: 'labeled data: its seeded data.valFraction split is one held-out set (config key: data.path)' })
      .option('val', { type: 'string', array: true, describe: 'held-out set LABEL=DIR (or DIR), repeatable; listed before the --data split' })
      .option('out', { type: 'string', describe: 'write the markdown table to this file (and the rows as JSON beside it: NAME.json), outside the inputs' })
      .example('$0 distill compare --model selfie=mediapipe:selfie --model teacher=mediapipe:selfie+mediapipe:selfie-landscape,flip --model distilled=runs/student --val eg1800=../shared/datasets/eg1800-val --data ../shared/datasets/picsart-selfies', '')
      .check((a) => {
        if (!a.data && !(a.val && a.val.length)) throw new UsageError('distill compare: give --val DIR and/or --data DIR (its held-out split is used)');
        return true;
      }) as unknown as Argv<CompareArgs>,
  handler: async (a) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { compareModels, formatTable, heldOutRefs, parseCompareSpec } = require('../../distill/compare') as typeof import('../../distill/compare');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { needsImport } = require('../../models/import/packaged') as typeof import('../../models/import/packaged');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openDataset } = require('../../data/dataset') as typeof import('../../data/dataset');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
    const models = (a.model ?? []).map(parseCompareSpec);
    for (const m of models) for (const p of m.members) if (!needsImport(p) && !fs.existsSync(p)) throw new UsageError(`--model ${m.label}: ${p}: not found`);
    const vals = (a.val ?? []).map(parseModelSpec);
    for (const v of vals) if (!fs.existsSync(v.spec)) throw new UsageError(`--val ${v.spec}: not found`);
    // the table and its JSON: checked before any work, never onto or inside a held-out set or a model
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { datasetInputs } = require('../../data/dataset') as typeof import('../../data/dataset');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { modelInputs } = require('../../models/folders') as typeof import('../../models/folders');
    const inputs = [...vals.flatMap((v) => datasetInputs('--val', v.spec)), ...datasetInputs('--data', a.data), ...models.flatMap((m) => m.members.flatMap((p) => modelInputs('--model', p)))];
    const outs = a.out
      ? [checkOut({ flag: '--out', path: a.out, artefact: ARTEFACTS.compareTable, overwrite: a.overwrite, inputs }), checkOut({ flag: '--out', path: compareJsonPath(a.out), artefact: ARTEFACTS.compareRows, overwrite: a.overwrite, inputs })]
      : null;
    // every row runs in tfjs on the chosen backend, so ms/frame compares like with like
    const cfg = configFromArgs(a, { 'data.path': a.data, 'runtime.frozen': 'tfjs' });
    const log = (l: string) => process.stderr.write(l + '\n');
    await selectBackend(cfg.backend, log);
    const sets = [];
    for (const v of vals) sets.push({ label: v.label, refs: (await openDataset(v.spec, { labeled: true })).refs });
    if (a.data) sets.push({ label: `${path.basename(a.data.replace(/[/\\]+$/, ''))}-val`, refs: await heldOutRefs({ ...cfg, data: { ...cfg.data, val: null } }) });
    log(`held-out: ${sets.map((s) => `${s.label} ${s.refs.length} images`).join(', ')}; backend ${tf.getBackend()}`);
    const rows = await compareModels(models, sets, cfg, log);
    const table = formatTable(rows);
    process.stdout.write(table);
    if (outs) {
      fs.mkdirSync(path.dirname(outs[0].target), { recursive: true });
      writeFileAtomic(outs[0].target, table);
      writeFileAtomic(outs[1].target, JSON.stringify({ sets: sets.map((s) => ({ label: s.label, count: s.refs.length })), backend: tf.getBackend(), rows }, null, 2) + '\n');
    }
  },
};

export const distillCommand: CommandModule = {
  command: 'distill <what>',
  describe: 'distill a student from a teacher',
  builder: (y) => y.command(studentCommand as unknown as CommandModule).command(compareCommand as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};
