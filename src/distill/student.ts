/**
 * The distillation recipe: the same training loop as `train teacher` (src/train/loop.ts, its
 * callbacks, checkpoints and --resume), with a frozen teacher and the distillation loss.
 *
 * Batches mix labeled and unlabeled frames: each batch of B rows takes round(B * f) rows from
 * the unlabeled folders (f = cfg.distill.unlabeledFraction, 0 when none are given) and the rest
 * from the labeled set, from two deterministic DataLoaders (so --resume restarts both at the same
 * batch). Both go through the same augmentation pipeline; the teacher labels the augmented frame
 * the student sees, inside the loss (from the content-keyed TeacherTargets cache, filled ahead of
 * the step by `prefetch`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { saveConfig } from '../config/load';
import type { HostBatch, SampleRef } from '../data/types';
import { openDataset } from '../data/dataset';
import { DataLoader } from '../data/loader';
import { SampleCache } from '../data/cache';
import { buildPipeline } from '../augment/registry';
import { loadBackgrounds } from '../augment/background';
import type { ModelMeta } from '../models/types';
import { createModel, DEFAULT_STUDENT } from '../models/registry';
import {
  train,
  type Callback,
  type LossFn,
  type TrainResult,
  trainableVariables,
  freshState,
  createOptimizer,
  warmupCosine,
  segmentationLoss,
  loadCheckpoint,
  loadModel,
  resolveModelJson,
  META_FILE,
  type TrainState,
} from '../train';
import { makeRng } from '../util/rng';
import { loadExternalModel } from '../eval';
import { createEma, setWeightValues } from '../train/ema';
import { makeValFn, openTrainData, resolveMicroBatch, resolveThreads, standardCallbacks, writeSplit } from '../train/teacher';
import { makeParallelTrainStep } from '../backend/parallel';
import { distillLoss, drawShift, FeatureAdapter, shiftedView, type DistillLossWeights } from './losses';
import { checkCompatible, ExternalPredictor, freezeExternal, freezeModel, FrozenTeacher, TeacherTargets } from './teacher';

export class DistillError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DistillError';
  }
}

/** The loss weights of a resolved config. */
export function lossWeights(cfg: Config): DistillLossWeights {
  const d = cfg.distill;
  return {
    temperature: d.temperature,
    soft: d.soft,
    hard: d.hard,
    feature: d.feature,
    featureMode: d.featureMode,
    boundary: d.boundary,
    boundaryWidth: cfg.train.loss.boundaryWidth,
    consistency: d.consistency,
    consistencyShift: d.consistencyShift,
  };
}

// ------------------------------------------------------------------------------- teacher

/** True when `spec` is one of our models (a run/checkpoint folder or a model.json with portraitseg.json beside it). */
export function isPortraitsegModel(spec: string): boolean {
  let json: string;
  try {
    json = resolveModelJson(spec);
  } catch {
    return false;
  }
  if (fs.existsSync(path.join(path.dirname(json), META_FILE))) return true;
  try {
    return Boolean(JSON.parse(fs.readFileSync(json, 'utf8')).userDefinedMetadata?.portraitseg);
  } catch {
    return false;
  }
}

/** Stand-in when no teacher is given and no term needs one: never asked for targets. */
function labelsOnlyTeacher(): FrozenTeacher {
  const none = () => {
    throw new DistillError('no teacher given (labels-only run) but a distillation term needs one');
  };
  return { kind: 'portraitseg', describe: 'none (labels only)', frameSize: null, featureChannels: null, meta: null, predict: none, weightChecksum: () => 0, dispose: () => {} };
}

/** Loader of external TensorFlow.js models (src/eval/external.ts), injectable for tests. */
export type ExternalLoader = (spec: string, ext: Config['external']) => Promise<ExternalPredictor>;

async function defaultExternalLoader(spec: string, ext: Config['external']): Promise<ExternalPredictor> {
  return loadExternalModel(spec, ext);
}

/**
 * Loads the teacher: our own run (loadModel) unless `forceExternal` or the spec is not a
 * portraitseg model, in which case the external adapter reads it with cfg.external.
 */
export async function loadTeacher(spec: string, cfg: Config, opts: { forceExternal?: boolean; loadExternal?: ExternalLoader } = {}): Promise<FrozenTeacher> {
  if (!fs.existsSync(spec)) throw new DistillError(`--teacher ${spec}: not found (expected a run folder, a checkpoint folder or a model.json)`);
  if (!opts.forceExternal && isPortraitsegModel(spec)) {
    const { model, meta, path: where } = await loadModel(spec);
    return freezeModel(model, meta, `${meta.name} from ${where}`, cfg.runtime.frozen);
  }
  const ext = await (opts.loadExternal ?? defaultExternalLoader)(spec, cfg.external);
  return freezeExternal(ext);
}

