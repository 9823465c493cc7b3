/**
 * Shared pieces of the model families: argument validation, seeded initialisers,
 * conv blocks, and `wrapContract`, which puts every CNN body inside the model contract
 * (resize in, normalise, logits back at the frame's size, optionally through the mask filter).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, describeValue, didYouMean, validate, z } from '../config/schema';
import { makeRng, Rng } from '../util/rng';
import { MAX_FRAME_SIDE, MAX_MODEL_SIDE } from '../util/size';
import { Normalize, ResizeLike, ResizeTo } from './layers';
import { GuidedFilter } from './guided_filter';

export type SymbolicTensor = tf.SymbolicTensor;

/** ImageNet statistics (the usual choice; models are trained from scratch, any fixed values work). */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/**
 * Upper limits of the size arguments (issue #18: bounded inputs): beyond them one forward pass
 * takes gigabytes (inputSize 65536 used to be accepted). The largest side of `inputSize`, of the
 * frame (inputSize x filterScale with the mask filter), and of a channel count.
 */
export const MAX_INPUT_SIDE = MAX_MODEL_SIDE;
export { MAX_FRAME_SIDE };
export const MAX_CHANNELS = 4096;

/** A channel count argument: 1..MAX_CHANNELS. */
export const channels = () => z.int().min(1).max(MAX_CHANNELS);

/** The arguments every family accepts (the mask filter and the input contract); families spread it into their own. */
export const CONTRACT_ARGS = {
  inputSize: z
    .preprocess((v) => (typeof v === 'number' ? [v, v] : v), z.tuple([z.int().min(8).max(MAX_INPUT_SIDE), z.int().min(8).max(MAX_INPUT_SIDE)]))
    .meta({ expected: `an integer >= 8 or [height, width] (each 8..${MAX_INPUT_SIDE})` })
    .describe('[height, width] the CNN runs at (a number: square)'),
  mean: z.tuple([z.number(), z.number(), z.number()]).describe('channel mean subtracted inside the model (0..1 input)'),
  std: z.tuple([z.number().gt(0), z.number().gt(0), z.number().gt(0)]).describe('channel std divided by inside the model'),
  maskFilter: z.boolean().describe('bring the mask to the frame through the deep guided filter'),
  filterScale: z.int().min(1).max(8).describe('frame size = inputSize * filterScale when the mask filter is on'),
  filterRadius: z.int().min(1).max(64),
  filterEps: z.number().gt(0),
  filterChannels: z.int().min(1).max(256),
  filterSpace: z.enum(['prob', 'logits']).describe("what the mask filter filters: P(person) ('prob') or, in models saved before it, the logits"),
};
export const CONTRACT_SCHEMA = z.strictObject(CONTRACT_ARGS);
export type ContractArgs = z.output<typeof CONTRACT_SCHEMA>;

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
 * Validates user args against a family's declaration, on top of a variant's defaults: unknown
 * keys, wrong types and out-of-range values fail naming `model.args.<key>`. Returns the full
 * resolved args (defaults filled in).
 */
export function resolveArgs<S extends z.ZodObject>(model: string, schema: S, defaults: z.output<S>, given: Record<string, unknown> = {}): z.output<S> {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError(`model.args: expected an object, got ${describeValue(given)}`);
  }
  return validate(schema, { ...(defaults as object), ...given }, {
    at: 'model.args',
    unknownKey: (where, key, known) => `${where}: unknown argument for ${model}${didYouMean(key, known)}; known: ${known.join(', ')}`,
  });
}

/** Cross-field checks every family shares. */
export function checkContractArgs(args: ContractArgs, stride: number): void {
  const [h, w] = args.inputSize;
  if (h % stride !== 0 || w % stride !== 0) {
    throw new ConfigError(`model.args.inputSize [${h},${w}] must be divisible by ${stride} (the encoder stride)`);
  }
  if (args.maskFilter && Math.max(h, w) * args.filterScale > MAX_FRAME_SIDE) {
    throw new ConfigError(`model.args.filterScale: a frame of [${h * args.filterScale},${w * args.filterScale}] (inputSize x filterScale) is over ${MAX_FRAME_SIDE} per side`);
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
