/**
 * The run setup shared by the recipes (train teacher, distill student, fine-tuning through
 * --init): one place for everything around the one training loop (src/train/loop.ts).
 *
 *   openRun()   config (fresh, or the run's own config + --set/flags on resume, checked against the
 *               checkpoint), the run folder (create / resume / recover, src/models/folders.ts),
 *               backend, the model (fresh, --init, or the checkpoint's) and train.freeze, the data
 *               and its split, augmentation, the sample cache.
 *   trainRun()  optimizer + schedule, EMA, micro-batching, threads (data-parallel step), the
 *               standard callbacks, validation, the loop itself, and cleanup.
 *
 * A recipe adds only what is its own: src/recipes/teacher.ts its loss and one loader;
 * src/recipes/student.ts its teacher(s), mixed labeled/unlabeled batches and the distillation loss.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Config, defaultConfig } from '../config/config';
import { ConfigError } from '../config/schema';
import { ConfigSources, deepMerge, readConfigFile, readConfigJson, resolveConfig, saveConfig } from '../config/load';
import type { HostBatch, Sample, SampleRef } from '../data/types';
import { datasetInputs, openDataset, resolveSpec } from '../data/dataset';
import { DataError } from '../data/errors';
import { splitRefs } from '../data/split';
import { DataLoader, LoaderOptions } from '../data/loader';
import { SampleCache } from '../data/cache';
import { buildPipeline, validateAugment } from '../augment/registry';
import { loadBackgrounds } from '../augment/background';
import { createModel, modelNames, resolveModelArgs } from '../models/registry';
import type { ModelMeta } from '../models/types';
import { loadModel } from '../models/io';
import { checkNewRunFolder, modelInputs, repairRunFolder, resolveResume, RUN_FILES } from '../models/folders';
import { selectBackend } from '../backend';
import { planMicroBatch } from '../backend/memory';
import { LossSpec, makeParallelTrainStep } from '../backend/parallel';
import { evaluate, evaluateBatches, modelSegmenter, samplesFromRefs } from '../eval/evaluate';
import type { EvalMetrics } from '../eval/metrics';
import { Callback, LossFn, train, TrainResult, trainableVariables, ValResult, freshState } from '../train/loop';
import { createOptimizer, warmupCosine } from '../train/optim';
import { loadCheckpoint, LoadedCheckpoint, type TrainState } from '../train/checkpoint';
import { createEma, setWeightValues } from '../train/ema';
import { applyFreeze } from '../train/freeze';
import { checkpointer, curvesPlot, earlyStopping, metricsJsonl, progressLogger } from '../train/callbacks';
import { needsImport } from '../models/import/packaged';
import { ensureImportedChecked } from '../export/import-check';
import { writeFileAtomic } from '../util/fs';
import { Claim, claimOutput, OutputPathError, writeOutputDir } from '../util/out-paths';

/** Every setup failure the user can fix (missing data, a contradicting --set, a bad teacher): one line, exit 2. */
export class RunSetupError extends ConfigError {}

/** Data errors found while setting up (before training) are user mistakes: one line, exit 2. */
export function asSetupError<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DataError) throw new RunSetupError(`${key}: ${e.message}`);
    throw e;
  }
}

export interface RunOptions {
  /** The resolved config of a fresh run. Without it, `sources` is resolved (over `recipe`). */
  config?: Config;
  /**
   * Where the config comes from: --config, --set and named flags. A fresh run resolves them over
   * the recipe file; a resumed run over its own saved config.json (so --set/--batch/--images are
   * re-applied on resume). Their model.* keys are the ones an --init or a checkpoint is checked against.
   */
  sources?: ConfigSources;
  /** Run folder to create (fresh run); default runs/<kind>-<model>-<time>. */
  out?: string | null;
  /** Run folder (its last/) or one of its checkpoint folders (last, best, checkpoints/step-N) to continue. */
  resume?: string | null;
  /** With resume: the new training length in images (shorthand for the flag train.images). */
  images?: number;
  log?: (line: string) => void;
  /** Abort (Ctrl-C, SIGTERM): the run stops after the current step and saves a checkpoint. */
  signal?: AbortSignal;
  /** Extra callbacks (tests). */
  callbacks?: Callback[];
}

