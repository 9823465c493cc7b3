/**
 * Small custom layers that make every portraitseg model honour the model contract
 * (src/models/types.ts): RGB 0..1 of any H, W in, logits at the same H, W out.
 *
 * Their math is deliberately basic (sub/div, bilinear resize) so the export module can
 * write them as standard ONNX ops (Sub, Div, Resize mode=linear
 * coordinate_transformation_mode=asymmetric).
 *
 * Resizes use tfjs' default bilinear sampling (alignCorners=false, halfPixelCenters=false,
 * i.e. "asymmetric"): tfjs' ResizeBilinearGrad ignores halfPixelCenters, so the default
 * is the only setting whose gradient is right on cpu and wasm. Using the same convention
 * for every down- and up-sampling keeps the low-res and full-res grids aligned.
 */
import * as tf from '@tensorflow/tfjs';
import { firstShape, one, type LayerArgs, type Shape } from './layer_utils';
import { GuidedFilter } from './guided_filter';
import { IMPORTED_LAYERS, IMPORTED_LAYER_CLASSES } from './imported_layers';


/** (x - mean) / std per channel, on 0..1 RGB. */
export class Normalize extends tf.layers.Layer {
  static className = 'Normalize';
  readonly mean: number[];
  readonly std: number[];

  constructor(args: LayerArgs & { mean: number[]; std: number[] }) {
    super(args);
    this.mean = [...args.mean];
    this.std = [...args.std];
    if (this.std.some((v) => !(v > 0))) throw new Error(`Normalize: std must be > 0, got [${this.std.join(', ')}]`);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return firstShape(inputShape);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      // x * (1/std) + (-mean/std): one mul and one add per pixel
      const scale = tf.tensor1d(this.std.map((s) => 1 / s));
      const shift = tf.tensor1d(this.mean.map((m, i) => -m / this.std[i]));
      return x.mul(scale).add(shift);
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mean: this.mean, std: this.std };
  }
}

/** Bilinear resize of [B,H,W,C] to a fixed [h, w]; identity (no resampling) when already that size. */
export class ResizeTo extends tf.layers.Layer {
  static className = 'ResizeTo';
  readonly size: [number, number];

  constructor(args: LayerArgs & { size: [number, number] }) {
    super(args);
    this.size = [args.size[0], args.size[1]];
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = firstShape(inputShape);
    return [s[0], this.size[0], this.size[1], s[3]];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = one(inputs) as tf.Tensor4D;
    if (x.shape[1] === this.size[0] && x.shape[2] === this.size[1]) return x.clone();
    return tf.image.resizeBilinear(x, this.size);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size };
  }
}

/** inputs [x [B,h,w,C], ref [B,H,W,*]] -> x bilinearly resized to H, W (identity when equal). */
export class ResizeLike extends tf.layers.Layer {
  static className = 'ResizeLike';

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [x, ref] = inputShape as Shape[];
    return [x[0], ref[1], ref[2], x[3]];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [x, ref] = inputs as tf.Tensor4D[];
    if (x.shape[1] === ref.shape[1] && x.shape[2] === ref.shape[2]) return x.clone();
    return tf.image.resizeBilinear(x, [ref.shape[1], ref.shape[2]]);
  }
}

let cpuResizeGradPatched = false;

/**
 * tfjs-backend-cpu 4.22's ResizeBilinearGrad returns the right values under a wrong shape
 * label ([B, W, H, C] instead of [B, H, W, C]), so any bilinear resize of a non-square
 * tensor fails in backprop on cpu. The data layout is already [B, H, W, C]: relabel it.
 * (wasm's kernel is correct.) Idempotent; no-op when the kernel is not registered.
 */
export function patchCpuResizeBilinearGrad(): void {
  if (cpuResizeGradPatched) return;
  cpuResizeGradPatched = true;
  const orig = tf.getKernel('ResizeBilinearGrad', 'cpu');
  if (!orig) return;
  tf.unregisterKernel('ResizeBilinearGrad', 'cpu');
  tf.registerKernel({
    ...orig,
    kernelFunc: (args) => {
      const out = orig.kernelFunc(args) as tf.TensorInfo;
      const images = args.inputs.images as tf.TensorInfo;
      return { ...out, shape: [...images.shape] };
    },
  });
}

let registered = false;

/**
 * Registers every portraitseg custom layer with tf.serialization so that
 * tf.loadLayersModel can rebuild saved models (Node and browser), and fixes the cpu
 * ResizeBilinearGrad shape bug (see patchCpuResizeBilinearGrad). Idempotent.
 */
export function registerCustomLayers(): void {
  patchCpuResizeBilinearGrad();
  if (registered) return;
  for (const cls of [Normalize, ResizeTo, ResizeLike, GuidedFilter, ...IMPORTED_LAYERS]) {
    tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
  }
  registered = true;
}

/** Class names of our custom layers (for exporters that must map them to other formats). */
export const CUSTOM_LAYER_CLASSES = ['Normalize', 'ResizeTo', 'ResizeLike', 'GuidedFilter', ...IMPORTED_LAYER_CLASSES] as const;