// ------------------------------------------------------------------------------- batches

/** Concatenates two host batches row-wise (labeled rows first). */
export function mergeBatches(a: HostBatch, b: HostBatch): HostBatch {
  if (a.height !== b.height || a.width !== b.width) throw new Error(`mergeBatches: ${a.height}x${a.width} vs ${b.height}x${b.width}`);
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const masks = new Float32Array(a.masks.length + b.masks.length);
  masks.set(a.masks);
  masks.set(b.masks, a.masks.length);
  const hasMask = new Uint8Array(a.size + b.size);
  hasMask.set(a.hasMask);
  hasMask.set(b.hasMask, a.size);
  return { size: a.size + b.size, height: a.height, width: a.width, images, masks, hasMask, ids: [...a.ids, ...b.ids] };
}

/** Rows of a batch of `batchSize` drawn from unlabeled images. */
export function unlabeledRows(batchSize: number, fraction: number, haveUnlabeled: boolean, haveLabeled = true): number {
  if (!haveUnlabeled) return 0;
  if (!haveLabeled) return batchSize;
  return Math.min(batchSize - 1, Math.max(fraction > 0 ? 1 : 0, Math.round(batchSize * fraction)));
}

/** Batch k of the mixed stream = labeled batch k ++ unlabeled batch k (both deterministic in k). */
export async function* mixedBatches(labeled: DataLoader | null, unlabeled: DataLoader | null, fromBatch: number): AsyncGenerator<HostBatch> {
  const a = labeled?.stream(fromBatch);
  const b = unlabeled?.stream(fromBatch);
  for (;;) {
    const [x, y] = await Promise.all([a?.next(), b?.next()]);
    if (x?.done || y?.done) return;
    if (x && y) yield mergeBatches(x.value, y.value);
    else yield (x ?? y)!.value;
  }
}

// ------------------------------------------------------------------------------- loss

export interface DistillLossOptions {
  cfg: Config;
  targets: TeacherTargets;
  /** The student; its `features` layer is read when feature KD is on (null: feature KD off). */
  student: tf.LayersModel | null;
  adapter: FeatureAdapter | null;
}

/** A student model that returns [logits, features] and shares the student's weights. */
export function withFeatures(student: tf.LayersModel): tf.LayersModel {
  let layer: tf.layers.Layer;
  try {
    layer = student.getLayer('features');
  } catch {
    throw new DistillError(`student ${student.name} has no layer named "features": feature distillation needs one (set distill.feature=0)`);
  }
  return tf.model({ inputs: student.inputs, outputs: [student.outputs[0], layer.output as tf.SymbolicTensor] });
}

/**
 * The loop's lossFn for distillation: teacher targets (cached, no tape), student forward
 * (with features and a shifted second view when those terms are on), then distillLoss.
 */
export function makeDistillLossFn(o: DistillLossOptions): LossFn {
  const w = lossWeights(o.cfg);
  if (w.feature > 0 && !o.student) throw new DistillError('feature distillation needs the student model');
  const featModel = w.feature > 0 ? withFeatures(o.student!) : null;
  const rng = makeRng(o.cfg.seed).fork('distill-consistency');
  const hardLoss = (l: tf.Tensor4D, m: tf.Tensor4D, h: tf.Tensor1D) => {
    const out = segmentationLoss(l, m, h, o.cfg.train.loss);
    return out.total;
  };
  // Labels-only baseline (soft = boundary = feature = 0): the same recipe without running the teacher.
  const needTeacher = w.soft > 0 || w.boundary > 0 || w.feature > 0;
  return (ctx) => {
    const tgt = needTeacher ? o.targets.targets(ctx.images) : { logits: tf.zeros([ctx.images.shape[0], ctx.images.shape[1], ctx.images.shape[2], 1]) as tf.Tensor4D, features: undefined };
    try {
      let logits: tf.Tensor4D;
      let studentFeatures: tf.Tensor4D | undefined;
      if (featModel) {
        const [l, f] = featModel.apply(ctx.images, { training: true }) as tf.Tensor4D[];
        logits = l;
        studentFeatures = w.featureMode === 'l2' ? o.adapter!.apply(f) : f;
      } else {
        logits = ctx.model.apply(ctx.images, { training: true }) as tf.Tensor4D;
      }
      let shifted: { logits: tf.Tensor4D; draw: ReturnType<typeof drawShift> } | undefined;
      if (w.consistency > 0) {
        const draw = drawShift(rng.fork(ctx.step), w.consistencyShift);
        shifted = { logits: ctx.model.apply(shiftedView(ctx.images, draw), { training: true }) as tf.Tensor4D, draw };
      }
      const labeledRows = Array.from(ctx.hasMask.dataSync()).filter((v) => v > 0).length;
      return distillLoss(
        { student: logits, teacher: tgt.logits, masks: ctx.masks, hasMask: ctx.hasMask, studentFeatures, teacherFeatures: tgt.features, shifted, hardLoss },
        w,
        labeledRows,
      );
    } finally {
      tgt.logits.dispose();
      tgt.features?.dispose();
    }
  };
}

