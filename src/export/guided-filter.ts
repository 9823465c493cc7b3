/**
 * The mask filter (src/models/guided_filter.ts, the deep guided filter of Wu et al., CVPR 2018)
 * as the exporters write it: the layer's parameters read once, and its math written once over
 * a handful of primitives each format supplies (ONNX and TFLite op tables). A change to the
 * layer's math is a change here (and in the primitives it may need), never in two writers.
 *
 * Both formats compute box means as an average pool (k = 2r+1, stride 1) over the valid pixels
 * only (ONNX count_include_pad=0, TFLite SAME), which is guided_filter.ts' boxMean.
 */
import * as tf from '@tensorflow/tfjs';
import { FilterSpace, GUIDE_LUMA, PROB_CLIP } from '../models/guided_filter';
import { values } from './fold';
import type { Unsupported } from './walk';

export { GUIDE_LUMA };

/** What the exporters need of a GuidedFilter layer. */
export interface GuidedFilterParams {
  radius: number;
  eps: number;
  /** Hidden channels of the guidance net. */
  hidden: number;
  /** Guidance net 1x1 convs as tfjs dense weights: w1 [3, hidden], b1 [hidden], w2 [hidden, 1], b2 [1] (null = no bias). */
  w1: tf.Tensor;
  b1: tf.Tensor | null;
  w2: tf.Tensor;
  b2: tf.Tensor | null;
  /** What is filtered: P(person) ('prob') or the logits (models saved before 'prob'). */
  space: FilterSpace;
}

export function guidedFilterParams(layer: tf.layers.Layer, unsupported: Unsupported): GuidedFilterParams {
  const find = (suffix: string) => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
    return i < 0 ? null : layer.getWeights()[i];
  };
  const byName = (suffix: string) => {
    const t = find(suffix);
    if (!t) throw unsupported(layer.name, 'GuidedFilter', `weight ${suffix} not found among ${layer.weights.map((w) => w.originalName).join(', ')}`);
    return t;
  };
  const w1 = byName('guide_w1');
  const b1 = find('guide_b1');
  const w2 = byName('guide_w2');
  const b2 = find('guide_b2'); // optional: the guidance net may have no output bias
  const eps = Math.exp(values(byName('log_eps'))[0]);
  const cfg = layer.getConfig();
  return { radius: cfg.radius as number, eps, hidden: w1.shape[1] as number, w1, b1, w2, b2, space: (cfg.space as FilterSpace | undefined) ?? 'logits' };
}

/** The primitives the filter's math is written in. `T` is a format's tensor, `S` a spatial size. */
export interface GuidedFilterOps<T, S> {
  /** The guidance map maker: frame [.., 3] -> luma + learned 1x1-conv net [.., 1]. */
  guidance(p: GuidedFilterParams): (frame: T, tag: 'low' | 'high') => T;
  /** Mean over the valid pixels of each (2r+1)^2 window. */
  box(t: T): T;
  /** Element-wise ops; `tag` names the result within the layer ('' = the layer's own output). */
  mul(tag: string, a: T, b: T): T;
  sub(tag: string, a: T, b: T): T;
  add(tag: string, a: T, b: T): T;
  div(tag: string, a: T, b: T): T;
  scalar(tag: string, v: number): T;
  /** Element-wise sigmoid, natural log, and clip to [lo, hi] (the 'prob' space). */
  sigmoid(tag: string, t: T): T;
  log(tag: string, t: T): T;
  clip(tag: string, t: T, lo: number, hi: number): T;
  /** The spatial size of a tensor, for `resize`. */
  sizeOf(t: T, like: T): S;
  /** Bilinear (tfjs sampling: alignCorners=false, halfPixelCenters=false) to a size. */
  resize(tag: string, t: T, size: S): T;
}

/**
 * q = mean(A)_up * I_high + mean(b)_up with A = cov(I, p) / (var(I) + eps), b = mean(p) - A mean(I)
 * at low resolution (guided_filter.ts guidedUpsample), of P(person) in space 'prob' (then back to
 * logits, as probToLogits) or of the logits. ins: [p low-res logits, frame low, frame high].
 * The order of the calls is the order ops land in the file: keep it when editing (parity tests
 * compare exported bytes' outputs, the export tests compare the files).
 */
export function emitGuidedFilter<T, S>(ops: GuidedFilterOps<T, S>, params: GuidedFilterParams, ins: T[]): T {
  const guide = ops.guidance(params);
  // space 'prob' (src/models/guided_filter.ts): filter P(person), then back to logits
  const prob = params.space === 'prob';
  const [pIn, frameLow, frameHigh] = ins;
  const p = prob ? ops.sigmoid('prob', pIn) : pIn;
  const iLow = guide(frameLow, 'low');
  const iHigh = guide(frameHigh, 'high');
  const meanI = ops.box(iLow);
  const meanP = ops.box(p);
  const covIP = ops.sub('cov_ip', ops.box(ops.mul('ip', iLow, p)), ops.mul('mean_i_p', meanI, meanP));
  const varI = ops.sub('var_i', ops.box(ops.mul('ii', iLow, iLow)), ops.mul('mean_i2', meanI, meanI));
  const a = ops.div('a', covIP, ops.add('var_eps', varI, ops.scalar('eps', params.eps)));
  const b = ops.sub('b', meanP, ops.mul('a_mean_i', a, meanI));
  const size = ops.sizeOf(p, frameHigh);
  const meanA = ops.resize('mean_a_up', ops.box(a), size);
  const meanB = ops.resize('mean_b_up', ops.box(b), size);
  if (!prob) return ops.add('', ops.mul('a_i', meanA, iHigh), meanB);
  const q = ops.add('q', ops.mul('a_i', meanA, iHigh), meanB);
  // logit(clip(q)) + (q - clip(q)), as probToLogits
  const qc = ops.clip('q_clip', q, PROB_CLIP, 1 - PROB_CLIP);
  const odds = ops.div('odds', qc, ops.sub('one_minus_q', ops.scalar('one', 1), qc));
  return ops.add('', ops.log('log_odds', odds), ops.sub('q_over', q, qc));
}
