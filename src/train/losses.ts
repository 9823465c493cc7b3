/**
 * Segmentation losses on person logits. Every loss takes
 *   logits  [B, H, W, 1]  (person logits)
 *   masks   [B, H, W, 1]  (targets in 0..1)
 *   hasMask [B]           (1 = labeled row, 0 = unlabeled: contributes nothing)
 * and returns a scalar: the mean over labeled rows of a per-row loss (0 when no row is labeled).
 */
import { boxMean } from '../models/guided_filter';
import * as tf from '@tensorflow/tfjs';
import type { LossConfig } from '../config/config';

/** Mean over labeled rows of a per-row loss `perRow` [B]. */
export function maskedRowMean(perRow: tf.Tensor1D, hasMask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const w = hasMask.toFloat();
    return perRow.mul(w).sum().div(w.sum().maximum(1)) as tf.Scalar;
  });
}

/**
 * Pixel-wise binary cross-entropy with logits, numerically stable form
 *   max(x, 0) - x*y + log(1 + exp(-|x|))
 * [B, H, W, 1] -> [B, H, W, 1].
 */
export function bceWithLogitsMap(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => logits.relu().sub(logits.mul(targets)).add(logits.abs().neg().exp().log1p()));
}

export function bceLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => maskedRowMean(bceWithLogitsMap(logits, masks).mean([1, 2, 3]) as tf.Tensor1D, hasMask));
}

/** Soft Dice (Milletari et al. 2016) on sigmoid probabilities, per row, smoothing 1. */
export function diceLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, smooth = 1): tf.Scalar {
  return tf.tidy(() => {
    const p = logits.sigmoid();
    const inter = p.mul(masks).sum([1, 2, 3]);
    const denom = p.sum([1, 2, 3]).add(masks.sum([1, 2, 3]));
    const perRow = tf.scalar(1).sub(inter.mul(2).add(smooth).div(denom.add(smooth))) as tf.Tensor1D;
    return maskedRowMean(perRow, hasMask);
  });
}

/**
 * Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors
 * (Berman et al., CVPR 2018, "The Lovasz-Softmax loss", Alg. 1). gtSorted: [N] in {0,1}.
 */
function lovaszGrad(gtSorted: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const gts = gtSorted.sum();
    const inter = gts.sub(gtSorted.cumsum());
    const union = gts.add(tf.scalar(1).sub(gtSorted).cumsum());
    const jaccard = tf.scalar(1).sub(inter.div(union)) as tf.Tensor1D;
    const n = jaccard.shape[0];
    if (n <= 1) return jaccard;
    const head = jaccard.slice(0, 1);
    const diff = jaccard.slice(1).sub(jaccard.slice(0, n - 1));
    return tf.concat([head, diff]) as tf.Tensor1D;
  });
}

/** Binary Lovasz hinge, per image (Berman et al. 2018), averaged over labeled rows. */
export function lovaszHingeLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const [b, h, w] = logits.shape;
    const n = h * w;
    const flatL = logits.reshape([b, n]);
    const flatY = masks.reshape([b, n]).greater(0.5).toFloat();
    const rows: tf.Scalar[] = [];
    for (let i = 0; i < b; i++) {
      const x = flatL.slice([i, 0], [1, n]).reshape([n]) as tf.Tensor1D;
      const y = flatY.slice([i, 0], [1, n]).reshape([n]) as tf.Tensor1D;
      const errors = tf.scalar(1).sub(x.mul(y.mul(2).sub(1))) as tf.Tensor1D;
      // The permutation is piecewise constant in the logits: sort a detached copy (TopK has no
      // gradient in tfjs, and none is needed).
      const perm = tf.topk(tf.tensor1d(errors.dataSync() as Float32Array), n, true).indices;
      const errSorted = tf.gather(errors, perm) as tf.Tensor1D;
      const gtSorted = tf.gather(y, perm) as tf.Tensor1D;
      const grad = lovaszGrad(gtSorted);
      rows.push(errSorted.relu().mul(grad).sum() as tf.Scalar);
    }
    return maskedRowMean(tf.stack(rows) as tf.Tensor1D, hasMask);
  });
}

/**
 * Boundary band of a mask: pixels within `width` px (Chebyshev) of a person/background
 * transition, 1 inside the band, 0 elsewhere. [B, H, W, 1] -> [B, H, W, 1]. No gradient needed.
 */
export function boundaryBand(masks: tf.Tensor4D, width: number): tf.Tensor4D {
  return tf.tidy(() => {
    // The band is where the (2w+1)^2 window (its pixels inside the frame) holds both classes:
    // dilation minus erosion, from one box mean (separable convolutions; the two k x k max pools
    // it replaces were half of a training step at 768x768 on the native backend).
    const bin = masks.greater(0.5).toFloat() as tf.Tensor4D;
    const k = 2 * width + 1;
    const m = boxMean(bin, width);
    const half = 0.5 / (k * k);
    return m.greater(half).logicalAnd(m.less(1 - half)).toFloat() as tf.Tensor4D;
  });
}

