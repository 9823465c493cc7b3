/**
 * The contract of one training step, shared by the loop (src/train/loop.ts) and the data-parallel
 * step (src/backend/parallel.ts): types only, so that src/backend does not import src/train.
 */
import type * as tf from '@tensorflow/tfjs';
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
