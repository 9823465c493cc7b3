/** `portraitseg distill student`: a thin wrapper over src/distill/student.ts. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { checkRunArgs, configFromArgs, CommonArgs, parseWxH, RunArgs, runFlags, runWithSignals, UsageError, withConfigOptions, withRunOptions } from '../common';
import { selectBackend } from '../../backend';

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
    const teachers = (a.teacher ?? []).map((t) => parseModelOptions('--teacher', t));
    const first = teachers[0];
    const external = a['input-size'] !== undefined || a['input-range'] !== undefined || a.output !== undefined || (first !== undefined && hasInputOptions(first));
    for (const [flag, p] of [...teachers.map((t) => ['--teacher', t.path] as const), ['--data', a.data], ['--resume', a.resume], ['--init', a.init]] as const) {
      if (p && !fs.existsSync(p) && !(flag === '--data' && /^[a-z0-9_-]+$/i.test(p))) throw new UsageError(`${flag} ${p}: not found`);
    }
    const flags = {
      seed: a.seed,
      backend: a.backend,
      ...runFlags(a),
      'distill.teacher': first?.path,
      'distill.teachers': teachers.length > 1 ? teachers.slice(1).map((t) => ({ ...t, path: path.resolve(t.path) })) : undefined,
      'distill.teacherFlip': a['teacher-flip'],
      'data.unlabeled': a.unlabeled,
      'model.name': a.student,
      'external.inputSize': first?.inputSize ?? (a['input-size'] !== undefined ? parseSize('--input-size', a['input-size']) : undefined),
      'external.inputRange': first?.inputRange ?? a['input-range'],
      'external.output': first?.output ?? a.output,
    };
    await runWithSignals(async ({ log, signal }) => {
      const r = await distillStudent({
        sources: { file: a.config ?? null, set: a.set ?? [], flags },
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
      return { summary, interrupted: r.stopReason === 'interrupted' };
    });
  },
};

interface CompareArgs extends CommonArgs {
  model?: string[];
  data?: string;
  val?: string;
  out?: string;
}

/** "label=path" -> {label, spec}; a bare path is labelled by its folder name. */
export function parseModelSpec(v: string): { label: string; spec: string } {
  const i = v.indexOf('=');
  if (i > 0) return { label: v.slice(0, i), spec: v.slice(i + 1) };
  return { label: path.basename(v.replace(/[/\\]+$/, '')), spec: v };
}

const compareCommand: CommandModule<CommonArgs, CompareArgs> = {
  command: 'compare',
  describe: 'the teacher / labels-only student / distilled student table, by eval on the same held-out split',
  builder: (y) =>
    withConfigOptions(y as Argv<CommonArgs>)
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'LABEL=RUN_DIR|model.json, repeatable; the first is the reference (the teacher)' })
      .option('data', { type: 'string', describe: 'labeled data; its seeded data.valFraction split is the held-out set (config key: data.path)' })
      .option('val', { type: 'string', describe: 'explicit held-out set instead of the split (config key: data.val)' })
      .option('out', { type: 'string', describe: 'write the markdown table here (and LABEL rows as JSON beside it)' })
      .example('$0 distill compare --model teacher=runs/teacher --model labels-only=runs/student-labels --model distilled=runs/student --data DIR', '')
      .check((a) => {
        if (!a.data && !a.val) throw new UsageError('distill compare: give --data DIR (its held-out split is used) or --val DIR');
        return true;
      }) as unknown as Argv<CompareArgs>,
  handler: async (a) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { compareModels, formatTable, heldOutRefs } = require('../../distill/compare') as typeof import('../../distill/compare');
    const models = (a.model ?? []).map(parseModelSpec);
    for (const m of models) if (!fs.existsSync(m.spec)) throw new UsageError(`--model ${m.label}=${m.spec}: not found`);
    const cfg = configFromArgs(a, { 'data.path': a.data, 'data.val': a.val });
    const log = (l: string) => process.stderr.write(l + '\n');
    await selectBackend(cfg.backend, log);
    const refs = await heldOutRefs(cfg);
    log(`held-out: ${refs.length} labeled images`);
    const rows = await compareModels(models, refs, cfg, log);
    const table = formatTable(rows);
    process.stdout.write(table);
    if (a.out) {
      fs.mkdirSync(path.dirname(path.resolve(a.out)), { recursive: true });
      fs.writeFileSync(a.out, table);
      fs.writeFileSync(a.out.replace(/\.md$/, '') + '.json', JSON.stringify({ heldOut: refs.length, rows }, null, 2) + '\n');
    }
  },
};

export const distillCommand: CommandModule = {
  command: 'distill <what>',
  describe: 'distill a student from a teacher',
  builder: (y) => y.command(studentCommand as unknown as CommandModule).command(compareCommand as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};
