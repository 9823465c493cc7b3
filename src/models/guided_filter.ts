/**
 * The mask filter: a trainable deep guided filter.
 *
 * Wu, Zheng, Zhang, Huang, "Fast End-to-End Trainable Guided Filter", CVPR 2018
 * (building on He, Sun, Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013, and
 * He & Sun, "Fast Guided Filter", 2015).
 *
 * The CNN predicts a low-resolution mask p_l. A small learned guidance net g (1x1 convs,
 * shared weights) turns the low-res frame and the full-res frame into guidance maps
 * I_l = g(frame_l), I_h = g(frame_h). At low resolution, in every (2r+1)^2 window:
 *   A = cov(I_l, p_l) / (var(I_l) + eps),   b = mean(p_l) - A * mean(I_l)
 * A and b are box-averaged, bilinearly upsampled to full resolution and applied to the
 * full-resolution guide: q = mean(A)_up * I_h + mean(b)_up. Edges present in the frame but
 * lost in the low-res mask come back at full resolution, for a few ops per pixel.
 *
 * What is filtered (`space`):
 * - 'prob' (every new model): P(person) = sigmoid(logits), a map in 0..1 like the guide, as in
 *   Wu et al. and RVM's refiner. The output q is turned back into logits (the model contract) as
 *   logit(clip(q, 1e-4, 1 - 1e-4)) + (q - clip(q)), so a q that overshoots 0..1 keeps a gradient.
 *   The learned part of the guide starts 1e-3 small, so an untrained filter is (within 1e-3) the
 *   classic gray-guided filter, which already beats bilinear upsampling of the selfie net's masks at the
 *   photos' resolution (docs/recipes.md, "The mask filter").
 * - 'logits' (the first version, kept so saved models load unchanged): filters the logits
 *   directly. Measured to fail: imported nets' logits reach +-1000, and a local linear fit of
 *   such values against a 0..1 guide turns clothing and background texture into edges.
 *
 * Box filters are the mean over the valid pixels of each window (boxMean: separable box sums
 * as convolutions; ONNX AveragePool with count_include_pad=0, TFLite's SAME AVERAGE_POOL_2D).
 * Pad, conv2d, their gradients, matMul and ResizeBilinear(Grad) exist on cpu, wasm and the
 * native backends, so the layer trains on each. eps = exp(logEps) is trainable (positive by design).
 */
import * as tf from '@tensorflow/tfjs';
import { GUIDED_FILTER_KERNEL, GuidedFilterKernelAttrs, wasmGuidedFilterFits } from './kernels/guided-filter-wasm';

type Shape = (number | null)[];
type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/**
 * Mean over the valid pixels of each (2r+1)^2 window. x: [B,h,w,C].
 * Separable: a (2r+1)x1 then a 1x(2r+1) box sum as convolutions of the zero-padded map ('valid'),
 * divided by the number of valid pixels, known from the shape (on wasm: the same sums as average
 * pools of the zero-padded map, 'valid', which are faster there). Convolution gradients are fast on
 * every backend, where the (2r+1)^2 average pool's gradient was most of a training step on the
 * native one (AvgPoolGrad: 1.0 of 1.8 s for a batch of 8 at 768x768); and no pool ever sees
 * padding (tfjs-backend-cpu's AvgPoolGrad is wrong with 'same' padding).
 */
export function boxMean(x: tf.Tensor4D, r: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    const n = 2 * r + 1;
    const pad = (t: tf.Tensor4D, axis: 1 | 2) => t.pad(axis === 1 ? [[0, 0], [r, r], [0, 0], [0, 0]] : [[0, 0], [0, 0], [r, r], [0, 0]]) as tf.Tensor4D;
    const inv = tf.tensor4d(inverseCounts(h, w, r), [1, h, w, 1]);
    if (tf.getBackend() === 'wasm') {
      // XNNPACK's average pooling is about 2x its depthwise convolution for a few channels; the
      // pools' means of the zero-padded map are sums / n (wasm has their gradient too)
      const avg = (t: tf.Tensor4D, axis: 1 | 2) => tf.avgPool(pad(t, axis), axis === 1 ? [n, 1] : [1, n], 1, 'valid');
      return avg(avg(x, 1), 2).mul(inv.mul(n * n)) as tf.Tensor4D;
    }
    const along = (t: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D => {
      const kernel = tf.ones(axis === 1 ? [n, 1, c, 1] : [1, n, c, 1]) as tf.Tensor4D;
      return c === 1 ? tf.conv2d(pad(t, axis), kernel, 1, 'valid') : tf.depthwiseConv2d(pad(t, axis), kernel, 1, 'valid');
    };
    return along(along(x, 1), 2).mul(inv) as tf.Tensor4D;
  });
}

