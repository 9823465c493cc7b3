/**
 * Temporal-stability proxy: a segmenter that is stable under small camera motion predicts the
 * same mask for a frame and for the same frame shifted by `shift` px (then re-aligned). The
 * figure is the mean person IoU between the two predictions over the overlapping region
 * (1 = perfectly shift-consistent). Used by `eval` and by distillation's results table.
 */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../util/image';
import type { Segmenter } from './segmenter';

/** Content moved right and down by `s` px; the uncovered band is mirrored from the frame. [B,H,W,C] */
export function shiftFrames(frames: tf.Tensor4D, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = frames.shape;
    if (s === 0) return frames.clone();
    if (s >= h || s >= w) throw new Error(`stability: shift ${s} px is not smaller than the frame ${w}x${h}`);
    const kept = frames.slice([0, 0, 0, 0], [b, h - s, w - s, c]);
    return tf.mirrorPad(kept, [[0, 0], [s, 0], [s, 0], [0, 0]], 'symmetric') as tf.Tensor4D;
  });
}

/** Per-row IoU between predictions on `frames` and on the shifted frames, re-aligned. [B] */
export function stabilityScores(seg: Segmenter, frames: tf.Tensor4D, shift: number, threshold = 0.5): number[] {
  const t = tf.tidy(() => {
    const [b, h, w] = frames.shape;
    const logit = Math.log(threshold / (1 - threshold));
    const a = seg.predictLogits(frames).greater(logit).toFloat().slice([0, 0, 0, 0], [b, h - shift, w - shift, 1]);
    const shifted = shiftFrames(frames, shift);
    const p = seg.predictLogits(shifted).greater(logit).toFloat().slice([0, shift, shift, 0], [b, h - shift, w - shift, 1]);
    const inter = a.mul(p).sum([1, 2, 3]);
    const union = a.add(p).sub(a.mul(p)).sum([1, 2, 3]);
    // Both empty: identical predictions, IoU 1.
    return tf.where(union.greater(0), inter.div(union.maximum(1)), tf.onesLike(union));
  });
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

/** Mean shift-consistency IoU over images (each run as a batch of one; sizes may differ). */
export async function stability(seg: Segmenter, images: Iterable<RgbImage> | AsyncIterable<RgbImage>, opts: { shift: number; threshold?: number }): Promise<number> {
  let sum = 0;
  let n = 0;
  for await (const img of images as AsyncIterable<RgbImage>) {
    const frame = tf.tidy(() => tf.tensor4d(img.data, [1, img.height, img.width, 3], 'int32').toFloat().div(255) as tf.Tensor4D);
    sum += stabilityScores(seg, frame, opts.shift, opts.threshold ?? 0.5)[0];
    n++;
    frame.dispose();
  }
  return n ? sum / n : NaN;
}
