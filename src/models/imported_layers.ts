/**
 * The few custom layers imported models need beyond tfjs' built-in ones (src/models/import).
 * Each has a forward pass written in ops whose gradients are right on cpu and wasm, and
 * plain math that the exporters can write as standard ops:
 *
 *   HardSwish       y = x * relu6(x + 3) / 6                    (TFLite HARD_SWISH; Howard et al.,
 *                                                                "Searching for MobileNetV3", 2019)
 *   BilinearResize  tf.image.resizeBilinear(x, size, alignCorners, halfPixelCenters)
 *                                                               (TFLite RESIZE_BILINEAR)
 *   ConstantOp      y = x + value  or  y = x * value, value broadcast on the trailing axes
 *                                                               (TFLite ADD / MUL with a constant)
 *   ClipLogit       y = log(p / (1 - p)), p = clip(x, eps, 1 - eps): logits of a probability the
 *                   file clips to 0..1 (a matting net's alpha), with a straight-through gradient
 *                   (below); no ONNX / TFLite mapping yet
 */
import * as tf from '@tensorflow/tfjs';
import { firstShape, one, type LayerArgs, type Shape } from './layer_utils';


/** Hard swish (MobileNetV3): x * relu6(x + 3) / 6. */
export class HardSwish extends tf.layers.Layer {
  static className = 'HardSwish';

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return firstShape(inputShape);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      return x.mul(tf.relu6(x.add(3))).div(6);
    });
  }
}

/**
 * The 1-D bilinear interpolation matrix [outSize, inSize] of TensorFlow's resize_bilinear
 * (tensorflow/core/kernels/image/resize_bilinear_op.cc compute_interpolation_weights, the same
 * in TFLite's reference ResizeBilinear): source coordinate in = out * scale, or
 * (out + 0.5) * scale - 0.5 with half-pixel centers; scale = in/out, or (in-1)/(out-1) with
 * aligned corners; lower = max(floor(in), 0), upper = min(ceil(in), inSize - 1),
 * weights (1 - frac, frac) with frac = in - floor(in).
 */
export function bilinearMatrix(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? (o + 0.5) * scale - 0.5 : o * scale;
    const f = Math.floor(src);
    const lo = Math.max(f, 0);
    const hi = Math.min(Math.ceil(src), inSize - 1);
    const frac = src - f;
    m[o * inSize + lo] += 1 - frac;
    m[o * inSize + hi] += frac;
  }
  return m;
}

/**
 * Bilinear resize with TensorFlow's alignCorners / halfPixelCenters options, as two matrix
 * products (rows, then columns) with the interpolation matrices above. Written this way
 * (not tf.image.resizeBilinear) because tfjs' ResizeBilinearGrad ignores halfPixelCenters:
 * matMul, transpose and reshape have exact gradients on every backend.
 * x: [B, H, W, C] -> [B, size[0], size[1], C].
 */
export function resizeBilinearExact(x: tf.Tensor4D, size: [number, number], alignCorners: boolean, halfPixelCenters: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const [oh, ow] = size;
    let y: tf.Tensor = x;
    if (oh !== h || alignCorners || halfPixelCenters) {
      const mh = tf.tensor2d(bilinearMatrix(h, oh, alignCorners, halfPixelCenters), [oh, h]);
      // [B,H,W,C] -> [H, B*W*C] -> [oh, B*W*C] -> [B,oh,W,C]
      const rows = y.transpose([1, 0, 2, 3]).reshape([h, b * w * c]);
      y = mh.matMul(rows as tf.Tensor2D).reshape([oh, b, w, c]).transpose([1, 0, 2, 3]);
    }
    if (ow !== w || alignCorners || halfPixelCenters) {
      const mw = tf.tensor2d(bilinearMatrix(w, ow, alignCorners, halfPixelCenters), [ow, w]);
      // [B,oh,W,C] -> [W, B*oh*C] -> [ow, B*oh*C] -> [B,oh,ow,C]
      const cols = y.transpose([2, 0, 1, 3]).reshape([w, b * oh * c]);
      y = mw.matMul(cols as tf.Tensor2D).reshape([ow, b, oh, c]).transpose([1, 2, 0, 3]);
    }
    return (y === x ? x.clone() : y) as tf.Tensor4D;
  });
}

/** TensorFlow / TFLite bilinear resize to a fixed size, with its alignCorners / halfPixelCenters options. */
export class BilinearResize extends tf.layers.Layer {
  static className = 'BilinearResize';
  readonly size: [number, number];
  readonly alignCorners: boolean;
  readonly halfPixelCenters: boolean;

