/**
 * Knowledge-distillation losses for binary (person / background) segmentation.
 *
 * All maps are NHWC. Student and teacher outputs are person *logits* [B,H,W,1]
 * (the model contract in src/models/types.ts); `hasMask` [B] marks labeled rows.
 *
 * - soft:     pixel-wise binary KL( sigmoid(t/T) || sigmoid(s/T) ) * T^2, mean over pixels
 *             (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network", with the
 *             two-class softmax written as a sigmoid). KL rather than BCE so that the term is
 *             0 when the student matches the teacher; the gradient is the same as BCE's.
 * - hard:     the segmentation loss on ground-truth masks, labeled rows only (hasMask 0 rows
 *             contribute nothing).
 * - feature:  'l2' (FitNets, Romero et al. 2015): a 1x1-conv adapter maps the student's
 *             `features` map to the teacher's channels, bilinearly resized to the teacher's
 *             spatial size, then mean squared error; 'attention' (Zagoruyko & Komodakis 2017,
 *             "Paying More Attention to Attention"): spatial attention maps mean_c(F^2),
 *             L2-normalised per sample, squared distance; channel-agnostic, so no adapter.
 * - boundary: the per-pixel KL at T = 1 weighted towards where masks go wrong: the band of
 *             width w around the teacher's mask edge, and wherever the teacher itself is
 *             uncertain (1 - |2p - 1|); normalised by the weight sum.
 * - consistency: the student's mask on a frame and on the same frame shifted by (dy, dx)
 *             pixels (and slightly brightness-jittered), re-aligned, should agree: mean squared
 *             difference of probabilities over the region both views see.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng';
import { boundaryBand } from '../train/losses';

export type FeatureMode = 'attention' | 'l2';

/** Elementwise numerically stable BCE with logits: max(z,0) - z*y + log(1 + exp(-|z|)). */
export function bceWithLogits(z: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.relu(z).sub(z.mul(y)).add(tf.log1p(tf.exp(tf.abs(z).neg()))));
}

/**
 * Per-pixel binary KL(p_t || p_s) * T^2 with p = sigmoid(logits / T).
 * KL = BCE(z_s, p_t) - BCE(z_t, p_t) (cross-entropy minus the teacher's entropy).
 * @returns [B,H,W,1], >= 0 up to rounding.
 */
export function softTargetMap(student: tf.Tensor4D, teacher: tf.Tensor4D, temperature: number): tf.Tensor4D {
  return tf.tidy(() => {
    const zs = student.div(temperature);
    const zt = teacher.div(temperature);
    const pt = tf.sigmoid(zt);
    const kl = bceWithLogits(zs, pt).sub(bceWithLogits(zt, pt));
    return tf.relu(kl).mul(temperature * temperature) as tf.Tensor4D;
  });
}

/** Mean of softTargetMap over every pixel of every row (labeled or not). */
export function softTargetLoss(student: tf.Tensor4D, teacher: tf.Tensor4D, temperature: number): tf.Scalar {
  return tf.tidy(() => softTargetMap(student, teacher, temperature).mean() as tf.Scalar);
}

/**
 * Where the boundary term looks: max(edge band of the teacher's hard mask (width `width`
 * on each side), teacher uncertainty 1 - |2p - 1|). [B,H,W,1] in 0..1, no gradient path.
 */
export function boundaryWeights(teacher: tf.Tensor4D, width: number): tf.Tensor4D {
  return tf.tidy(() => {
    const m = tf.cast(tf.greater(teacher, 0), 'float32') as tf.Tensor4D;
    const band = boundaryBand(m, width);
    const unc = tf.scalar(1).sub(tf.abs(tf.sigmoid(teacher).mul(2).sub(1)));
    return tf.maximum(band, unc) as tf.Tensor4D;
  });
}

/** Boundary-weighted KL at T = 1 (see the file comment). */
export function boundaryLoss(student: tf.Tensor4D, teacher: tf.Tensor4D, width: number): tf.Scalar {
  return tf.tidy(() => {
    const w = boundaryWeights(teacher, width);
    const kl = softTargetMap(student, teacher, 1);
    return kl.mul(w).sum().div(w.sum().add(1e-6)) as tf.Scalar;
  });
}

/** Per-row weights [B,1,1,1] from hasMask [B]. */
function rowWeights(hasMask: tf.Tensor1D): tf.Tensor4D {
  return tf.cast(hasMask, 'float32').reshape([-1, 1, 1, 1]) as tf.Tensor4D;
}

