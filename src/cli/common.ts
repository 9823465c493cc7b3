/** Options shared by every command, and the argv -> Config bridge. */
import * as path from 'path';
import type { Argv } from 'yargs';
import { Config } from '../config/config';
import { resolveConfig } from '../config/load';
import { parseWidthHeight, sizeErrorMessage } from '../util/size';
import { validationSummary } from '../train/callbacks';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CommonArgs {
  config?: string;
  set?: string[];
  seed?: number;
  backend?: string;
  verbose?: boolean;
}

/** Adds --config, --set, --seed and --backend to a command. */
export function withConfigOptions<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('config', { type: 'string', describe: 'JSON config file (may "extends" another)' })
    .option('set', { type: 'string', array: true, describe: 'override a config key, e.g. --set train.lr=0.001 (repeatable)' })
    .option('seed', { type: 'number', describe: 'random seed (config key: seed)' })
    .option('backend', {
      type: 'string',
      choices: ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'],
      describe: 'compute backend (config key: backend)',
    }) as unknown as Argv<T & CommonArgs>;
}

/**
 * Resolves the config from --config, --set and named flags. `flags` maps dotted config
 * keys to the value of the flag that sets them (undefined = flag not given).
 */
export function configFromArgs(args: CommonArgs, flags: Record<string, unknown> = {}): Config {
  return resolveConfig({
    file: args.config ?? null,
    set: args.set ?? [],
    flags: { seed: args.seed, backend: args.backend, ...flags },
  });
}

/** "WIDTHxHEIGHT" -> [height, width] (config order), with a one-line error naming the flag (src/util/size.ts). */
export function parseWxH(flag: string, v: string, o: { min?: number; max?: number; example?: string } = {}): [number, number] {
  const r = parseWidthHeight(v, o);
  if (!Array.isArray(r)) throw new UsageError(sizeErrorMessage(flag, v, r, o.example));
  return r;
}

// ------------------------------------------------------------------ run commands (train teacher, distill student)

/** Flags every training recipe shares. */
export interface RunArgs extends CommonArgs {
  data?: string;
  val?: string;
  out?: string;
  resume?: string;
  init?: string;
  images?: number;
  batch?: number;
  backgrounds?: string;
}

/** Declares the flags shared by `train teacher` and `distill student` (once, here). */
export function withRunOptions<T>(y: Argv<T>, kind: 'teacher' | 'student'): Argv<T & RunArgs> {
  return withConfigOptions(y)
    .option('data', { type: 'string', describe: 'labeled data: folder, list file, datasets/*.json or a known name (config key: data.path)' })
    .option('val', { type: 'string', describe: 'validation set; default a seeded data.valFraction split of --data (config key: data.val)' })
    .option('out', { type: 'string', describe: `run folder to create (default runs/${kind}-<model>-<time>)` })
    .option('resume', { type: 'string', describe: 'continue a run bit-for-bit: its folder (last checkpoint) or one of its checkpoint folders (RUN/last, RUN/best, RUN/checkpoints/step-N); --set, --images, --batch are re-applied' })
    .option('init', { type: 'string', describe: 'start from the weights (and architecture) of a model folder: an earlier run, a checkpoint, an imported model (config key: train.init)' })
    .option('images', { type: 'number', describe: 'training length in images seen (config key: train.images)' })
    .option('batch', { type: 'number', describe: 'batch size (config key: train.batchSize)' })
    .option('backgrounds', { type: 'string', describe: 'background photos for background-swap augmentation (config key: data.backgrounds)' }) as unknown as Argv<T & RunArgs>;
}

/** Config keys of the shared run flags (undefined = not given). */
export function runFlags(a: RunArgs): Record<string, unknown> {
  return {
    'data.path': a.data,
    'data.val': a.val,
    'train.images': a.images,
    'train.batchSize': a.batch,
    'data.backgrounds': a.backgrounds,
    'train.init': a.init,
  };
}

/**
 * One rule for both recipes' flag combinations: --resume continues a run with its own config and
 * data (no --config, --data, --out, --init or model flags beside it); a fresh run needs data from
 * --data, --config or --set data.path.
 */
export function checkRunArgs(a: RunArgs, modelFlags: Record<string, unknown> = {}): true {
  const given = Object.entries(modelFlags).filter(([, v]) => v !== undefined).map(([k]) => `--${k}`);
  if (a.resume && (a.config || a.data || a.out || a.init || given.length)) {
    const bad = [...given, ...(['config', 'data', 'out', 'init'] as const).filter((k) => a[k]).map((k) => `--${k}`)];
    throw new UsageError(`--resume continues a run with its own saved config and data: drop ${bad.join('/')} (e.g. --resume runs/x --images 20000; --set and --batch are re-applied)`);
  }
  if (!a.resume && !a.data && !a.config && !(a.set ?? []).some((x) => x.startsWith('data.path='))) {
    throw new UsageError('--data DIR is required (e.g. --data ../shared/datasets/picsart-selfies --out runs/x)');
  }
  return true;
}

