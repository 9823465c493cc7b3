/**
 * One training step: its contract and the default single-thread step, shared by the loop
 * (src/train/loop.ts) and the data-parallel step (src/backend/parallel.ts), which runs it on every
 * thread. It lives here, below src/train, so that src/backend does not import src/train.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostBatch } from '../data/types';

/** A loss and its named parts (scalars). */
export interface LossOutput {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

export interface LossContext {
  model: tf.LayersModel;
  /** [b, H, W, 3] RGB in 0..1 */
  images: tf.Tensor4D;
  /** [b, H, W, 1] person probability in 0..1 (zeros on unlabeled rows) */
  masks: tf.Tensor4D;
  /** [b] 1 = labeled row */
  hasMask: tf.Tensor1D;
  /** Ids of the rows (for caches keyed by sample, e.g. teacher outputs). */
  ids: string[];
  step: number;
  training: true;
}

/** Runs the forward pass itself (so distillation can read features) and returns the loss. */
export type LossFn = (ctx: LossContext) => LossOutput;

export interface StepInput {
  model: tf.LayersModel;
  /** Variables to differentiate (model.trainableWeights, plus any extra ones). */
  vars: tf.Variable[];
  batch: HostBatch;
  lossFn: LossFn;
  /** Rows per forward/backward pass; gradients are accumulated over the micro-batches. */
  microBatch: number;
  step: number;
}

export interface StepOutput {
  /** Batch loss (row-weighted mean over micro-batches). */
  loss: number;
  parts: Record<string, number>;
  /** Gradients, same order as `vars`; the caller disposes them. */
  grads: tf.Tensor[];
}

/** Computes loss and gradients for one batch. Replaceable (e.g. a data-parallel step in src/backend/parallel.ts). */
export type TrainStep = (input: StepInput) => Promise<StepOutput>;

/** Host batch rows [start, start + n) as tensors. */
export function batchTensors(b: HostBatch, start = 0, n = b.size): { images: tf.Tensor4D; masks: tf.Tensor4D; hasMask: tf.Tensor1D } {
  const px = b.height * b.width;
  const images = tf.tensor4d(b.images.subarray(start * px * 3, (start + n) * px * 3), [n, b.height, b.width, 3]);
  const masks = tf.tensor4d(b.masks.subarray(start * px, (start + n) * px), [n, b.height, b.width, 1]);
  const hasMask = tf.tensor1d(Float32Array.from(b.hasMask.subarray(start, start + n)));
  return { images, masks, hasMask };
}

/**
 * The default step: forward + backward per micro-batch on this thread, gradients accumulated as
 * a row-weighted mean (micro-batch k contributes n_k / B of its mean loss).
 */
export function makeTrainStep(): TrainStep {
  return async ({ model, vars, batch, lossFn, microBatch, step }) => {
    const mb = Math.max(1, Math.min(microBatch, batch.size));
    let acc: tf.Tensor[] | null = null;
    let loss = 0;
    const parts: Record<string, number> = {};
    for (let start = 0; start < batch.size; start += mb) {
      const n = Math.min(mb, batch.size - start);
      const w = n / batch.size;
      const t = batchTensors(batch, start, n);
      const kept: Record<string, tf.Scalar> = {};
      try {
        const { value, grads } = tf.variableGrads(() => {
          const out = lossFn({ model, images: t.images, masks: t.masks, hasMask: t.hasMask, ids: batch.ids.slice(start, start + n), step, training: true });
          for (const [k, v] of Object.entries(out.parts)) kept[k] = tf.keep(v);
          return out.total;
        }, vars);
        loss += w * value.dataSync()[0];
        value.dispose();
        for (const [k, v] of Object.entries(kept)) parts[k] = (parts[k] ?? 0) + w * v.dataSync()[0];
        const ordered = vars.map((v) => {
          const g = grads[v.name];
          if (!g) return tf.zerosLike(v);
          return g;
        });
        if (acc === null) {
          acc = ordered.map((g) => (w === 1 ? g : tf.tidy(() => g.mul(w))));
          if (w !== 1) ordered.forEach((g) => g.dispose());
        } else {
          const prev: tf.Tensor[] = acc;
          acc = prev.map((a, i) => tf.tidy(() => a.add(ordered[i].mul(w))));
          prev.forEach((a) => a.dispose());
          ordered.forEach((g) => g.dispose());
        }
      } finally {
        for (const v of Object.values(kept)) v.dispose();
        tf.dispose([t.images, t.masks, t.hasMask]);
      }
    }
    return { loss, parts, grads: acc ?? [] };
  };
}