/** 1 / (pixels of each (2r+1)^2 window inside an h x w map), row-major; computed once per size (plain arrays: no tensor outlives a call). */
const INVERSE_COUNTS = new Map<string, Float32Array>();
function inverseCounts(h: number, w: number, r: number): Float32Array {
  const key = `${h}x${w}:${r}`;
  let inv = INVERSE_COUNTS.get(key);
  if (!inv) {
    const counts = (len: number) => Float32Array.from({ length: len }, (_, i) => Math.min(len - 1, i + r) - Math.max(0, i - r) + 1);
    const ch = counts(h);
    const cw = counts(w);
    inv = new Float32Array(h * w);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) inv[i * w + j] = 1 / (ch[i] * cw[j]);
    // many sizes (eval over photos of every size): start over rather than grow without bound
    if (INVERSE_COUNTS.size >= 64) INVERSE_COUNTS.clear();
    INVERSE_COUNTS.set(key, inv);
  }
  return inv;
}

/**
 * The guided-filter math on given guides (no learned parts).
 * p: [B,h,w,1] low-res input to filter; guideLow: [B,h,w,1]; guideHigh: [B,H,W,1].
 * Returns q: [B,H,W,1].
 */
export function guidedUpsample(
  p: tf.Tensor4D,
  guideLow: tf.Tensor4D,
  guideHigh: tf.Tensor4D,
  radius: number,
  eps: number | tf.Tensor,
): tf.Tensor4D {
  return tf.tidy(() => {
    // the four window means in one box filter of a 4-channel map, a and b's in one of 2 channels,
    // and one resize: fewer, larger kernels (inference on wasm is dominated by kernel count here)
    const [meanI, meanP, meanIP, meanII] = tf.split(boxMean(tf.concat([guideLow, p, guideLow.mul(p), guideLow.square()], 3) as tf.Tensor4D, radius), 4, 3) as tf.Tensor4D[];
    const covIP = meanIP.sub(meanI.mul(meanP));
    const varI = meanII.sub(meanI.square());
    const a = covIP.div(varI.add(eps)) as tf.Tensor4D;
    const b = meanP.sub(a.mul(meanI)) as tf.Tensor4D;
    const [, H, W] = guideHigh.shape;
    // split at low resolution, then one resize each (a split of a full-resolution map costs more)
    const [meanA, meanB] = (tf.split(boxMean(tf.concat([a, b], 3) as tf.Tensor4D, radius), 2, 3) as tf.Tensor4D[]).map((t) =>
      t.shape[1] !== H || t.shape[2] !== W ? tf.image.resizeBilinear(t, [H, W]) : t,
    );
    return meanA.mul(guideHigh).add(meanB) as tf.Tensor4D;
  });
}

export interface GuidedFilterArgs {
  /** Box radius at low resolution (window 2r+1). */
  radius: number;
  /** Initial eps (regularises var(I)). */
  eps: number;
  /** Hidden channels of the 1x1 guidance net. */
  channels: number;
  trainableEps?: boolean;
  seed?: number;
  /** What is filtered: P(person) ('prob', new models) or the logits ('logits', the first version; the default of saved layers without the key). */
  space?: FilterSpace;
}

export type FilterSpace = 'prob' | 'logits';

/** Rec. 601 luma: the fixed part of the guidance map (the learned part is added to it); the exporters write the same. */
export const GUIDE_LUMA = [0.299, 0.587, 0.114] as const;
const LUMA = [...GUIDE_LUMA];
/** Keeps the luminance channel of guideFast's hidden layer above 0 (LeakyReLU's identity side) for frames down to -1; small, so float32 keeps the guide to ~1e-7. */
const LUMA_SHIFT = 1;

