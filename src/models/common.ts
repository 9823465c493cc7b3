/**
 * Shared pieces of the model families: argument validation, seeded initialisers,
 * conv blocks, and `wrapContract`, which puts every CNN body inside the model contract
 * (resize in, normalise, logits back at the frame's size, optionally through the mask filter).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, didYouMean } from '../config/schema';
import { makeRng, Rng } from '../util/rng';
import { MAX_FRAME_SIDE, MAX_MODEL_SIDE } from '../util/size';
import { Normalize, ResizeLike, ResizeTo } from './layers';
import { FilterSpace, GuidedFilter } from './guided_filter';

export type SymbolicTensor = tf.SymbolicTensor;

/** ImageNet statistics (the usual choice; models are trained from scratch, any fixed values work). */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Arguments every family accepts (the mask filter and the input contract). */
export interface ContractArgs {
  inputSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  maskFilter: boolean;
  /** Frame size = inputSize * filterScale when the mask filter is on. */
  filterScale: number;
  filterRadius: number;
  filterEps: number;
  filterChannels: number;
  /** What the mask filter filters: P(person) ('prob') or, in models saved before it, the logits. */
  filterSpace: FilterSpace;
}

export const CONTRACT_DEFAULTS: ContractArgs = {
  inputSize: [128, 128],
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  maskFilter: false,
  filterScale: 2,
  // measured on eg1800-val with the untrained filter over MediaPipe's selfie (docs/recipes.md, "The
  // mask filter"): radius 4 and eps 1e-3 gain most (r 1-4 x eps 1e-4..1e-2)
  filterRadius: 4,
  filterEps: 1e-3,
  filterChannels: 8,
  filterSpace: 'prob',
};

/**
 * Upper limits of the size arguments (documented in docs/models.md): a model beyond them would
 * take gigabytes for one forward pass, and a typo such as inputSize 65536 used to be accepted.
 * Arrays (widths, decoderWidths) are limited item by item.
 */
export const ARG_LIMITS: Record<string, number> = {
  inputSize: MAX_MODEL_SIDE,
  filterScale: 8,
  filterRadius: 64,
  filterChannels: 256,
  widths: 4096,
  decoderWidths: 4096,
  contextChannels: 4096,
  decoderChannels: 4096,
  expansion: 16,
};

function describe(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(',')}]`;
  return JSON.stringify(v);
}

/**
 * Validates user args against a model's defaults: unknown keys and wrong types fail naming
 * `model.args.<key>`. `inputSize` may be a number (square) or [height, width].
 * Integer defaults require integers unless the key is in `floatKeys`.
 * Returns the full resolved args (defaults filled in).
 */
export function resolveArgs<T extends object>(model: string, defaults: T, given: Record<string, unknown> = {}, floatKeys: string[] = []): T {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError(`model.args: expected an object, got ${describe(given)}`);
  }
  const known = Object.keys(defaults);
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(given)) {
    const where = `model.args.${key}`;
    if (!(key in defaults)) {
      throw new ConfigError(`${where}: unknown argument for ${model}${didYouMean(key, known)}; known: ${known.join(', ')}`);
    }
    const def = (defaults as Record<string, unknown>)[key];
    if (key === 'inputSize') {
      const size = typeof value === 'number' ? [value, value] : value;
      if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 8)) {
        throw new ConfigError(`${where}: expected an integer >= 8 or [height, width], got ${describe(value)}`);
      }
      if (size.some((v) => v > MAX_MODEL_SIDE)) throw new ConfigError(`${where}: each side must be at most ${MAX_MODEL_SIDE}, got ${describe(value)}`);
      out[key] = [size[0], size[1]];
    } else if (Array.isArray(def)) {
      if (!Array.isArray(value) || value.length !== def.length || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new ConfigError(`${where}: expected an array of ${def.length} numbers, got ${describe(value)}`);
      }
      const max = ARG_LIMITS[key];
      if (max !== undefined) value.forEach((v, i) => {
        if (v > max) throw new ConfigError(`${where}[${i}]: must be at most ${max}, got ${v}`);
      });
      out[key] = [...value];
    } else if (typeof def === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`${where}: expected a number, got ${describe(value)}`);
      const max = ARG_LIMITS[key];
      if (max !== undefined && value > max) throw new ConfigError(`${where}: must be at most ${max}, got ${value}`);
      if (Number.isInteger(def) && !floatKeys.includes(key) && key !== 'filterEps' && !Number.isInteger(value)) {
        throw new ConfigError(`${where}: expected an integer, got ${describe(value)}`);
      }
      out[key] = value;
    } else if (typeof def === 'boolean') {
      if (typeof value !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${describe(value)}`);
      out[key] = value;
    } else if (typeof def === 'string') {
      if (typeof value !== 'string') throw new ConfigError(`${where}: expected a string, got ${describe(value)}`);
      out[key] = value;
    } else {
      out[key] = value;
    }
  }
  return out as T;
}