/** Options of workerDistillLossFn: plain data, cloned into the worker thread. */
export interface WorkerDistillLossOptions {
  cfg: Config;
  /** Teacher spec (absolute), '' for the labels-only recipe. */
  teacher: string;
  externalTeacher: boolean;
}

/**
 * The distillation loss inside a worker of the data-parallel step (src/backend/parallel.ts): the
 * worker loads its own copy of the frozen teacher and labels its share of each batch, so the
 * teacher's forward pass is split across the cores like the student's step. Feature
 * distillation is not offered here (its adapter's variables live on the main thread).
 */
export async function workerDistillLossFn(o: WorkerDistillLossOptions): Promise<LossFn> {
  if (o.cfg.distill.feature > 0) throw new DistillError('the data-parallel distillation step does not support feature distillation (distill.feature > 0)');
  const teacher = o.teacher ? await loadTeacher(o.teacher, o.cfg, { forceExternal: o.externalTeacher }) : labelsOnlyTeacher();
  const targets = new TeacherTargets(teacher, { cache: o.cfg.distill.cacheTeacher, withFeatures: false });
  return makeDistillLossFn({ cfg: o.cfg, targets, student: null, adapter: null });
}

// ------------------------------------------------------------------------------- the recipe

export interface DistillRunOptions {
  cfg: Config;
  /** Teacher spec (run folder, checkpoint, model.json); defaults to cfg.distill.teacher. */
  teacher?: string | null;
  /** Run folder to create (fresh run); ignored with `resume`. */
  out: string;
  /** Run folder or checkpoint to continue. */
  resume?: string | null;
  /** Treat the teacher as an external TensorFlow.js model (the eval-style --input-size/--output flags were given). */
  externalTeacher?: boolean;
  loadExternal?: ExternalLoader;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Extra callbacks (tests). */
  callbacks?: Callback[];
  /** With `resume`: the new total of images seen (default: the run's own train.images). */
  images?: number;
}

export interface DistillRunResult extends TrainResult {
  runDir: string;
  /** The trained student (the caller disposes it). */
  model: tf.LayersModel;
  meta: ModelMeta;
  teacher: string;
  cache: { hits: number; misses: number; teacherMs: number };
}

/** Extra resume state stored in each checkpoint's state.json. */
interface DistillExtra {
  distill: { teacher: string; externalTeacher: boolean; adapter: boolean };
}

async function openRefs(spec: string, labeled: boolean, cfg: Config, log: (l: string) => void, what: string): Promise<SampleRef[]> {
  if (!fs.existsSync(spec) && !/^[a-z0-9_-]+$/i.test(spec)) throw new DistillError(`${what} ${spec}: not found`);
  const ds = await openDataset(spec, { strict: cfg.data.strict, labeled, log });
  if (ds.refs.length === 0) throw new DistillError(`${what} ${spec}: no ${labeled ? 'image/mask pairs' : 'images'} found`);
  return ds.refs;
}

/** The run folder of a --resume spec: the folder itself, or the run holding last/ or checkpoints/step-N/. */
function runDirOf(spec: string, ckptDir: string): string {
  if (fs.existsSync(path.join(spec, 'config.json'))) return spec;
  const parent = path.dirname(ckptDir);
  return path.basename(parent) === 'checkpoints' ? path.dirname(parent) : parent;
}

