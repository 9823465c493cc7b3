/**
 * Memory planning for training. The wasm backend's heap is capped at 4 GiB (32-bit wasm) and
 * never shrinks; a U-Net teacher at 256x256 batch 8 does not fit, so the training loop splits
 * each batch into micro-batches and accumulates gradients (src/train/loop.ts). This module
 * decides the micro-batch size.
 *
 * Model: peak bytes of one training step ~= fixed + microBatch * ACTIVATION_FACTOR * forward,
 * where `forward` is the bytes of every tensor the forward pass creates for one sample at the
 * frame size (measured once per model and frame size with a batch-1 forward pass; these are
 * what the gradient tape keeps), `fixed` is weights + gradients + Adam moments (4 copies of
 * the parameters), and ACTIVATION_FACTOR covers the backward pass's transient tensors and
 * allocator fragmentation. The factor was calibrated with `bench train` (peak wasm heap vs
 * the estimate, on a 2-core machine; see docs/backends.md).
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';

/** Peak step memory / forward activation bytes, measured (wasm, unet_teacher_s and mnv2_student_s). */
export const ACTIVATION_FACTOR = 3;

/** Bytes a backend may use for one step. wasm: 4 GiB address space minus headroom for fragmentation. */
export function memoryBudgetBytes(backend: string): number {
  if (backend === 'wasm') return 2.5 * 2 ** 30;
  // cpu / tensorflow: ordinary process memory; keep to a quarter of the machine's RAM.
  return os.totalmem() / 4;
}

/** Current size of the wasm heap in bytes, or null when the wasm backend is not initialised. */
export function wasmHeapBytes(): number | null {
  try {
    const be = tf.findBackend('wasm') as unknown as { wasm?: { HEAPU8?: Uint8Array } } | null;
    return be?.wasm?.HEAPU8?.buffer.byteLength ?? null;
  } catch {
    return null;
  }
}

const probeCache = new Map<string, number>();

/**
 * Bytes of the tensors alive at the end of a training-mode forward pass of one sample at
 * `frameSize` while a gradient tape records it: the activations backward will read. Runs
 * forward + backward once (batch 1) on the active backend; cached per model key and size.
 */
export function forwardBytesPerSample(model: tf.LayersModel, frameSize: [number, number], key?: string): number {
  const k = `${key ?? model.name}@${frameSize[0]}x${frameSize[1]}`;
  const hit = probeCache.get(k);
  if (hit !== undefined) return hit;
  let bytes = 0;
  // A training-mode forward pass moves batch-norm statistics: snapshot every non-trainable
  // weight and put it back, so probing never changes the model (bit-for-bit --resume relies on it).
  const frozen = model.nonTrainableWeights.map((w) => ({ w, saved: tf.clone(w.read()) }));
  tf.tidy(() => {
    const x = tf.zeros([1, frameSize[0], frameSize[1], 3]);
    const before = tf.memory().numBytes;
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const { value, grads } = tf.variableGrads(() => {
      const y = model.apply(x, { training: true }) as tf.Tensor;
      bytes = tf.memory().numBytes - before;
      return tf.mean(y) as tf.Scalar;
    }, vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  for (const { w, saved } of frozen) {
    w.write(saved);
    saved.dispose();
  }
  probeCache.set(k, bytes);
  return bytes;
}

export interface MicroBatchPlan {
  microBatch: number;
  /** Estimated peak bytes of one micro-batch step. */
  estimatedBytes: number;
  budgetBytes: number;
  forwardBytesPerSample: number;
}

export interface PlanInput {
  /** The model's metadata; used to build the model for probing when `model` is not given. */
  meta?: ModelMeta;
  model?: tf.LayersModel;
  frameSize: [number, number];
  batchSize: number;
  /** tfjs backend name ('wasm', 'cpu', 'tensorflow'); defaults to the active one. */
  backend?: string;
  /** Overrides the budget (tests). */
  budgetBytes?: number;
}

/** The full plan; `planMicroBatch` returns just the size. */
export function planMicroBatchDetailed(p: PlanInput): MicroBatchPlan {
  if (!Number.isInteger(p.batchSize) || p.batchSize < 1) throw new Error(`planMicroBatch: batchSize must be a positive integer, got ${p.batchSize}`);
  let model = p.model;
  let owned = false;
  if (!model) {
    if (!p.meta) throw new Error('planMicroBatch: give the model or its meta');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createModel } = require('../models/registry') as typeof import('../models/registry');
    model = createModel(p.meta.name, p.meta.args, { seed: 0 }).model;
    owned = true;
  }
  try {
    const key = p.meta ? `${p.meta.name}:${JSON.stringify(p.meta.args)}` : undefined;
    const fwd = forwardBytesPerSample(model, p.frameSize, key);
    const params = p.meta?.params ?? model.countParams();
    const fixed = params * 4 * 4;
    const budget = p.budgetBytes ?? memoryBudgetBytes(p.backend ?? tf.getBackend());
    const perSample = fwd * ACTIVATION_FACTOR;
    let mb = Math.max(1, Math.min(p.batchSize, Math.floor((budget - fixed) / Math.max(perSample, 1))));
    // Equal-sized micro-batches waste no step on a ragged tail: 8 -> 4 rather than 8 -> 5 + 3.
    const parts = Math.ceil(p.batchSize / mb);
    mb = Math.ceil(p.batchSize / parts);
    return { microBatch: mb, estimatedBytes: fixed + mb * perSample, budgetBytes: budget, forwardBytesPerSample: fwd };
  } finally {
    if (owned) model.dispose();
  }
}

/**
 * Micro-batch size for training `batchSize` frames of `frameSize` on `backend`: the largest
 * size whose estimated step memory fits the backend's budget (at least 1).
 */
export function planMicroBatch(p: PlanInput): number {
  return planMicroBatchDetailed(p).microBatch;
}