/** The recipe file a fresh run starts from (its values sit below the user's --config). */
export interface RecipeInfo {
  kind: 'teacher' | 'student';
  file: string;
  /** Also open cfg.data.unlabeled (distillation). */
  unlabeled?: boolean;
  /** Runs once the model is known, before any data is read (a student loads and checks its teacher here). */
  beforeData?: (ctx: { cfg: Config; resumed: LoadedCheckpoint | null; model: tf.LayersModel; meta: ModelMeta; log: (l: string) => void }) => Promise<void>;
}

export interface TrainData {
  train: SampleRef[];
  val: SampleRef[];
  /** Files left out, one line each (already logged). */
  bad: string[];
}

export interface Run {
  cfg: Config;
  runDir: string;
  log: (line: string) => void;
  /** The checkpoint being continued, or null for a fresh run. */
  resumed: LoadedCheckpoint | null;
  model: tf.LayersModel;
  meta: ModelMeta;
  /** Layers frozen by train.freeze. */
  frozen: string[];
  data: TrainData;
  /** Unlabeled images (cfg.data.unlabeled, when the recipe asks for them). */
  unlabeled: SampleRef[];
  augment: ReturnType<typeof buildPipeline>;
  cache: SampleCache;
  state: TrainState;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Keys a user set explicitly (--set k=v, named flags); `prefix` filters them. */
function explicitKeys(src: ConfigSources | undefined, prefix: string): string[] {
  const keys: string[] = [];
  for (const item of src?.set ?? []) {
    const k = item.slice(0, Math.max(0, item.indexOf('='))).trim();
    if (k.startsWith(prefix)) keys.push(k);
  }
  for (const [k, v] of Object.entries(src?.flags ?? {})) if (v !== undefined && k.startsWith(prefix)) keys.push(k);
  return keys;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A config's model.* must describe the model it trains (the checkpoint's or the --init's): same
 * name, and every model.args key it sets equal to the model's. Throws naming the key.
 */
export function checkModelMatches(cfg: Config, meta: ModelMeta, what: string): void {
  if (cfg.model.name !== meta.name) {
    throw new RunSetupError(`model.name: ${what} is a ${meta.name}, the config says ${cfg.model.name} (the model comes from ${what}: drop the model.name setting)`);
  }
  for (const [k, v] of Object.entries(cfg.model.args ?? {})) {
    if (!sameJson(v, meta.args[k])) {
      throw new RunSetupError(`model.args.${k}: ${what} has ${JSON.stringify(meta.args[k])}, the config says ${JSON.stringify(v)} (the architecture comes from ${what}: drop this setting)`);
    }
  }
}

/** The resolved config saved in a run folder. */
export function readRunConfig(runDir: string): Record<string, unknown> {
  const f = path.join(runDir, RUN_FILES.config);
  if (!fs.existsSync(f)) throw new RunSetupError(`--resume ${runDir}: no ${RUN_FILES.config} there (not a run folder)`);
  try {
    return readConfigJson(f);
  } catch (e) {
    throw new RunSetupError((e as Error).message);
  }
}

/** Checks done before any work: data and backgrounds paths, augmentation, model args (fresh runs). */
export function checkRunConfig(cfg: Config, o: { out?: string | null; resume?: string | null; modelFromElsewhere?: boolean } = {}): void {
  if (!cfg.data.path) throw new RunSetupError('no training data: give --data DIR (a folder, list file or datasets/*.json), or set data.path');
  asSetupError('data.path', () => resolveSpec(cfg.data.path!));
  if (cfg.data.val) asSetupError('data.val', () => resolveSpec(cfg.data.val!));
  if (!o.modelFromElsewhere) resolveModelArgs(cfg.model.name, cfg.model.args);
  validateAugment(cfg.augment.train);
  if (cfg.data.backgrounds && !fs.existsSync(cfg.data.backgrounds)) throw new RunSetupError(`data.backgrounds: folder not found: ${cfg.data.backgrounds}`);
  if (!o.resume && o.out) {
    // the output rule (src/util/out-paths.ts): a new or empty folder, outside every input
    const inputs = [
      ...datasetInputs('--data', cfg.data.path),
      ...datasetInputs('--val', cfg.data.val),
      ...cfg.data.unlabeled.flatMap((u) => datasetInputs('--unlabeled', u)),
      ...(cfg.data.backgrounds ? [{ flag: '--backgrounds', path: cfg.data.backgrounds }] : []),
      ...modelInputs('--init', cfg.train.init),
      ...[cfg.distill.teacher, ...cfg.distill.teachers.map((t) => t.path)].flatMap((t) => modelInputs('--teacher', t)),
    ];
    try {
      checkNewRunFolder(o.out, inputs);
    } catch (e) {
      throw new RunSetupError((e as Error).message);
    }
  }
  if (cfg.train.freeze !== null && !/^\d+$/.test(cfg.train.freeze.trim())) {
    try {
      new RegExp(cfg.train.freeze);
    } catch (e) {
      throw new RunSetupError(`train.freeze: "${cfg.train.freeze}" is not a valid regular expression (${(e as Error).message})`);
    }
  }
}

/** Opens the training set and the validation set (given, or a seeded valFraction split). */
export async function openTrainData(cfg: Config, log: (l: string) => void = () => {}): Promise<TrainData> {
  const bad: string[] = [];
  const report = (l: string) => {
    bad.push(l);
    log(l);
  };
  const open = (spec: string, key: string) =>
    openDataset(spec, { strict: cfg.data.strict, labeled: true, log: report }).catch((e) =>
      asSetupError(key, () => {
        throw e;
      }),
    );
  const ds = await open(cfg.data.path!, 'data.path');
  let trainRefs: SampleRef[];
  let valRefs: SampleRef[];
  if (cfg.data.val) {
    trainRefs = ds.refs;
    valRefs = (await open(cfg.data.val, 'data.val')).refs;
  } else if (cfg.data.valFraction > 0) {
    ({ train: trainRefs, val: valRefs } = splitRefs(ds.refs, cfg.data.valFraction, cfg.seed));
  } else {
    trainRefs = ds.refs;
    valRefs = [];
  }
  if (cfg.data.maxSamples) trainRefs = trainRefs.slice(0, cfg.data.maxSamples);
  if (trainRefs.length === 0) throw new RunSetupError(`${cfg.data.path}: no training samples left after the validation split`);
  return { train: trainRefs, val: valRefs, bad };
}

/**
 * split.json, one rule: written when a run is created (so `eval --split val` uses exactly these
 * ids), kept as it is on resume (written only if missing).
 */
export function writeSplit(runDir: string, data: TrainData, opts: { resume?: boolean } = {}): void {
  const f = path.join(runDir, RUN_FILES.split);
  if (opts.resume && fs.existsSync(f)) return;
  writeFileAtomic(f, JSON.stringify({ train: data.train.map((r) => r.id), val: data.val.map((r) => r.id) }) + '\n');
}

/** A batch larger than the data it is drawn from is a mistake (it would plan thousands of micro-batches). */
export function checkBatchSize(batchSize: number, samples: number, what = 'training samples'): void {
  if (batchSize > samples) {
    throw new RunSetupError(`train.batchSize ${batchSize} is larger than the ${samples} ${what}: use --batch ${samples} or less (or add data)`);
  }
}

/**
 * Validation of a run on its val split (or data.val). train.valResolution 'photo' (the default)
 * scores each photo at its own resolution through the model's own resize and mask filter, exactly
 * what `eval` measures (longer side capped at train.valMaxSide); 'frame' scores host batches at the
 * training frame size. Either way the set is decoded once and kept in memory.
 */
export function makeValFn(run: Pick<Run, 'cfg' | 'data' | 'meta' | 'log'> & { loader?: DataLoader | null }): ((model: tf.LayersModel) => Promise<ValResult>) | undefined {
  const { cfg } = run;
  if (!run.data.val.length) return undefined;
  const opts = { threshold: cfg.eval.threshold, boundaryTolerance: cfg.eval.boundaryTolerance, worst: 0 };
  const pick = (m: EvalMetrics): ValResult => ({ miou: m.miou, personIou: m.personIou, boundaryF: m.boundaryF, mae: m.mae });
  if (cfg.train.valResolution === 'frame') {
    const loader = run.loader;
    if (!loader) return undefined;
    let cached: HostBatch[] | null = null;
    return async (model) => {
      if (!cached) {
        cached = [];
        for await (const b of loader.once()) cached.push(b);
      }
      return pick(await evaluateBatches(model, cached, opts));
    };
  }
  let samples: Sample[] | null = null;
  return async (model) => {
    if (!samples) {
      samples = [];
      for await (const sm of samplesFromRefs(run.data.val, { maskMode: cfg.data.maskMode, maxSide: cfg.train.valMaxSide, log: run.log })) samples.push(sm);
      if (!samples.length) throw new RunSetupError(`validation: none of the ${run.data.val.length} validation images could be read`);
      const sizes = new Set(samples.map((x) => `${x.image.width}x${x.image.height}`));
      run.log(`validation: ${samples.length} photos at their own resolution (${[...sizes].slice(0, 3).join(', ')}${sizes.size > 3 ? ', ...' : ''}), scored like eval`);
    }
    // the model is borrowed: the segmenter is never disposed here
    return pick(await evaluate(modelSegmenter(model, run.meta), samples, { ...opts, warmup: false }));
  };
}

/** Micro-batch: the config's, else src/backend/memory.ts's plan, else the whole batch. */
export function resolveMicroBatch(cfg: Config, model: tf.LayersModel, meta: ModelMeta, log: (l: string) => void = () => {}): number {
  if (cfg.train.microBatch !== null) return cfg.train.microBatch;
  try {
    const mb = planMicroBatch({ model, meta, frameSize: meta.frameSize, batchSize: cfg.train.batchSize, backend: tf.getBackend() });
    if (mb < cfg.train.batchSize) log(`micro-batch ${mb} (planned from memory; gradients accumulated over ${Math.ceil(cfg.train.batchSize / mb)} passes)`);
    return mb;
  } catch (e) {
    log(`micro-batch planning failed (${(e as Error).message.split('\n')[0]}); using the whole batch`);
  }
  return cfg.train.batchSize;
}

/**
 * Threads for the data-parallel training step (src/backend/parallel.ts): config `threads`, where
 * 0 = auto: two on a multi-core machine when training on wasm with batches of 8 or more and frames
 * up to 128x128 (on one core, or with small batches, the worker's start-up and weight copies cost
 * more than they buy; docs/backends.md). Larger frames stay on one thread by default: the main
 * thread's wasm heap grows towards its 4 GiB cap in long parallel runs at 256x256.
 * The worker's batch-norm statistics are not merged back, so a run is reproducible for the same
 * `threads` value, not across values.
 */
export function resolveThreads(cfg: Config, backend: string, frameSize: [number, number], log: (l: string) => void = () => {}): number {
  if (cfg.threads === 1) return 1;
  if (backend !== 'wasm' && backend !== 'cpu') {
    if (cfg.threads > 1) log(`threads ${cfg.threads} ignored: the ${backend} backend parallelises by itself`);
    return 1;
  }
  if (cfg.threads > 1) return cfg.threads;
  const cores = os.cpus().length;
  if (backend !== 'wasm' || cores < 2 || cfg.train.batchSize < 8 || frameSize[0] * frameSize[1] > 128 * 128) return 1;
  log(`threads: 2 (data-parallel step over a worker thread; --set threads=1 to train on one)`);
  return 2;
}

/** The standard callbacks of a run folder: progress, metrics.jsonl, checkpoints, curves.png, early stop. */
export function standardCallbacks(cfg: Config, runDir: string, log: (l: string) => void, extra?: () => Record<string, unknown>): Callback[] {
  const metrics = path.join(runDir, RUN_FILES.metrics);
  const cbs: Callback[] = [
    progressLogger(cfg.train.logEvery, log),
    metricsJsonl(metrics, cfg.train.logEvery, log),
    checkpointer({ runDir, every: cfg.train.checkpointEvery, keep: cfg.train.keep, config: cfg, extra, log }),
    curvesPlot(path.join(runDir, RUN_FILES.curves), metrics, `${cfg.model.name} | ${path.basename(runDir)}`),
  ];
  if (cfg.train.earlyStopPatience) cbs.push(earlyStopping(cfg.train.earlyStopPatience, log));
  return cbs;
}

/** The config of a run: fresh (the recipe below the user's sources) or resumed (the run's own below them). */
function resolveRunConfig(o: RunOptions, recipe: RecipeInfo, runDir: string | null): Config {
  const src = o.sources ?? {};
  const flags = { ...(src.flags ?? {}), ...(o.images !== undefined ? { 'train.images': o.images } : {}) };
  if (runDir) return resolveConfig({ base: readRunConfig(runDir), set: src.set, flags });
  if (o.config) return src.set?.length || Object.keys(flags).length ? resolveConfig({ base: o.config as unknown as Record<string, unknown>, set: src.set, flags }) : o.config;
  // The recipe file is the base; a user's --config (with or without `extends`) sits on top of it.
  const base = deepMerge(defaultConfig() as unknown as Record<string, unknown>, readConfigFile(recipe.file));
  return resolveConfig({ base, file: src.file, set: src.set, flags });
}

/** Loads the --init model: its weights and architecture start the run. */
async function loadInit(cfg: Config, sources: ConfigSources | undefined, log: (l: string) => void): Promise<{ model: tf.LayersModel; meta: ModelMeta; path: string }> {
  let spec = cfg.train.init!;
  // a packaged model (mediapipe:selfie) or a .tflite file: imported once with the parity check, cached
  if (needsImport(spec)) {
    try {
      const ii = cfg.train.initImport;
      spec = await ensureImportedChecked(spec, { seed: cfg.seed, key: 'train.init', log, importOptions: { inputSize: ii.inputSize, maskFilter: ii.maskFilter, widen: ii.widen } });
    } catch (e) {
      throw new RunSetupError((e as Error).message);
    }
  }
  if (!fs.existsSync(spec)) throw new RunSetupError(`--init ${spec}: not found (expected a run folder, a checkpoint folder or a model folder)`);
  const init = await loadModel(spec);
  const what = `the --init model (${init.path})`;
  // The architecture comes from the init model; only settings the user gave can contradict it.
  const explicit = explicitKeys(sources, 'model.');
  try {
    if (explicit.length) {
      const probe: Config = { ...cfg, model: { name: explicit.includes('model.name') ? cfg.model.name : init.meta.name, args: explicit.some((k) => k.startsWith('model.args')) ? cfg.model.args : {} } };
      checkModelMatches(probe, init.meta, what);
    }
  } catch (e) {
    init.model.dispose();
    throw e;
  }
  log(`init: ${init.meta.name} from ${init.path}`);
  return init;
}

/**
 * Opens a run: config, run folder, backend, model, data. Nothing is written before every check
 * has passed, except the repair of a run folder cut by a crash.
 */
export async function openRun(o: RunOptions, recipe: RecipeInfo): Promise<Run> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  let runDir: string;
  let resumed: LoadedCheckpoint | null = null;
  let cfg: Config;
  let claim: Claim | null = null;
  if (o.resume) {
    // A run cut between the two renames of last/ is repaired first (resolveResume needs last/).
    const spec = path.resolve(o.resume);
    const early = fs.existsSync(path.join(spec, RUN_FILES.config)) ? repairRunFolder(spec) : null;
    const target = resolveResume(o.resume);
    runDir = target.runDir;
    const fixed = early ?? repairRunFolder(runDir);
    if (fixed.recovered.length) log(`recovered ${fixed.recovered.join(', ')} of ${runDir} (a previous run was cut while replacing it)`);
    if (fixed.removed.length) log(`removed ${fixed.removed.length} stale temp folder(s) in ${runDir}`);
    cfg = resolveRunConfig(o, recipe, runDir);
    checkRunConfig(cfg, { resume: o.resume, modelFromElsewhere: true });
    resumed = await loadCheckpoint(target.checkpointDir);
    try {
      checkModelMatches(cfg, resumed.meta, `the checkpoint in ${target.checkpointDir}`);
    } catch (e) {
      resumed.model.dispose();
      throw e;
    }
  } else {
    cfg = resolveRunConfig(o, recipe, null);
    // a model name may carry characters a folder name should not (imported:selfie_segmentation)
    runDir = path.resolve(o.out ?? path.join('runs', `${recipe.kind}-${cfg.model.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp()}`));
    checkRunConfig(cfg, { out: runDir, modelFromElsewhere: cfg.train.init !== null });
    // Claimed before the setup starts (an exclusive lock beside its real path), then checked again:
    // of two runs on one --out, the second fails here in one line instead of both passing the
    // check while the data is scanned.
    try {
      runDir = checkNewRunFolder(runDir);
      claim = claimOutput('--out', runDir);
      checkNewRunFolder(runDir);
    } catch (e) {
      claim?.release();
      throw e instanceof OutputPathError || e instanceof ConfigError ? new RunSetupError(e.message) : e;
    }
  }
  try {
    return await openRunFolder(o, recipe, { cfg, runDir, resumed, log });
  } finally {
    claim?.release();
  }
}

/** The rest of openRun, once the run folder is known (and, for a fresh run, claimed). */
async function openRunFolder(o: RunOptions, recipe: RecipeInfo, r: { cfg: Config; runDir: string; resumed: LoadedCheckpoint | null; log: (l: string) => void }): Promise<Run> {
  const { runDir, resumed, log } = r;
  let cfg = r.cfg;
  // The one place a run picks its backend: the config's (a resumed run's is the one it started on).
  await selectBackend(cfg.backend, log);

  let model: tf.LayersModel;
  let meta: ModelMeta;
  if (resumed) {
    ({ model, meta } = resumed);
  } else if (cfg.train.init) {
    const init = await loadInit(cfg, o.sources, log);
    ({ model, meta } = init);
    cfg = { ...cfg, model: { name: meta.name, args: meta.args }, train: { ...cfg.train, init: path.resolve(init.path) } };
  } else {
    ({ model, meta } = createModel(cfg.model.name, cfg.model.args, { seed: cfg.seed }));
  }
  try {
    checkFrameSize(cfg, meta, o.sources);
    const frozen = applyFreeze(model, cfg.train.freeze);
    if (frozen.length) log(`frozen: ${frozen.length} layers (${frozen.slice(0, 4).join(', ')}${frozen.length > 4 ? ', ...' : ''}), ${trainableVariables(model).reduce((n, v) => n + v.size, 0)} trainable params left`);
    // The recipe's own inputs (a student's teacher) fail before any data is read.
    await recipe.beforeData?.({ cfg, resumed, model, meta, log });
    const data = await openTrainData(cfg, log);
    const unlabeled: SampleRef[] = [];
    if (recipe.unlabeled) for (const u of cfg.data.unlabeled) unlabeled.push(...(await openUnlabeled(u, cfg, log)));
    checkBatchSize(cfg.train.batchSize, data.train.length + unlabeled.length, unlabeled.length ? 'training samples (labeled and unlabeled)' : 'training samples');
    const backgrounds = cfg.data.backgrounds ? await loadBackgrounds(cfg.data.backgrounds) : [];
    const augment = buildPipeline(cfg.augment.train, { backgrounds });
    const cache = new SampleCache({ dir: cfg.data.cacheDir });

    // Run folder: config.json always (a resume records its overrides), split.json once. A new
    // run folder is created whole (temp folder beside it, renamed into place).
    if (resumed) {
      saveConfig(cfg, runDir);
      writeSplit(runDir, data, { resume: true });
    } else {
      await writeOutputDir(
        runDir,
        (tmp) => {
          saveConfig(cfg, tmp);
          writeSplit(tmp, data);
        },
        { flag: '--out' },
      ).catch((e) => {
        throw e instanceof OutputPathError ? new RunSetupError(e.message) : e;
      });
    }
    if (resumed) log(`resuming ${runDir} at step ${resumed.state.step} (${resumed.state.imagesSeen} images seen)`);
    return { cfg, runDir, log, resumed, model, meta, frozen, data, unlabeled, augment, cache, state: resumed ? resumed.state : freshState() };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Training frames are the model's frame size (meta.frameSize); data.frameSize only sizes the frames
 * of `augment preview`/`augment bench`. Setting it for a training run would silently do nothing,
 * so a value that differs from the model's is refused.
 */
function checkFrameSize(cfg: Config, meta: ModelMeta, sources: ConfigSources | undefined): void {
  const want = cfg.data.frameSize;
  const explicit = explicitKeys(sources, 'data.frameSize').length > 0;
  const changed = !sameJson(want, defaultConfig().data.frameSize);
  if ((explicit || changed) && !sameJson(want, meta.frameSize)) {
    throw new RunSetupError(`data.frameSize: training uses the model's frame size (${meta.frameSize[1]}x${meta.frameSize[0]} for ${meta.name}), not ${want[1]}x${want[0]}: set model.args.inputSize instead`);
  }
}

async function openUnlabeled(spec: string, cfg: Config, log: (l: string) => void): Promise<SampleRef[]> {
  if (!fs.existsSync(spec) && !/^[a-z0-9_-]+$/i.test(spec)) throw new RunSetupError(`data.unlabeled: ${spec}: not found`);
  const ds = await openDataset(spec, { strict: cfg.data.strict, labeled: false, log }).catch((e) =>
    asSetupError('data.unlabeled', () => {
      throw e;
    }),
  );
  if (ds.refs.length === 0) throw new RunSetupError(`data.unlabeled: ${spec}: no images found`);
  return ds.refs;
}

/** Loader options every loader of a run shares (frame size, augmentation, cache, mask mode). */
export function loaderOptions(run: Run): Omit<LoaderOptions, 'batchSize' | 'seed'> {
  const { cfg } = run;
  return { frameSize: run.meta.frameSize, augment: run.augment, cache: run.cache, prefetch: cfg.data.prefetch, maskMode: cfg.data.maskMode, strict: cfg.data.strict, log: run.log };
}

/** The validation loader of a run (no augmentation, no shuffling), or null without a val split. */
export function valLoader(run: Run): DataLoader | null {
  return run.data.val.length ? new DataLoader(run.data.val, { ...loaderOptions(run), augment: undefined, batchSize: run.cfg.train.batchSize, seed: run.cfg.seed, shuffle: false }) : null;
}

export interface RecipeParts {
  /** Batches from step `run.state.step` on. */
  batches: AsyncIterator<HostBatch>;
  lossFn: LossFn;
  /** The loss as a worker thread builds it (data-parallel step); null keeps the run on one thread. */
  workerLoss: LossSpec | null;
  /** Why the run stays on one thread although threads allow more (logged). */
  singleThreadReason?: string | null;
  /** Extra variables trained with the model (e.g. a feature adapter). */
  extraVars?: tf.Variable[];
  /** Extra resume state stored in each checkpoint's state.json. */
  extraState?: () => Record<string, unknown>;
  callbacks?: Callback[];
  /** Wraps the batch stream once the thread count is known (e.g. teacher prefetch on one thread). */
  wrapBatches?: (b: AsyncIterator<HostBatch>, threads: number) => AsyncIterator<HostBatch>;
}

/** The loop with everything around it; leaves the averaged weights (when train.ema > 0) in run.model. */
export async function trainRun(run: Run, parts: RecipeParts, o: Pick<RunOptions, 'signal' | 'callbacks'> = {}): Promise<TrainResult> {
  const { cfg, model, meta, log, resumed } = run;
  const extraVars = parts.extraVars ?? [];
  const optimizer = createOptimizer({ name: cfg.train.optimizer, weightDecay: cfg.train.weightDecay });
  if (resumed?.optimizerState) optimizer.setState(resumed.optimizerState, [...trainableVariables(model), ...extraVars]);
  const schedule = warmupCosine({ lr: cfg.train.lr, minLr: cfg.train.minLr, warmupImages: cfg.train.warmupImages, totalImages: cfg.train.images });
  const microBatch = resolveMicroBatch(cfg, model, meta, log);
  let threads = resolveThreads(cfg, tf.getBackend(), meta.frameSize, log);
  const oneThread = run.frozen.length ? 'train.freeze (the worker would train every layer)' : !modelNames().includes(meta.name) ? `${meta.name} is not in the model registry (a worker rebuilds the model by name)` : parts.workerLoss ? parts.singleThreadReason ?? null : 'this loss cannot be sent to a worker';
  if (threads > 1 && oneThread) {
    log(`threads: 1 (${oneThread})`);
    threads = 1;
  }
  const step = threads > 1 ? await makeParallelTrainStep({ workers: threads - 1, model: { name: meta.name, args: meta.args }, loss: parts.workerLoss!, backend: tf.getBackend() === 'cpu' ? 'cpu' : 'wasm' }) : undefined;
  const batches = parts.wrapBatches ? parts.wrapBatches(parts.batches, threads) : parts.batches;
  const ema = createEma(cfg.train.ema, model, resumed);
  const callbacks = [...standardCallbacks(cfg, run.runDir, log, parts.extraState), ...(parts.callbacks ?? []), ...(o.callbacks ?? [])];
  try {
    const result = await train({
      model,
      meta,
      ema,
      batches,
      lossFn: parts.lossFn,
      optimizer,
      schedule,
      totalImages: cfg.train.images,
      batchSize: cfg.train.batchSize,
      microBatch,
      gradClip: cfg.train.gradClip,
      startState: run.state,
      callbacks,
      valFn: makeValFn({ ...run, loader: valLoader(run) }),
      evalEvery: cfg.train.evalEvery,
      // a fine-tune's start competes for best/: it is scored before the first step
      evalAtStart: !resumed && cfg.train.init !== null,
      // the raw (not averaged) weights are scored too only where validation is cheap
      scoreRaw: cfg.train.valResolution === 'frame',
      signal: o.signal,
      extraVars,
      step,
    });
    // Leave the averaged weights in the model: they are the ones validated and saved.
    if (ema) setWeightValues(model, ema.values());
    return result;
  } finally {
    await batches.return?.(undefined);
    await step?.close();
    ema?.dispose();
    optimizer.dispose();
  }
}