/**
 * Fallback hard-label loss (BCE + soft Dice) over labeled rows only; used when no loss from
 * src/train is injected. Returns 0 when no row is labeled.
 */
export function maskedBceDice(student: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D, bce = 1, dice = 1): tf.Scalar {
  return tf.tidy(() => {
    const rw = rowWeights(hasMask);
    const pixels = student.shape[1] * student.shape[2];
    const nRows = rw.sum();
    const denom = nRows.mul(pixels).add(1e-6);
    const bceTerm = bceWithLogits(student, masks).mul(rw).sum().div(denom);
    const p = tf.sigmoid(student);
    const inter = p.mul(masks).sum([1, 2, 3]);
    const union = p.add(masks).sum([1, 2, 3]);
    const diceRow = tf.scalar(1).sub(inter.mul(2).add(1).div(union.add(1)));
    const diceTerm = diceRow.mul(tf.cast(hasMask, 'float32')).sum().div(nRows.add(1e-6));
    return bceTerm.mul(bce).add(diceTerm.mul(dice)) as tf.Scalar;
  });
}

/** Bilinear resize to [h, w] (identity when already that size). */
function resizeTo(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  if (x.shape[1] === h && x.shape[2] === w) return x;
  return tf.image.resizeBilinear(x, [h, w], false, true);
}

/** Spatial attention map of Zagoruyko & Komodakis: mean_c(F^2), flattened and L2-normalised. [B, H*W] */
export function attentionMap(f: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const a = f.square().mean(3).reshape([f.shape[0], -1]) as tf.Tensor2D;
    return a.div(a.norm('euclidean', 1, true).add(1e-6)) as tf.Tensor2D;
  });
}

/**
 * Feature-distillation loss. `student` [B,h,w,Cs] is the student's `features` map (already
 * passed through the adapter in 'l2' mode, so Cs = Ct), `teacher` [B,H,W,Ct]. The student map
 * is bilinearly resized to the teacher's H, W.
 */
export function featureLoss(student: tf.Tensor4D, teacher: tf.Tensor4D, mode: FeatureMode): tf.Scalar {
  return tf.tidy(() => {
    const s = resizeTo(student, teacher.shape[1], teacher.shape[2]);
    if (mode === 'attention') {
      return attentionMap(s).sub(attentionMap(teacher)).square().sum(1).mean() as tf.Scalar;
    }
    if (s.shape[3] !== teacher.shape[3]) {
      throw new Error(`featureLoss l2: student features have ${s.shape[3]} channels, teacher ${teacher.shape[3]}; use the adapter`);
    }
    return s.sub(teacher).square().mean() as tf.Scalar;
  });
}

/**
 * The 1x1-conv adapter of FitNets: student feature channels -> teacher feature channels.
 * Trained with the student, not part of the exported student.
 */
export class FeatureAdapter {
  readonly layer: tf.layers.Layer;

  constructor(readonly studentChannels: number, readonly teacherChannels: number, seed: number) {
    this.layer = tf.layers.conv2d({
      filters: teacherChannels,
      kernelSize: 1,
      useBias: true,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      name: 'distill_adapter',
    });
    this.layer.build([null, null, null, studentChannels]);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.layer.apply(x) as tf.Tensor4D;
  }

  get variables(): tf.Variable[] {
    return this.layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  }

  getWeights(): tf.Tensor[] {
    return this.layer.getWeights();
  }

  setWeights(ws: tf.Tensor[]): void {
    this.layer.setWeights(ws);
  }

  dispose(): void {
    // Layer.dispose() refuses layers never wired into a model graph; free the weights directly.
    for (const w of this.layer.weights) w.dispose();
  }
}

/** The shift and brightness jitter of the second view, drawn from `rng`. */
export interface ShiftDraw {
  dy: number;
  dx: number;
  gain: number;
}

export function drawShift(rng: Rng, maxShift: number): ShiftDraw {
  let dy = 0;
  let dx = 0;
  if (maxShift > 0) {
    while (dy === 0 && dx === 0) {
      dy = rng.int(-maxShift, maxShift);
      dx = rng.int(-maxShift, maxShift);
    }
  }
  return { dy, dx, gain: rng.uniform(0.95, 1.05) };
}

/**
 * The second view: view[y, x] = frame[y + dy, x + dx] (edge pixels reflected), times `gain`.
 * [B,H,W,C] -> [B,H,W,C]
 */