/**
 * BCE averaged over the boundary band of each labeled row (rows without a band contribute 0),
 * less the pixels within `ignore` px of the edge (train.loss.ignoreBand; ignore < width).
 */
export function boundaryBceLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, width: number, ignore = 0): tf.Scalar {
  return tf.tidy(() => {
    const band = boundaryBand(masks, width);
    return weightedBceLoss(logits, masks, hasMask, ignore > 0 ? (band.mul(labelWeights(masks, ignore)) as tf.Tensor4D) : band);
  });
}

export type { LossOutput } from '../backend/step';
import type { LossOutput } from '../backend/step';

/**
 * Where a label counts: 0 within `width` px (Chebyshev) of its person/background edge, 1
 * elsewhere (1 everywhere for width 0). Coarse hand-drawn masks are wrong mostly there.
 */
export function labelWeights(masks: tf.Tensor4D, width: number): tf.Tensor4D {
  return tf.tidy(() => (width > 0 ? (tf.scalar(1).sub(boundaryBand(masks, width)) as tf.Tensor4D) : (tf.onesLike(masks) as tf.Tensor4D)));
}

/** BCE averaged per row over the pixels where `weights` is 1, then over labeled rows. */
export function weightedBceLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, weights: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const perRow = bceWithLogitsMap(logits, masks).mul(weights).sum([1, 2, 3]).div(weights.sum([1, 2, 3]).maximum(1)) as tf.Tensor1D;
    return maskedRowMean(perRow, hasMask);
  });
}

/** Soft Dice over the pixels where `weights` is 1. */
export function weightedDiceLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, weights: tf.Tensor4D, smooth = 1): tf.Scalar {
  return tf.tidy(() => {
    const p = logits.sigmoid().mul(weights);
    const m = masks.mul(weights);
    const inter = p.mul(m).sum([1, 2, 3]);
    const denom = p.sum([1, 2, 3]).add(m.sum([1, 2, 3]));
    const perRow = tf.scalar(1).sub(inter.mul(2).add(smooth).div(denom.add(smooth))) as tf.Tensor1D;
    return maskedRowMean(perRow, hasMask);
  });
}

/**
 * The supervised segmentation loss: weighted sum of the terms with weight > 0 (cfg.train.loss).
 * With cfg.ignoreBand > 0 the label does not count within that many pixels of its edges (bce,
 * dice and the boundary term; checkCrossFields in src/config/load.ts refuses lovasz with it).
 */
export function segmentationLoss(logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, cfg: LossConfig): LossOutput {
  const parts: Record<string, tf.Scalar> = {};
  const ignore = cfg.ignoreBand ?? 0;
  if (ignore > 0) {
    const w = labelWeights(masks, ignore);
    if (cfg.bce > 0) parts.bce = weightedBceLoss(logits, masks, hasMask, w);
    if (cfg.dice > 0) parts.dice = weightedDiceLoss(logits, masks, hasMask, w);
    w.dispose();
    if (cfg.lovasz > 0) throw new Error('train.loss.lovasz: cannot be used with train.loss.ignoreBand > 0 (the Lovasz hinge ranks every pixel)');
    if (cfg.boundary > 0) parts.boundary = boundaryBceLoss(logits, masks, hasMask, cfg.boundaryWidth, ignore);
  } else {
    if (cfg.bce > 0) parts.bce = bceLoss(logits, masks, hasMask);
    if (cfg.dice > 0) parts.dice = diceLoss(logits, masks, hasMask);
    if (cfg.lovasz > 0) parts.lovasz = lovaszHingeLoss(logits, masks, hasMask);
    if (cfg.boundary > 0) parts.boundary = boundaryBceLoss(logits, masks, hasMask, cfg.boundaryWidth);
  }
  const weights: Record<string, number> = { bce: cfg.bce, dice: cfg.dice, lovasz: cfg.lovasz, boundary: cfg.boundary };
  const total = tf.tidy(() => {
    let t: tf.Scalar = tf.scalar(0);
    for (const [k, v] of Object.entries(parts)) t = t.add(v.mul(weights[k]));
    return t;
  });
  return { total, parts };
}

/** The teacher's loss function for the loop: forward in training mode, then segmentationLoss. */
export function makeSegLossFn(cfg: LossConfig) {
  return (ctx: { model: tf.LayersModel; images: tf.Tensor4D; masks: tf.Tensor4D; hasMask: tf.Tensor1D }): LossOutput => {
    const logits = ctx.model.apply(ctx.images, { training: true }) as tf.Tensor4D;
    return segmentationLoss(logits, ctx.masks, ctx.hasMask, cfg);
  };
}