/** `distill student`: trains `cfg.model.name` from the teacher. Writes a run folder like `train teacher`. */
export async function distillStudent(o: DistillRunOptions): Promise<DistillRunResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  let cfg = o.cfg;
  let runDir = o.out;
  let resumed: Awaited<ReturnType<typeof loadCheckpoint>> | null = null;
  let teacherSpec = o.teacher ?? cfg.distill.teacher;
  let externalTeacher = o.externalTeacher ?? false;
  if (o.resume) {
    resumed = await loadCheckpoint(o.resume);
    runDir = runDirOf(o.resume, resumed.dir);
    const saved = resumed.config as Config | null;
    if (saved) cfg = { ...saved, train: { ...saved.train, images: o.images ?? saved.train.images } };
    const ex = (resumed.extra as Partial<DistillExtra>).distill;
    if (!ex) throw new DistillError(`--resume ${o.resume}: not a distillation run (no distill state in ${resumed.dir}/state.json); use train teacher --resume`);
    teacherSpec = o.teacher ?? (ex.teacher || null);
    externalTeacher = o.externalTeacher ?? ex.externalTeacher;
  }
  const w = lossWeights(cfg);
  const needTeacher = w.soft > 0 || w.boundary > 0 || w.feature > 0;
  if (!teacherSpec && needTeacher) {
    throw new DistillError('distill student: --teacher RUN_DIR|model.json is required (e.g. portraitseg distill student --teacher runs/teacher --data DIR); config key distill.teacher');
  }
  if (!cfg.data.path) throw new DistillError('no data: pass --data DIR (config key data.path)');

  // Teacher first: a bad teacher should fail before any data is read. Without one (the
  // labels-only baseline: soft = boundary = feature = 0) the same recipe trains from labels.
  const teacher = teacherSpec ? await loadTeacher(teacherSpec, cfg, { forceExternal: externalTeacher, loadExternal: o.loadExternal }) : labelsOnlyTeacher();
  if (w.feature > 0 && teacher.featureChannels === null) {
    teacher.dispose();
    throw new DistillError(`distill.feature=${w.feature} but teacher ${teacher.describe} has no "features" layer; set distill.feature=0`);
  }
  log(`teacher: ${teacher.describe}${teacher.meta ? `, ${teacher.meta.params} params` : ''}`);

  // Student: fresh, or from the checkpoint.
  let model: tf.LayersModel;
  let meta: ModelMeta;
  if (resumed) {
    model = resumed.model;
    meta = resumed.meta;
  } else {
    ({ model, meta } = createModel(cfg.model.name, cfg.model.args, { seed: cfg.seed }));
  }
  if (teacher.meta && teacher.meta.params > 0 && meta.name === teacher.meta.name && meta.family === 'teacher') {
    log(`note: distilling ${meta.name} into itself (model.name is the teacher's architecture; pass --student ${DEFAULT_STUDENT} for the default student)`);
  }
  try {
    if (teacherSpec) checkCompatible(teacher, meta);
  } catch (e) {
    teacher.dispose();
    throw new DistillError((e as Error).message);
  }
  log(`student: ${meta.name}, ${meta.params} params, frames ${meta.frameSize[0]}x${meta.frameSize[1]}`);

  let adapter: FeatureAdapter | null = null;
  if (w.feature > 0 && w.featureMode === 'l2') {
    const out = withFeatures(model).outputs[1];
    const sc = out.shape[out.shape.length - 1] as number;
    adapter = new FeatureAdapter(sc, teacher.featureChannels!, cfg.seed + 1);
    if (resumed?.extraValues.length) adapter.setWeights(resumed.extraValues.map((v) => tf.tensor(v.values, v.shape)));
  }

  // Data: the same split as train teacher (seeded valFraction of --data, or --val).
  const data = await openTrainData(cfg, log);
  const trainRefs = data.train;
  const valRefs = data.val;
  const unlabeledRefs: SampleRef[] = [];
  for (const u of cfg.data.unlabeled) unlabeledRefs.push(...(await openRefs(u, false, cfg, log, '--unlabeled')));
  const backgrounds = cfg.data.backgrounds ? await loadBackgrounds(cfg.data.backgrounds) : [];
  const augment = buildPipeline(cfg.augment.train, { backgrounds });
  const cache = new SampleCache({ dir: cfg.data.cacheDir });
  const B = cfg.train.batchSize;
  const bu = unlabeledRows(B, cfg.distill.unlabeledFraction, unlabeledRefs.length > 0);
  const common = { frameSize: meta.frameSize, augment, cache, prefetch: cfg.data.prefetch, maskMode: cfg.data.maskMode, strict: cfg.data.strict, log };
  const labeledLoader = B - bu > 0 ? new DataLoader(trainRefs, { ...common, batchSize: B - bu, seed: cfg.seed }) : null;
  const unlabeledLoader = bu > 0 ? new DataLoader(unlabeledRefs, { ...common, batchSize: bu, seed: `${cfg.seed}/unlabeled` }) : null;
  const valLoader = valRefs.length ? new DataLoader(valRefs, { ...common, augment: undefined, batchSize: B, seed: cfg.seed, shuffle: false }) : null;
  // The planner's probe restores the batch-norm statistics itself (src/backend/memory.ts).
  const microBatch = resolveMicroBatch(cfg, model, meta, log);
  log(`data: ${trainRefs.length} labeled train, ${valRefs.length} val, ${unlabeledRefs.length} unlabeled; batch ${B} = ${B - bu} labeled + ${bu} unlabeled`);

  // Run folder.
  fs.mkdirSync(runDir, { recursive: true });
  if (!resumed) {
    saveConfig(cfg, runDir);
    writeSplit(runDir, data);
  }

  const state: TrainState = resumed ? resumed.state : freshState();
  const targets = new TeacherTargets(teacher, { cache: cfg.distill.cacheTeacher, withFeatures: w.feature > 0 });
  const lossFn = makeDistillLossFn({ cfg, targets, student: model, adapter });
  const extraVars = adapter ? adapter.variables : [];
  const optimizer = createOptimizer({ name: cfg.train.optimizer, weightDecay: cfg.train.weightDecay });
  if (resumed?.optimizerState) optimizer.setState(resumed.optimizerState, [...trainableVariables(model), ...extraVars]);
  const schedule = warmupCosine({ lr: cfg.train.lr, minLr: cfg.train.minLr, warmupImages: cfg.train.warmupImages, totalImages: cfg.train.images });
  const extra: DistillExtra = { distill: { teacher: teacherSpec ? path.resolve(teacherSpec) : '', externalTeacher, adapter: adapter !== null } };
  const cacheLine: Callback = {
    onStepEnd(_ctx, l) {
      if (needTeacher && l.step % cfg.train.logEvery === 0) {
        const s = targets.stats;
        log(`  teacher: ${s.hits} rows reused from cache / ${s.misses} computed, ${(s.teacherMs / Math.max(1, s.misses)).toFixed(1)} ms/row${threads > 1 ? ' (this thread; the worker labels its own rows)' : ''}`);
      }
    },
  };
  // The callbacks of train teacher (progress, metrics.jsonl, checkpoints, curves.png, early stop).
  const callbacks: Callback[] = [...standardCallbacks(cfg, runDir, log, () => extra as unknown as Record<string, unknown>), cacheLine, ...(o.callbacks ?? [])];
  const mixed = mixedBatches(labeledLoader, unlabeledLoader, state.step);
  // Both cores (config `threads`, as in train teacher): each thread labels its own rows with its
  // own copy of the teacher inside the loss, so nothing is prefetched on this thread.
  let threads = resolveThreads(cfg, tf.getBackend(), meta.frameSize, log);
  if (threads > 1 && (w.feature > 0 || o.loadExternal)) {
    log(`threads: 1 (${w.feature > 0 ? 'feature distillation keeps its adapter on one thread' : 'a custom external-teacher loader cannot be sent to a worker'})`);
    threads = 1;
  }
  const step = threads > 1
    ? await makeParallelTrainStep({
        workers: threads - 1,
        model: { name: meta.name, args: meta.args },
        loss: {
          module: __filename,
          exportName: 'workerDistillLossFn',
          options: { cfg, teacher: teacherSpec ? path.resolve(teacherSpec) : '', externalTeacher } satisfies WorkerDistillLossOptions,
        },
        backend: tf.getBackend() === 'cpu' ? 'cpu' : 'wasm',
      })
    : undefined;
  const batches = needTeacher && threads === 1 ? targets.prefetchAll(mixed) : mixed;
  const ema = createEma(cfg.train.ema, model, resumed);
  try {
    const r = await train({
      model,
      meta,
      ema,
      batches,
      lossFn,
      optimizer,
      schedule,
      totalImages: cfg.train.images,
      batchSize: B,
      microBatch,
      gradClip: cfg.train.gradClip,
      startState: state,
      callbacks,
      valFn: makeValFn(valLoader, cfg),
      evalEvery: cfg.train.evalEvery,
      signal: o.signal,
      extraVars,
      step,
    });
    // Leave the averaged weights in the returned model: they are the ones validated and saved.
    if (ema) setWeightValues(model, ema.values());
    return { ...r, runDir, model, meta, teacher: teacher.describe, cache: { ...targets.stats } };
  } finally {
    await batches.return(undefined);
    await step?.close();
    ema?.dispose();
    optimizer.dispose();
    adapter?.dispose();
    teacher.dispose();
    targets.clear();
  }
}