/** The fused guide's 1x1 kernels and biases (GuidedFilter.fusedGuideKernels). */
interface FusedGuideKernels {
  w1: tf.Tensor4D;
  b1: tf.Tensor1D;
  w2: tf.Tensor4D;
  b2: tf.Tensor1D;
}

/** Whether a gradient tape is recording (inside tf.grad, variableGrads, a training step). */
function recordingGradients(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/** Clip bound of the filtered probability before it becomes logits again (|logit| <= 9.2). */
export const PROB_CLIP = 1e-4;

/** logit(clip(q)) + (q - clip(q)): the inverse sigmoid of a probability map that may overshoot 0..1 (continuous, never flat). */
export function probToLogits(q: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const qc = q.clipByValue(PROB_CLIP, 1 - PROB_CLIP);
    return qc.div(qc.neg().add(1)).log().add(q.sub(qc)) as tf.Tensor4D;
  });
}

/**
 * inputs: [logitsLow [B,h,w,1], frameLow [B,h,w,3] (0..1), frameHigh [B,H,W,3] (0..1)]
 * output: logits [B,H,W,1].
 * Weights: guide_w1 [3,c], guide_b1 [c], guide_w2 [c,1], log_eps [1]. (No output bias on the
 * guide: the filter is invariant to a constant added to I, so it would get no gradient.)
 */
export class GuidedFilter extends tf.layers.Layer {
  static className = 'GuidedFilter';
  readonly radius: number;
  readonly epsInit: number;
  readonly channels: number;
  readonly trainableEps: boolean;
  readonly seed: number | undefined;
  readonly space: FilterSpace;
  private w1!: tf.LayerVariable;
  private b1!: tf.LayerVariable;
  private w2!: tf.LayerVariable;
  private logEps!: tf.LayerVariable;

  constructor(args: LayerArgs & GuidedFilterArgs) {
    super(args);
    if (!Number.isInteger(args.radius) || args.radius < 1) throw new Error(`GuidedFilter: radius must be an integer >= 1, got ${args.radius}`);
    if (!(args.eps > 0)) throw new Error(`GuidedFilter: eps must be > 0, got ${args.eps}`);
    if (!Number.isInteger(args.channels) || args.channels < 1) throw new Error(`GuidedFilter: channels must be an integer >= 1, got ${args.channels}`);
    this.radius = args.radius;
    this.epsInit = args.eps;
    this.channels = args.channels;
    this.trainableEps = args.trainableEps ?? true;
    this.seed = args.seed;
    this.space = args.space ?? 'logits';
    if (this.space !== 'prob' && this.space !== 'logits') throw new Error(`GuidedFilter: space must be 'prob' or 'logits', got ${String(args.space)}`);
  }

  build(): void {
    const c = this.channels;
    const s = this.seed;
    const init = (k: number) => tf.initializers.glorotUniform({ seed: s === undefined ? undefined : s + k });
    this.w1 = this.addWeight('guide_w1', [3, c], 'float32', init(1));
    this.b1 = this.addWeight('guide_b1', [c], 'float32', tf.initializers.zeros());
    // 'prob' starts next to the classic gray-guided filter (a learned part 1e-3 small, not zero, so
    // that guide_w1 gets a gradient from the first step); 'logits' as it always did
    const small = tf.initializers.randomUniform({ minval: -1e-3, maxval: 1e-3, seed: s === undefined ? undefined : s + 2 });
    this.w2 = this.addWeight('guide_w2', [c, 1], 'float32', this.space === 'prob' ? small : init(2));
    this.logEps = this.addWeight('log_eps', [1], 'float32', tf.initializers.constant({ value: Math.log(this.epsInit) }), undefined, this.trainableEps);
    this.built = true;
  }