export function shiftedView(frames: tf.Tensor4D, d: ShiftDraw): tf.Tensor4D {
  return tf.tidy(() => {
    const s = Math.max(Math.abs(d.dy), Math.abs(d.dx));
    const [b, h, w, c] = frames.shape;
    const padded = s > 0 ? tf.mirrorPad(frames, [[0, 0], [s, s], [s, s], [0, 0]], 'reflect') : frames;
    const view = tf.slice(padded, [0, s + d.dy, s + d.dx, 0], [b, h, w, c]) as tf.Tensor4D;
    return d.gain === 1 ? view : (view.mul(d.gain).clipByValue(0, 1) as tf.Tensor4D);
  });
}

/**
 * Consistency between the prediction on the frame (`logitsA`) and on the shifted view
 * (`logitsB`), re-aligned: compare A[y+dy, x+dx] with B[y, x] over the region inside both
 * frames (a border of max|shift| pixels is ignored). Mean squared difference of probabilities.
 */
export function consistencyLoss(logitsA: tf.Tensor4D, logitsB: tf.Tensor4D, d: ShiftDraw): tf.Scalar {
  return tf.tidy(() => {
    const s = Math.max(Math.abs(d.dy), Math.abs(d.dx));
    const [b, h, w] = logitsA.shape;
    const hh = h - 2 * s;
    const ww = w - 2 * s;
    if (hh <= 0 || ww <= 0) throw new Error(`consistency: shift ${s} too large for a ${h}x${w} frame`);
    const a = tf.slice(tf.sigmoid(logitsA), [0, s + d.dy, s + d.dx, 0], [b, hh, ww, 1]);
    const bb = tf.slice(tf.sigmoid(logitsB), [0, s, s, 0], [b, hh, ww, 1]);
    return a.sub(bb).square().mean() as tf.Scalar;
  });
}

/** The weights of each term (cfg.distill plus the boundary band width). */
export interface DistillLossWeights {
  temperature: number;
  soft: number;
  hard: number;
  feature: number;
  featureMode: FeatureMode;
  boundary: number;
  boundaryWidth: number;
  consistency: number;
  consistencyShift: number;
}

/** What one distillation loss evaluation needs; every tensor is owned by the caller. */
export interface DistillTerms {
  student: tf.Tensor4D;
  teacher: tf.Tensor4D;
  masks: tf.Tensor4D;
  hasMask: tf.Tensor1D;
  /** Student features after the adapter ('l2') or raw ('attention'); needed when feature > 0. */
  studentFeatures?: tf.Tensor4D;
  teacherFeatures?: tf.Tensor4D;
  /** Student logits on the shifted view, and the shift; needed when consistency > 0. */
  shifted?: { logits: tf.Tensor4D; draw: ShiftDraw };
  /** The hard-label loss; defaults to maskedBceDice. Must give 0 weight to hasMask-0 rows. */
  hardLoss?: (logits: tf.Tensor4D, masks: tf.Tensor4D, hasMask: tf.Tensor1D) => tf.Scalar;
}

/**
 * Combines the terms by their weights. Terms with weight 0 are not computed (nor reported).
 * The hard term is skipped when no row of the batch is labeled.
 */
export function distillLoss(t: DistillTerms, w: DistillLossWeights, labeledRows: number): { total: tf.Scalar; parts: Record<string, tf.Scalar> } {
  const parts: Record<string, tf.Scalar> = {};
  if (w.soft > 0) parts.soft = softTargetLoss(t.student, t.teacher, w.temperature);
  if (w.hard > 0 && labeledRows > 0) parts.hard = (t.hardLoss ?? maskedBceDice)(t.student, t.masks, t.hasMask);
  if (w.boundary > 0) parts.boundary = boundaryLoss(t.student, t.teacher, w.boundaryWidth);
  if (w.feature > 0) {
    if (!t.studentFeatures || !t.teacherFeatures) throw new Error('distill.feature > 0 but no feature maps were computed');
    parts.feature = featureLoss(t.studentFeatures, t.teacherFeatures, w.featureMode);
  }
  if (w.consistency > 0) {
    if (!t.shifted) throw new Error('distill.consistency > 0 but no shifted view was computed');
    parts.consistency = consistencyLoss(t.student, t.shifted.logits, t.shifted.draw);
  }
  const weightOf: Record<string, number> = { soft: w.soft, hard: w.hard, boundary: w.boundary, feature: w.feature, consistency: w.consistency };
  const total = tf.tidy(() => {
    let sum: tf.Scalar = tf.scalar(0);
    for (const [k, v] of Object.entries(parts)) sum = sum.add(v.mul(weightOf[k])) as tf.Scalar;
    return sum;
  });
  return { total, parts };
}