/** Cross-field checks every family shares. */
export function checkContractArgs(args: ContractArgs, stride: number): void {
  const [h, w] = args.inputSize;
  if (h % stride !== 0 || w % stride !== 0) {
    throw new ConfigError(`model.args.inputSize [${h},${w}] must be divisible by ${stride} (the encoder stride)`);
  }
  if (args.std.some((v) => !(v > 0))) throw new ConfigError(`model.args.std: every value must be > 0, got [${args.std.join(',')}]`);
  if (args.maskFilter && Math.max(h, w) * args.filterScale > MAX_FRAME_SIDE) {
    throw new ConfigError(`model.args.filterScale: a frame of [${h * args.filterScale},${w * args.filterScale}] (inputSize x filterScale) is over ${MAX_FRAME_SIDE} per side`);
  }
  if (!Number.isInteger(args.filterScale) || args.filterScale < 1) {
    throw new ConfigError(`model.args.filterScale: expected an integer >= 1, got ${args.filterScale}`);
  }
  if (!Number.isInteger(args.filterRadius) || args.filterRadius < 1) {
    throw new ConfigError(`model.args.filterRadius: expected an integer >= 1, got ${args.filterRadius}`);
  }
  if (!(args.filterEps > 0)) throw new ConfigError(`model.args.filterEps: must be > 0, got ${args.filterEps}`);
  if (!Number.isInteger(args.filterChannels) || args.filterChannels < 1) {
    throw new ConfigError(`model.args.filterChannels: expected an integer >= 1, got ${args.filterChannels}`);
  }
  if (args.filterSpace !== 'prob' && args.filterSpace !== 'logits') {
    throw new ConfigError(`model.args.filterSpace: expected "prob" or "logits", got ${JSON.stringify(args.filterSpace)}`);
  }
}

/** Seeded initialisers: one independent, order-independent seed per layer name. */
export class Init {
  private readonly rng: Rng | null;
  constructor(seed: number | undefined) {
    this.rng = seed === undefined ? null : makeRng(seed);
  }
  seedFor(name: string): number | undefined {
    return this.rng ? this.rng.fork(name).int(0, 2 ** 30) : undefined;
  }
  he(name: string): ReturnType<typeof tf.initializers.heNormal> {
    return tf.initializers.heNormal({ seed: this.seedFor(name) });
  }
  glorot(name: string): ReturnType<typeof tf.initializers.heNormal> {
    return tf.initializers.glorotUniform({ seed: this.seedFor(name) });
  }
}

export type Activation = 'relu' | 'relu6' | 'none';

function act(x: SymbolicTensor, kind: Activation, name: string): SymbolicTensor {
  if (kind === 'none') return x;
  return tf.layers.reLU({ maxValue: kind === 'relu6' ? 6 : undefined, name: `${name}_${kind}` }).apply(x) as SymbolicTensor;
}

/** conv (no bias) -> BN -> activation. */
export function convBn(
  x: SymbolicTensor,
  init: Init,
  name: string,
  filters: number,
  opts: { kernel?: number; stride?: number; activation?: Activation } = {},
): SymbolicTensor {
  const y = tf.layers
    .conv2d({
      filters,
      kernelSize: opts.kernel ?? 3,
      strides: opts.stride ?? 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: init.he(name),
      name: `${name}_conv`,
    })
    .apply(x) as SymbolicTensor;
  const n = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3, name: `${name}_bn` }).apply(y) as SymbolicTensor;
  return act(n, opts.activation ?? 'relu', name);
}

/** depthwise 3x3 (no bias) -> BN -> activation. */
export function dwBn(x: SymbolicTensor, init: Init, name: string, opts: { stride?: number; activation?: Activation } = {}): SymbolicTensor {
  const y = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: opts.stride ?? 1,
      padding: 'same',
      depthMultiplier: 1,
      useBias: false,
      depthwiseInitializer: init.he(name),
      name: `${name}_dw`,
    })
    .apply(x) as SymbolicTensor;
  const n = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3, name: `${name}_bn` }).apply(y) as SymbolicTensor;
  return act(n, opts.activation ?? 'relu6', name);
}

export function upsample(x: SymbolicTensor, factor: number | [number, number], name: string, interpolation: 'bilinear' | 'nearest' = 'bilinear'): SymbolicTensor {
  const size = typeof factor === 'number' ? [factor, factor] : factor;
  return tf.layers.upSampling2d({ size, interpolation, name }).apply(x) as SymbolicTensor;
}

export function concat(xs: SymbolicTensor[], name: string): SymbolicTensor {
  return tf.layers.concatenate({ axis: -1, name }).apply(xs) as SymbolicTensor;
}

/** 1x1 conv with bias to one channel: the logits head. */
export function logitsHead(x: SymbolicTensor, init: Init, name = 'head'): SymbolicTensor {
  return tf.layers
    .conv2d({ filters: 1, kernelSize: 1, padding: 'same', useBias: true, kernelInitializer: init.glorot(name), name })
    .apply(x) as SymbolicTensor;
}

/**
 * Builds the full model around a CNN body.
 * body: normalised [B,h,w,3] at inputSize -> logits [B,h,w,1] at inputSize.
 * Result: RGB 0..1 [B,H,W,3] of any H, W -> logits [B,H,W,1], output layer named 'logits'.
 */
export function wrapContract(name: string, args: ContractArgs, init: Init, body: (x: SymbolicTensor) => SymbolicTensor): tf.LayersModel {
  const frame = tf.input({ shape: [null, null, 3], name: 'image' });
  const small = new ResizeTo({ size: args.inputSize, name: 'resize_in' }).apply(frame) as SymbolicTensor;
  const norm = new Normalize({ mean: args.mean, std: args.std, name: 'normalize' }).apply(small) as SymbolicTensor;
  const low = body(norm);
  let out: SymbolicTensor;
  if (args.maskFilter) {
    out = new GuidedFilter({
      radius: args.filterRadius,
      eps: args.filterEps,
      channels: args.filterChannels,
      seed: init.seedFor('mask_filter'),
      space: args.filterSpace,
      name: 'logits',
    }).apply([low, small, frame]) as SymbolicTensor;
  } else {
    out = new ResizeLike({ name: 'logits' }).apply([low, frame]) as SymbolicTensor;
  }
  return tf.model({ inputs: frame, outputs: out, name });
}

/** Round channels to a multiple of 8 (MobileNet convention), never below 8 or 90% of the request. */
export function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}