  constructor(args: LayerArgs & { size: [number, number]; alignCorners?: boolean; halfPixelCenters?: boolean }) {
    super(args);
    this.size = [args.size[0], args.size[1]];
    this.alignCorners = !!args.alignCorners;
    this.halfPixelCenters = !!args.halfPixelCenters;
    if (this.alignCorners && this.halfPixelCenters) throw new Error('BilinearResize: alignCorners and halfPixelCenters cannot both be true');
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = firstShape(inputShape);
    return [s[0], this.size[0], this.size[1], s[3]];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return resizeBilinearExact(one(inputs) as tf.Tensor4D, this.size, this.alignCorners, this.halfPixelCenters);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, alignCorners: this.alignCorners, halfPixelCenters: this.halfPixelCenters };
  }
}

/**
 * x + value or x * value with a stored constant `value` (broadcast on the trailing axes:
 * [] scalar, [C], [1,1,C], ...). For a graph's Add/Mul with a constant that is not a conv bias.
 * The weight is trainable when `trainable` says so (per-channel constants), frozen otherwise.
 */
export class ConstantOp extends tf.layers.Layer {
  static className = 'ConstantOp';
  readonly op: 'add' | 'mul';
  readonly valueShape: number[];
  readonly valueTrainable: boolean;
  private value!: tf.LayerVariable;

  constructor(args: LayerArgs & { op: 'add' | 'mul'; shape: number[]; valueTrainable?: boolean }) {
    super(args);
    if (args.op !== 'add' && args.op !== 'mul') throw new Error(`ConstantOp: op must be 'add' or 'mul', got ${String(args.op)}`);
    this.op = args.op;
    this.valueShape = [...args.shape];
    this.valueTrainable = args.valueTrainable ?? true;
  }

  build(): void {
    const init = this.op === 'mul' ? tf.initializers.ones() : tf.initializers.zeros();
    this.value = this.addWeight('value', this.valueShape, 'float32', init, undefined, this.valueTrainable);
    this.built = true;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = firstShape(inputShape);
    const out = [...s];
    // broadcasting may only widen axes of size 1 in x
    const off = out.length - this.valueShape.length;
    this.valueShape.forEach((d, i) => {
      if (out[off + i] === 1 && d !== 1) out[off + i] = d;
    });
    return out;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const v = this.value.read();
      return this.op === 'add' ? x.add(v) : x.mul(v);
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), op: this.op, shape: this.valueShape, valueTrainable: this.valueTrainable };
  }
}

/** ClipLogit's clip: sigmoid(logits) = p within 1e-6 of the file's clip(x, 0, 1); |logits| <= 13.8. */
export const CLIP_LOGIT_EPS = 1e-6;

/** Where ClipLogit's backward stops following 1 / (p (1 - p)): its gradient is at most 1 / (0.05 * 0.95) = 21. */
export const CLIP_LOGIT_GRAD_FLOOR = 0.05;

/**
 * Logits of a probability that a file clips to 0..1 (RVM's alpha `pha` = clamp(x, 0, 1)):
 * forward log(p / (1 - p)) with p = clip(x, eps, 1 - eps), so sigmoid(y) is the file's output
 * within eps. Backward, dy/dx = 1 / (q (1 - q)) with q = clip(x, 0.05, 0.95): the exact derivative
 * where 0.05 <= x <= 0.95, bounded near 0 and 1, and passed through where the clip saturates.
 * The exact derivative of the clip would be zero there (a wrong pixel at x = -0.3 could never be
 * corrected by a loss on the logits) and 1 / eps next to it (a cross-entropy gradient of 1e6).
 */
export class ClipLogit extends tf.layers.Layer {
  static className = 'ClipLogit';
  readonly eps: number;

  constructor(args: LayerArgs & { eps?: number }) {
    super(args);
    this.eps = args.eps ?? CLIP_LOGIT_EPS;
    if (!(this.eps > 0 && this.eps < 0.5)) throw new Error(`ClipLogit: eps must be in (0, 0.5), got ${this.eps}`);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return firstShape(inputShape);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const eps = this.eps;
    const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      const p = tf.clipByValue(x, eps, 1 - eps);
      return {
        value: tf.sub(tf.log(p), tf.log1p(tf.neg(p))),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const q = tf.clipByValue(saved[0], CLIP_LOGIT_GRAD_FLOOR, 1 - CLIP_LOGIT_GRAD_FLOOR);
          return tf.div(dy, tf.mul(q, tf.sub(1, q)));
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return f(one(inputs));
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), eps: this.eps };
  }
}

/** Every class above, for registration with tf.serialization (src/models/layers.ts registerCustomLayers). */
export const IMPORTED_LAYERS = [HardSwish, BilinearResize, ConstantOp, ClipLogit] as const;

/** Their class names (for exporters that must map them to other formats). */
export const IMPORTED_LAYER_CLASSES = ['HardSwish', 'BilinearResize', 'ConstantOp', 'ClipLogit'] as const;
