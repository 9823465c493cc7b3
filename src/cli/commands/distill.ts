/** `portraitseg distill student`: a thin wrapper over src/distill/student.ts. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { configFromArgs, CommonArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import type { BackendName } from '../../config/config';

/** The recipe used when no --config is given. */
export const DEFAULT_DISTILL_CONFIG = path.resolve(__dirname, '../../../configs/distill.json');

interface StudentArgs extends CommonArgs {
  teacher?: string;
  data?: string;
  val?: string;
  unlabeled?: string[];
  student?: string;
  out?: string;
  resume?: string;
  images?: number;
  batch?: number;
  backgrounds?: string;
  'input-size'?: string;
  'input-range'?: string;
  output?: string;
}

/** "WxH" -> [H, W] (config order); the shared parser, kept under this name for callers. */
export const parseSize = parseWxH;

/** The backend recorded in a run's checkpoint (state.json config), if any. */
function savedBackend(spec: string): BackendName | null {
  for (const f of [path.join(spec, 'last', 'state.json'), path.join(spec, 'state.json')]) {
    try {
      return (JSON.parse(fs.readFileSync(f, 'utf8')).config?.backend as BackendName) ?? null;
    } catch {
      /* try the next place */
    }
  }
  return null;
}

/** Pure check of flag combinations (yargs .check). */
export function checkStudentArgs(a: StudentArgs): true {
  if (!a.resume && !a.data) throw new UsageError('distill student: --data DIR is required (e.g. portraitseg distill student --teacher runs/teacher --data DIR)');
  if (a.resume && (a.student || a.config)) throw new UsageError('--resume continues a run with its own saved config: drop --student/--config');
  return true;
}

const studentCommand: CommandModule<CommonArgs, StudentArgs> = {
  command: 'student',
  describe: 'distill a small student from a frozen teacher (our run or an external TensorFlow.js model)',
  builder: (y) =>
    withConfigOptions(y as Argv<CommonArgs>)
      .option('teacher', { type: 'string', describe: 'teacher: run folder, checkpoint folder or model.json (config key: distill.teacher)' })
      .option('data', { type: 'string', describe: 'labeled data: folder, list file or datasets/*.json (config key: data.path)' })
      .option('val', { type: 'string', describe: 'validation set; default a seeded data.valFraction split of --data (config key: data.val)' })
      .option('unlabeled', { type: 'string', array: true, describe: 'unlabeled image folder(s), labeled on the fly by the teacher (config key: data.unlabeled)' })
      .option('student', { type: 'string', describe: 'student model name (config key: model.name; default from configs/distill.json: mnv2_student_s)' })
      .option('out', { type: 'string', describe: 'run folder to create (default runs/distill-<student>)' })
      .option('resume', { type: 'string', describe: 'continue a distillation run (its folder or a checkpoint)' })
      .option('images', { type: 'number', describe: 'training length in images seen (config key: train.images)' })
      .option('batch', { type: 'number', describe: 'batch size (config key: train.batchSize)' })
      .option('backgrounds', { type: 'string', describe: 'background photos for background-swap augmentation (config key: data.backgrounds)' })
      .option('input-size', { type: 'string', describe: 'external teacher: input size WxH (config key: external.inputSize)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'external teacher: input value range (config key: external.inputRange)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits'], describe: 'external teacher: what its output is (config key: external.output)' })
      .example('$0 distill student --teacher runs/teacher --data ../shared/datasets/picsart-selfies --unlabeled ../shared/datasets/picsart-selfies-unlabeled --out runs/student', '')
      .example('$0 distill student --resume runs/student --images 20000', '')
      .check((a) => checkStudentArgs(a as StudentArgs)) as unknown as Argv<StudentArgs>,
  handler: async (a) => {
    // Imported here so that `--help` does not load tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { distillStudent, DistillError } = require('../../distill/student') as typeof import('../../distill/student');
    const { abortOnSigint } = require('../../train/teacher') as typeof import('../../train/teacher');
    const external = a['input-size'] !== undefined || a['input-range'] !== undefined || a.output !== undefined;
    const cfg = configFromArgs(
      { ...a, config: a.config ?? (a.resume ? undefined : DEFAULT_DISTILL_CONFIG) },
      {
        'distill.teacher': a.teacher,
        'data.path': a.data,
        'data.val': a.val,
        'data.unlabeled': a.unlabeled,
        'model.name': a.student,
        'train.images': a.images,
        'train.batchSize': a.batch,
        'data.backgrounds': a.backgrounds,
        'external.inputSize': a['input-size'] !== undefined ? parseSize('--input-size', a['input-size']) : undefined,
        'external.inputRange': a['input-range'],
        'external.output': a.output,
      },
    );
    const out = a.out ?? path.join('runs', `distill-${cfg.model.name}`);
    if (!a.resume && fs.existsSync(path.join(out, 'config.json'))) {
      throw new UsageError(`--out ${out} already holds a run: continue it with --resume ${out}, or pick another --out`);
    }
    for (const [flag, p] of [['--teacher', a.teacher], ['--data', a.data], ['--resume', a.resume]] as const) {
      if (p && !fs.existsSync(p) && !(flag === '--data' && /^[a-z0-9_-]+$/i.test(p))) throw new UsageError(`${flag} ${p}: not found`);
    }
    const log = (l: string) => process.stderr.write(l + '\n');
    // A resumed run continues on the backend it started on (kernels differ in the last bits).
    await selectBackend(a.resume && !a.backend ? savedBackend(a.resume) ?? cfg.backend : cfg.backend, log);
    const ac = new AbortController();
    const off = abortOnSigint(ac, log);
    try {
      const r = await distillStudent({
        cfg,
        teacher: a.teacher ?? null,
        out,
        resume: a.resume ?? null,
        externalTeacher: external ? true : undefined,
        images: a.images,
        log,
        signal: ac.signal,
      }).catch((e: Error) => {
        // Teacher/student contract problems and missing inputs are the user's to fix: one line, exit 2.
        throw e instanceof DistillError ? new UsageError(e.message) : e;
      });
      r.model.dispose();
      const rate = r.seconds > 0 ? (r.state.imagesSeen / r.seconds).toFixed(2) : '?';
      process.stdout.write(
        `${r.cache.misses + r.cache.hits > 0 ? `distilled ${r.meta.name} from ${r.teacher}` : `trained ${r.meta.name} (teacher: ${r.teacher})`}: ${r.state.imagesSeen} images in ${r.seconds.toFixed(1)} s (${rate} img/s overall)` +
          `${r.state.bestScore !== null ? `, best val mIoU ${r.state.bestScore.toFixed(4)}` : ''}; teacher rows cached ${r.cache.hits}, computed ${r.cache.misses}\n` +
          `run folder: ${r.runDir} (best/, last/, metrics.jsonl, curves.png)\n`,
      );
      if (r.stopReason === 'interrupted') process.exitCode = 130;
    } finally {
      off();
    }
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