/** The shipped recipe files (configs/), by name. */
export const RECIPES = {
  teacher: path.resolve(__dirname, '../../configs/teacher.json'),
  teacherPretrained: path.resolve(__dirname, '../../configs/teacher-large.json'),
  student: path.resolve(__dirname, '../../configs/distill.json'),
  studentPretrained: path.resolve(__dirname, '../../configs/distill-large.json'),
};

/**
 * The recipe a fresh run without --config starts from, and the line that says so. With the
 * `@mediapipe/selfie_segmentation` dependency installed that is the pretrained recipe (the large
 * teacher: MediaPipe's selfie segmenter widened 4x with the mask filter; the student: the selfie
 * segmenter with the mask filter, taught by the large teacher's labels), unless a model is named (--model,
 * --student, --set model.*: the user's own architecture from random weights). null: --config or
 * --resume was given (the config or the run decides).
 */
export function defaultRecipe(kind: 'teacher' | 'student', a: RunArgs, modelFlags: Record<string, unknown> = {}, available?: () => boolean): { file: string; line: string } | null {
  if (a.resume || a.config) return null;
  const named = Object.entries(modelFlags).filter(([, v]) => v !== undefined).map(([k]) => `--${k}`);
  const setModel = (a.set ?? []).filter((x) => x.startsWith('model.')).map((x) => `--set ${x.split('=')[0]}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const have = available ? available() : (require('../models/import/packaged') as typeof import('../models/import/packaged')).packagedAvailable('mediapipe:selfie');
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  const scratch = kind === 'teacher' ? RECIPES.teacher : RECIPES.student;
  const pre = kind === 'teacher' ? RECIPES.teacherPretrained : RECIPES.studentPretrained;
  if (have && named.length === 0 && setModel.length === 0) {
    const what =
      kind === 'teacher'
        ? "the large teacher: MediaPipe's selfie segmenter (mediapipe:selfie) widened 4x keeping its function, with the mask filter, fine-tuned on your labels"
        : "a 106 k-parameter student, MediaPipe's selfie segmenter with the mask filter (mediapipe:selfie-mf), trained on the soft masks a teacher wrote once (portraitseg label), or on the fly from your --teacher";
    return { file: pre, line: `recipe: ${rel(pre)} (the default while @mediapipe/selfie_segmentation is installed): ${what}; from random weights: --config ${rel(scratch)}` };
  }
  const why = !have ? '@mediapipe/selfie_segmentation is not installed' : `${[...named, ...setModel].join(', ')} names the model`;
  return { file: scratch, line: `recipe: ${rel(scratch)} (from random weights: ${why}; the pretrained recipe is --config ${rel(pre)})` };
}

/**
 * The body of a run command: wires SIGINT/SIGTERM to the run (a checkpoint is saved), prints the
 * summary to stdout, and exits like an interrupted program (128 + signal) when stopped by one.
 */
export async function runWithSignals(go: (o: { log: (l: string) => void; signal: AbortSignal }) => Promise<{ summary: string; interrupted: boolean }>): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { abortOnSignals } = require('../recipes/signals') as typeof import('../recipes/signals');
  const log = (l: string) => process.stderr.write(l + '\n');
  const ac = new AbortController();
  const sig = abortOnSignals(ac, log);
  try {
    const r = await go({ log, signal: ac.signal });
    process.stdout.write(r.summary);
    if (r.interrupted) process.exitCode = sig.exitCode() ?? 130;
  } finally {
    sig.off();
  }
}

/** The summary line of a finished (or interrupted) run. */
export function describeRun(
  r: { runDir: string; result: { stopReason: string; seconds: number; state: { imagesSeen: number; bestScore: number | null; bestStep: number | null; startScore?: number | null }; lastEval?: { miou: number } | null } },
  evalHint: string,
): string {
  const { result } = r;
  const rel = path.relative(process.cwd(), r.runDir) || '.';
  const best = result.state.bestScore;
  const summary = validationSummary(result.state, result.lastEval?.miou ?? null);
  return (
    `run folder: ${rel}\n` +
    `  ${result.stopReason}: ${result.state.imagesSeen} images in ${result.seconds.toFixed(0)} s` +
    (best !== null ? `, best val mIoU ${best.toFixed(4)} (step ${result.state.bestStep})` : '') +
    '\n' +
    (summary ? `  ${summary}\n` : '') +
    `  files: config.json split.json metrics.jsonl curves.png last/ best/\n` +
    `  evaluate: portraitseg eval --model ${rel} ${evalHint}\n`
  );
}