  /**
   * Guidance map: luminance plus a learned 1x1 net (3 -> c -> 1, LeakyReLU 0.2), so the
   * filter starts as the classic gray-guide guided filter and learns a better guide.
   * Written as matMul on [N,3] rows (measured as fast as 1x1 convolutions on the native backend)
   * when training or where gradients are recorded; otherwise (inference: eval, blur, a frozen
   * teacher) as two fused 1x1 convolutions, about 1.5x faster on wasm (guideFast; the two agree to
   * ~1e-7).
   */
  guide(frame: tf.Tensor4D, training = true, fused?: FusedGuideKernels): tf.Tensor4D {
    if (!training && !recordingGradients()) return this.guideFast(frame, fused);
    return tf.tidy(() => {
      const [b, h, w] = frame.shape;
      const rows = frame.reshape([-1, 3]) as tf.Tensor2D;
      const luma = rows.matMul(tf.tensor2d(LUMA, [3, 1]));
      const hidden = tf.leakyRelu(rows.matMul(this.w1.read() as tf.Tensor2D).add(this.b1.read()), 0.2) as tf.Tensor2D;
      const learned = hidden.matMul(this.w2.read() as tf.Tensor2D);
      return luma.add(learned).reshape([b, h, w, 1]) as tf.Tensor4D;
    });
  }

  /**
   * The same guide in two fused convolutions (no gradient: tfjs' fused LeakyReLU has none). The
   * luminance rides along as one more hidden channel, luma + 1, which LeakyReLU passes unchanged
   * for frames in 0..1 (or -1..1); the second convolution's bias takes the 1 off again (leaving it would cost
   * var(I) its precision in float32). `kernels`: those of fusedGuideKernels, built once per call
   * for both guides.
   */
  guideFast(frame: tf.Tensor4D, kernels?: FusedGuideKernels): tf.Tensor4D {
    return tf.tidy(() => {
      const k = kernels ?? this.fusedGuideKernels();
      const hidden = tf.fused.conv2d({ x: frame, filter: k.w1, strides: 1, pad: 'valid', bias: k.b1, activation: 'leakyrelu', leakyreluAlpha: 0.2 });
      return tf.fused.conv2d({ x: hidden, filter: k.w2, strides: 1, pad: 'valid', bias: k.b2 });
    });
  }

  /** guideFast's kernels from the current weights (the caller disposes them, e.g. in a tidy). */
  fusedGuideKernels(): FusedGuideKernels {
    const c = this.channels;
    return {
      w1: tf.concat([this.w1.read(), tf.tensor2d(LUMA, [3, 1])], 1).reshape([1, 1, 3, c + 1]) as tf.Tensor4D,
      b1: tf.concat([this.b1.read() as tf.Tensor1D, tf.tensor1d([LUMA_SHIFT])]),
      w2: tf.concat([this.w2.read(), tf.ones([1, 1])], 0).reshape([1, 1, c + 1, 1]) as tf.Tensor4D,
      b2: tf.tensor1d([-LUMA_SHIFT]),
    };
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [p, , high] = inputShape as Shape[];
    return [p[0], high[1], high[2], 1];
  }

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor {
    return tf.tidy(() => {
      const [p, frameLow, frameHigh] = inputs as tf.Tensor4D[];
      const training = kwargs.training === true;
      const inference = !training && !recordingGradients();
      // inference on wasm: the whole filter as one SIMD kernel (kernels/guided-filter-wasm.ts)
      if (inference && wasmGuidedFilterFits(p.shape, frameLow.shape, frameHigh.shape)) {
        const named = { p: this.space === 'prob' ? p.sigmoid() : p, frameLow, frameHigh, w1: this.w1.read(), b1: this.b1.read(), w2: this.w2.read(), logEps: this.logEps.read() };
        const attrs: GuidedFilterKernelAttrs = { radius: this.radius, luma: GUIDE_LUMA, prob: this.space === 'prob', clip: PROB_CLIP };
        return tf.engine().runKernel(GUIDED_FILTER_KERNEL, named as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
      }
      // the fused guide's kernels once for both guides (inference only)
      const fused = inference ? this.fusedGuideKernels() : undefined;
      const eps = this.logEps.read().exp();
      const [gl, gh] = [this.guide(frameLow, training, fused), this.guide(frameHigh, training, fused)];
      if (this.space === 'logits') return guidedUpsample(p, gl, gh, this.radius, eps);
      return probToLogits(guidedUpsample(p.sigmoid() as tf.Tensor4D, gl, gh, this.radius, eps));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    const cfg: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      radius: this.radius,
      eps: this.epsInit,
      channels: this.channels,
      trainableEps: this.trainableEps,
      space: this.space,
    };
    if (this.seed !== undefined) cfg.seed = this.seed;
    return cfg;
  }
}
