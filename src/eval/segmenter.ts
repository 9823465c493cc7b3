/**
 * The interface evaluation, shift stability, TTA and distillation share for our models and
 * external ones alike (its own module so that evaluate.ts and stability.ts both import it).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';

export interface SegmenterInfo {
  /** Registry name for our models, the file for external ones. */
  name: string;
  kind: 'portraitseg' | 'external';
  /** [height, width] the network runs at (null: whatever it is given). */
  inputSize: [number, number] | null;
  params: number | null;
  maskFilter: boolean;
  meta?: ModelMeta;
  /** Which runtime runs the model and why (src/export/native.ts), when chosen at load. */
  runtime?: string;
}

/** The interface eval, stability and distillation use for our models and external ones alike. */
export interface Segmenter {
  /** frames [B, H, W, 3] RGB in 0..1 -> person logits [B, H, W, 1] at the frames' H, W. */
  predictLogits(frames: tf.Tensor4D): tf.Tensor4D;
  readonly info: SegmenterInfo;
  dispose(): void;
}
