/**
 * The pieces of the distillation recipe (src/recipes/student.ts, on the shared run setup): the
 * teacher loader, mixed labeled/unlabeled batches and the distillation loss.
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
import { ConfigError } from '../config/schema';
import type { HostBatch } from '../data/types';
import type { DataLoader } from '../data/loader';
import { loadModel, META_FILE, resolveModelJson } from '../models/io';
import type { LossFn } from '../backend/step';
import { segmentationLoss } from '../train/losses';
import { makeRng } from '../util/rng';
import { loadExternalModel } from '../eval/external';
import { distillLoss, drawShift, FeatureAdapter, shiftedView, type DistillLossWeights } from './losses';
import { ExternalPredictor, freezeExternal, freezeModel, FrozenTeacher, TeacherTargets } from './teacher';
import { needsImport } from '../models/import/packaged';
import { ensureImportedChecked } from '../export/import-check';
import { ensembleTeacher, TeacherConfigError, teacherEntries } from './ensemble';
import { externalOptionsFor, hasInputOptions } from '../eval/tta';

/** A teacher/student contract problem or a missing input: the user's to fix (one line, exit 2, like every ConfigError). */
export class DistillError extends ConfigError {}

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
export function labelsOnlyTeacher(): FrozenTeacher {
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

/**
 * Every teacher of a run as one FrozenTeacher: `single` (the --teacher / distill.teacher spec,
 * read like loadTeacher) and the distill.teachers entries (each external with its own input
 * options when it has any), averaged (src/distill/ensemble.ts) with distill.teacherFlip.
 * One teacher without flip is that teacher. Null when there is none.
 */
export async function loadTeacherSet(single: string | null, cfg: Config, opts: { forceExternal?: boolean; loadExternal?: ExternalLoader; log?: (l: string) => void } = {}): Promise<FrozenTeacher | null> {
  let entries;
  try {
    entries = teacherEntries(cfg, single);
  } catch (e) {
    throw e instanceof TeacherConfigError ? new DistillError(e.message) : e;
  }
  if (entries.length === 0) return null;
  const members: FrozenTeacher[] = [];
  try {
    for (let [i, e] of entries.entries()) {
      const key = single && i === 0 ? '--teacher' : `distill.teachers[${single ? i - 1 : i}].path`;
      // a packaged model (mediapipe:selfie) or a .tflite file: imported once, checked, cached
      if (needsImport(e.path)) {
        try {
          e = { ...e, path: await ensureImportedChecked(e.path, { seed: cfg.seed, key, log: opts.log ?? (() => {}) }) };
        } catch (err) {
          throw new DistillError((err as Error).message);
        }
      }
      if (!fs.existsSync(e.path)) throw new DistillError(`${key} ${e.path}: not found (expected a run folder, a checkpoint folder, a model folder or a model.json)`);
      if (hasInputOptions(e)) {
        const ext = await (opts.loadExternal ?? defaultExternalLoader)(e.path, externalOptionsFor(e, cfg.external));
        members.push(freezeExternal(ext));
      } else {
        members.push(await loadTeacher(e.path, cfg, { forceExternal: i === 0 && !!single && opts.forceExternal, loadExternal: opts.loadExternal }));
      }
    }
  } catch (e) {
    members.forEach((m) => m.dispose());
    throw e;
  }
  return ensembleTeacher(members, cfg.distill.teacherFlip);
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
  const teacher = (await loadTeacherSet(o.teacher || null, o.cfg, { forceExternal: o.externalTeacher })) ?? labelsOnlyTeacher();
  const targets = new TeacherTargets(teacher, { cache: o.cfg.distill.cacheTeacher, withFeatures: false });
  return makeDistillLossFn({ cfg: o.cfg, targets, student: null, adapter: null });
}
