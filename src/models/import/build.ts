/**
 * The one builder: IrGraph -> a portraitseg model (tf.LayersModel + ModelMeta) made of
 * tfjs-layers built-in classes plus Normalize / ResizeTo / ResizeLike / GuidedFilter and the
 * layers of imported_layers.ts. Every conv / dense weight and bias becomes a trainable
 * float32 variable. The graph's own output activation is dropped so the model returns logits
 * exactly: sigmoid -> its input; softmax over (background, person) -> z_person - z_background
 * (a frozen 1x1 conv), since log(p1 / p0) = z1 - z0; a probability clipped to 0..1 (clip01,
 * e.g. a matting net's alpha) -> ClipLogit: log(p / (1 - p)) of p clipped to
 * [CLIP_LOGIT_EPS, 1 - CLIP_LOGIT_EPS] (imported_layers.ts).
 * A dilated conv becomes the undilated conv with a zero-inserted kernel ((k - 1) * d + 1 taps,
 * the same function): tfjs has no gradient for dilated convs; the inserted taps start at zero
 * and train. A channel slice left by ir.pushSlices becomes a frozen 1x1 conv that selects them.
 */
import * as tf from '@tensorflow/tfjs';
import { CONTRACT_DEFAULTS, ContractArgs, Init, SymbolicTensor, wrapContract } from '../common';
import { BilinearResize, CLIP_LOGIT_EPS, ClipLogit, ConstantOp, HardSwish } from '../imported_layers';
import { packageVersion } from '../../util/version';
import type { ModelMeta } from '../types';
import { MAX_MODEL_SIDE } from '../../util/size';
import { IrConst, IrGraph, IrNode, UnsupportedOpError } from './ir';

export type InputRange = '0..1' | '-1..1' | '0..255';
export type OutputKind = 'sigmoid' | 'softmax1' | 'logits' | 'clip01';

export interface BuildOptions {
  /** [height, width]; null: the graph's input shape. */
  inputSize: [number, number] | null;
  /** null: 0..1 (files do not record it). */
  inputRange: InputRange | null;
  /** null: from the graph's last op (sigmoid -> 'sigmoid', softmax -> 'softmax1', clip to 0..1 -> 'clip01', else an error). */
  output: OutputKind | null;
  maskFilter: boolean;
  /** Model name after "imported:", e.g. the file's stem. */
  name: string;
  /** Seed of the mask filter's guidance net (the only new weights). */
  seed?: number;
}

export interface Built {
  model: tf.LayersModel;
  meta: ModelMeta;
  /** What was resolved from the file or defaulted, for the CLI's log line. */
  inputRange: InputRange;
  output: OutputKind;
  inputSize: [number, number];
}

/** mean/std mapping 0..1 to the model's input range inside the model: (x - mean) / std. */
export function rangeNormalization(r: InputRange): { mean: [number, number, number]; std: [number, number, number] } {
  if (r === '-1..1') return { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
  if (r === '0..255') return { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] };
  return { mean: [0, 0, 0], std: [1, 1, 1] };
}

function layerNamer(): (n: string) => string {
  const used = new Set(['image', 'resize_in', 'normalize', 'logits', 'softmax1_logit', 'clip_logit']);
  return (n: string) => {
    const base = `src_${n.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
}

/**
 * A dilated kernel [kh, kw, ...] as the undilated kernel [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ...]
 * with zeros between the taps: the same convolution (TensorFlow pads SAME by the effective size).
 */
export function undilated(w: IrConst, [dh, dw]: [number, number]): IrConst {
  if (dh === 1 && dw === 1) return w;
  const [kh, kw, ...rest] = w.shape;
  const inner = rest.reduce((p, q) => p * q, 1);
  const eh = (kh - 1) * dh + 1;
  const ew = (kw - 1) * dw + 1;
  const data = new Float32Array(eh * ew * inner);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) data.set(w.data.subarray((i * kw + j) * inner, (i * kw + j + 1) * inner), (i * dh * ew + j * dw) * inner);
  return { shape: [eh, ew, ...rest], data };
}

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Resolves the output meaning and returns the graph tensor whose value is the logits source. */
function outputHead(g: IrGraph, want: OutputKind | null): { kind: OutputKind; tensor: string } {
  const last = g.nodes.find((n) => n.output === g.output);
  const clip01 = last?.op === 'clip' && last.attrs.min === 0 && last.attrs.max === 1;
  const kind = want ?? (last?.op === 'sigmoid' ? 'sigmoid' : last?.op === 'softmax' ? 'softmax1' : clip01 ? 'clip01' : null);
  if (!kind) {
    throw new UnsupportedOpError(g.source, last?.op ?? 'output', last?.name ?? g.output, 'cannot tell what the output means: pass --output sigmoid|softmax1|logits|clip01');
  }
  // the clip is part of the head (ClipLogit clips), whether the graph's output has it or not
  if (kind === 'clip01') return { kind, tensor: clip01 ? last.inputs[0] : g.output };
  if (kind === 'sigmoid') {
    if (last?.op !== 'sigmoid') throw new Error(`${g.source}: --output sigmoid: the graph does not end in a sigmoid (its last op is ${last?.op ?? 'none'}); use --output logits for raw scores`);
    return { kind, tensor: last.inputs[0] };
  }
  if (kind === 'softmax1') return { kind, tensor: last?.op === 'softmax' ? last.inputs[0] : g.output };
  return { kind, tensor: g.output };
}

/**
 * TensorFlow's SAME average pool (the mean over the window's pixels inside the input, padding
 * excluded) from layers whose gradients are right everywhere: zero padding (TF's split, the extra
 * row / column at the end), a VALID average pool, and a frozen per-position factor
 * k*k / (pixels inside the window) as ConstantOp(mul, [oh, ow, 1]). (tfjs-backend-cpu's
 * AvgPoolGrad is wrong for 'same' padding; see guided_filter.ts.)
 */
function avgPoolSame(
  x: SymbolicTensor,
  size: [number, number],
  strides: [number, number],
  name: string,
  apply: (layer: tf.layers.Layer, input: SymbolicTensor, weights?: IrConst[]) => SymbolicTensor,
): SymbolicTensor {
  const [, h, w] = x.shape as number[];
  const split = (n: number, k: number, st: number) => {
    const out = Math.ceil(n / st);
    const total = Math.max((out - 1) * st + k - n, 0);
    const before = Math.floor(total / 2);
    const inside = Array.from({ length: out }, (_, i) => Math.min(n, i * st - before + k) - Math.max(0, i * st - before));
    return { out, before, after: total - before, inside };
  };
  const H = split(h, size[0], strides[0]);
  const W = split(w, size[1], strides[1]);
  let y = x;
  if (H.before + H.after + W.before + W.after > 0) {
    y = apply(tf.layers.zeroPadding2d({ padding: [[H.before, H.after], [W.before, W.after]], name: `${name}_pad` }), y);
  }
  y = apply(tf.layers.averagePooling2d({ poolSize: size, strides, padding: 'valid', name }), y);
  const factor = new Float32Array(H.out * W.out);
  for (let i = 0; i < H.out; i++) for (let j = 0; j < W.out; j++) factor[i * W.out + j] = (size[0] * size[1]) / (H.inside[i] * W.inside[j]);
  if (factor.some((v) => v !== 1)) {
    const c = new ConstantOp({ op: 'mul', shape: [H.out, W.out, 1], valueTrainable: false, name: `${name}_count` });
    y = apply(c, y, [{ shape: [H.out, W.out, 1], data: factor }]);
  }
  return y;
}

/**
 * A resize to a fixed size in a net built at another input size than its file's (--input-size):
 * the target scales with the input (MediaPipe's selfie resizes its squeeze-excite branches to
 * 32x32 at 256x256, so 48x48 at 384x384). A target that would not be whole is refused by name.
 */
export function scaledResize(size: [number, number], fileSize: [number, number] | null, inputSize: [number, number], source: string, node: string): [number, number] {
  if (!fileSize || (fileSize[0] === inputSize[0] && fileSize[1] === inputSize[1])) return size;
  const out: [number, number] = [0, 0];
  for (const k of [0, 1]) {
    const v = (size[k] * inputSize[k]) / fileSize[k];
    if (Math.abs(v - Math.round(v)) > 1e-9 || v < 1) {
      throw new Error(
        `${source}: --input-size ${inputSize[1]}x${inputSize[0]}: resize node "${node}" targets ${size[1]}x${size[0]} at the file's ${fileSize[1]}x${fileSize[0]}, which is ${((size[1] * inputSize[1]) / fileSize[1]).toFixed(2)}x${((size[0] * inputSize[0]) / fileSize[0]).toFixed(2)} at this size: choose an input size that keeps it whole (e.g. a multiple of ${fileSize[1] / gcd(fileSize[1], size[1])}x${fileSize[0] / gcd(fileSize[0], size[0])})`,
      );
    }
    out[k] = Math.round(v);
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The [height, width] the file's input is fixed at, or null when it has none. */
export function fileInputSize(g: IrGraph): [number, number] | null {
  const s = g.input.shape;
  return s.length === 4 && s[1] > 0 && s[2] > 0 ? [s[1], s[2]] : null;
}

/** What building one node needs: the graph, the sizes, unique layer names, values so far. */
interface NodeContext {
  g: IrGraph;
  fileSize: [number, number] | null;
  inputSize: [number, number];
  name: (n: string) => string;
  /** The layer output computed for tensor `t` (read by node `n`). */
  get: (t: string, n: IrNode) => SymbolicTensor;
  /** Applies a layer; its weights are set once the model exists. */
  apply: (layer: tf.layers.Layer, input: SymbolicTensor | SymbolicTensor[], weights?: IrConst[]) => SymbolicTensor;
}

type Attrs = Record<string, never>;
type NodeLayer = (c: NodeContext, n: IrNode, a: Attrs, fail: (why: string) => never) => SymbolicTensor;

const convLayer: NodeLayer = ({ g, fileSize, inputSize, name, get, apply }, n, a, fail) => {
  const xin = get(n.inputs[0], n);
  const w = g.consts.get(n.inputs[1])!;
  const b = n.inputs[2] !== undefined ? g.consts.get(n.inputs[2]) : undefined;
  // a dilated conv: the undilated conv with a zero-inserted kernel (see the file comment)
  const dil = (a.dilations as unknown as [number, number] | undefined) ?? [1, 1];
  const k = n.op === 'conv2dTranspose' ? w : undilated(w, dil);
  const [kh, kw] = k.shape;
  const common = { kernelSize: [kh, kw] as [number, number], strides: a.strides, padding: a.padding, useBias: !!b, name: name(n.name) };
  if (n.op === 'conv2d') return apply(tf.layers.conv2d({ ...common, filters: w.shape[3] }), xin, b ? [k, b] : [k]);
  if (n.op === 'depthwise') return apply(tf.layers.depthwiseConv2d({ ...common, depthMultiplier: w.shape[3] }), xin, b ? [k, b] : [k]);
  const y = apply(tf.layers.conv2dTranspose({ ...common, filters: w.shape[2] }), xin, b ? [w, b] : [w]);
  const fileOut = a.outShape as unknown as number[] | undefined;
  // a fixed output shape scales with the input like a resize target (see scaledResize)
  const want = fileOut && fileOut.length === 3 ? [...scaledResize([fileOut[0], fileOut[1]], fileSize, inputSize, g.source, n.name), fileOut[2]] : fileOut;
  const got = y.shape.slice(1);
  if (want && want.some((v, i) => v > 0 && v !== got[i])) fail(`output shape [${want}] is not what padding ${a.padding} gives ([${got}])`);
  return y;
};

/** add / mul of tensors, then of each constant input (a ConstantOp broadcasting over all but the batch). */
const arithmeticLayer: NodeLayer = ({ g, name, get, apply }, n, _a, fail) => {
  const tensorsIn = n.inputs.filter((i) => !g.consts.has(i));
  const constsIn = n.inputs.filter((i) => g.consts.has(i)).map((i) => g.consts.get(i)!);
  if (tensorsIn.length === 0) fail('all inputs are constants');
  const xs = tensorsIn.map((t) => get(t, n));
  let y = xs.length === 1 ? xs[0] : n.op === 'add' ? (tf.layers.add({ name: name(n.name) }).apply(xs) as SymbolicTensor) : (tf.layers.multiply({ name: name(n.name) }).apply(xs) as SymbolicTensor);
  for (const c of constsIn) {
    const shape = [...c.shape];
    while (shape.length > 0 && shape[0] === 1 && shape.length >= y.shape.length) shape.shift();
    if (shape.length >= y.shape.length) fail(`a constant of shape [${c.shape}] that broadcasts over the batch`);
    const layer = new ConstantOp({ op: n.op as 'add' | 'mul', shape, valueTrainable: c.data.length > 1, name: name(`${n.name}_const`) });
    y = apply(layer, y, [{ shape, data: c.data }]);
  }
  return y;
};

/** avgpool / mean: global pools become GlobalAveragePooling2D, 'same' pools avgPoolSame. */
const poolLayer: NodeLayer = ({ name, get, apply, fileSize, inputSize }, n, a, fail) => {
  const xin = get(n.inputs[0], n);
  const [, h, w, c] = xin.shape as number[];
  let global: boolean;
  let keep = true;
  if (n.op === 'mean') {
    const axes = (a.axes as unknown as number[]).map((v) => norm(v, 4)).sort();
    if (axes.join() !== '1,2') fail(`axes [${a.axes}] (only the spatial axes [1, 2])`);
    global = true;
    keep = !!a.keepDims;
  } else {
    const [ph, pw] = a.size as unknown as number[];
    const [sh, sw] = a.strides as unknown as number[];
    // Global at the file's size stays global at any --input-size (MediaPipe's selfie pools
    // its squeeze-excite branches with a window the size of the whole map).
    const fh = fileSize ? (h * fileSize[0]) / inputSize[0] : h;
    const fw = fileSize ? (w * fileSize[1]) / inputSize[1] : w;
    global = ph === fh && pw === fw && (a.padding === 'valid' || (sh >= fh && sw >= fw));
  }
  if (!global && a.padding === 'same') {
    return avgPoolSame(xin, a.size as unknown as [number, number], a.strides as unknown as [number, number], name(n.name), (l, t, wts) => apply(l, t, wts));
  }
  if (global) {
    const y = tf.layers.globalAveragePooling2d({ name: name(n.name) }).apply(xin) as SymbolicTensor;
    return keep ? (tf.layers.reshape({ targetShape: [1, 1, c], name: name(`${n.name}_keepdims`) }).apply(y) as SymbolicTensor) : y;
  }
  return tf.layers.averagePooling2d({ poolSize: a.size, strides: a.strides, padding: 'valid', name: name(n.name) }).apply(xin) as SymbolicTensor;
};

/** One-input layers: the node's first input through `make(layer name, attrs)`. */
const unary =
  (make: (name: string, a: Attrs, c: NodeContext, n: IrNode) => tf.layers.Layer): NodeLayer =>
  (c, n, a) =>
    make(c.name(n.name), a, c, n).apply(c.get(n.inputs[0], n)) as SymbolicTensor;

/** IR op -> the layers that compute it. */
const LAYER_FOR_OP: Readonly<Record<string, NodeLayer>> = {
  conv2d: convLayer,
  depthwise: convLayer,
  conv2dTranspose: convLayer,
  dense: ({ g, name, get, apply }, n, _a, fail) => {
    const w = g.consts.get(n.inputs[1])!;
    const b = n.inputs[2] !== undefined ? g.consts.get(n.inputs[2]) : undefined;
    const xin = get(n.inputs[0], n);
    if (xin.shape.length !== 2) fail(`input of rank ${xin.shape.length} (expected [batch, features])`);
    return apply(tf.layers.dense({ units: w.shape[1], useBias: !!b, name: name(n.name) }), xin, b ? [w, b] : [w]);
  },
  add: arithmeticLayer,
  mul: arithmeticLayer,
  relu: unary((name) => tf.layers.reLU({ name })),
  relu6: unary((name) => tf.layers.reLU({ maxValue: 6, name })),
  tanh: unary((name) => tf.layers.activation({ activation: 'tanh', name })),
  // channels [begin, begin + size) (a slice ir.pushSlices left): a frozen 1x1 conv that selects them
  slice: ({ name, get, apply }, n, a, fail) => {
    const xin = get(n.inputs[0], n);
    const c = xin.shape[3] as number;
    const begin = a.begin as unknown as number;
    const size = a.size as unknown as number;
    if (n.attrs.axis !== 3 || begin < 0 || begin + size > c) fail(`slice [${begin}, ${begin + size}) of ${c} channels`);
    const sel = new Float32Array(c * size);
    for (let j = 0; j < size; j++) sel[(begin + j) * size + j] = 1;
    const conv = tf.layers.conv2d({ filters: size, kernelSize: 1, useBias: false, trainable: false, name: name(n.name) });
    return apply(conv, xin, [{ shape: [1, 1, c, size], data: sel }]);
  },
  crop: unary((name, a) => tf.layers.cropping2D({ cropping: a.cropping as unknown as [[number, number], [number, number]], name })),
  sigmoid: unary((name) => tf.layers.activation({ activation: 'sigmoid', name })),
  softmax: unary((name) => tf.layers.softmax({ axis: -1, name })),
  hardswish: unary((name) => new HardSwish({ name })),
  avgpool: poolLayer,
  mean: poolLayer,
  // the size is computed before the layer's name, as the layers were always named
  resize: (c, n, a) => {
    const size = scaledResize(a.size as unknown as [number, number], c.fileSize, c.inputSize, c.g.source, n.name);
    return new BilinearResize({ size, alignCorners: a.alignCorners, halfPixelCenters: a.halfPixelCenters, name: c.name(n.name) }).apply(c.get(n.inputs[0], n)) as SymbolicTensor;
  },
  concat: ({ g, name, get }, n, a, fail) => {
    const xs = n.inputs.map((t) => (g.consts.has(t) ? fail('a constant input') : get(t, n)));
    const axis = norm(a.axis as unknown as number, xs[0].shape.length);
    if (axis === 0) fail('concatenation along the batch axis');
    return tf.layers.concatenate({ axis, name: name(n.name) }).apply(xs) as SymbolicTensor;
  },
  reshape: unary((name, a) => tf.layers.reshape({ targetShape: a.shape, name })),
  pad: (c, n, a, fail) => {
    const p = a.paddings as unknown as [number, number][];
    if (p.length !== 4 || p[0].some((v) => v !== 0) || p[3].some((v) => v !== 0)) fail(`paddings ${JSON.stringify(p)} (only height and width)`);
    return tf.layers.zeroPadding2d({ padding: [p[1], p[2]] as [[number, number], [number, number]], name: c.name(n.name) }).apply(c.get(n.inputs[0], n)) as SymbolicTensor;
  },
};

/**
 * The graph's output as logits: the tensor before the dropped activation; a two-channel softmax
 * becomes z_person - z_background (a frozen 1x1 conv); a probability clipped to 0..1 (clip01)
 * becomes ClipLogit.
 */
function logitsOf(c: NodeContext, out: SymbolicTensor, head: { kind: OutputKind; tensor: string }): SymbolicTensor {
  const { g } = c;
  if (out.shape.length !== 4) throw new Error(`${g.source}: the output has shape [${out.shape}], expected [batch, height, width, channels]`);
  const ch = out.shape[3];
  if (head.kind === 'clip01') {
    if (ch !== 1) throw new Error(`${g.source}: --output clip01 needs 1 output channel, the model gives ${ch}`);
    return new ClipLogit({ eps: CLIP_LOGIT_EPS, name: 'clip_logit' }).apply(out) as SymbolicTensor;
  }
  if (head.kind === 'softmax1') {
    if (ch !== 2) throw new Error(`${g.source}: --output softmax1 needs 2 output channels (background, person), the model gives ${ch}`);
    const diff = tf.layers.conv2d({ filters: 1, kernelSize: 1, useBias: false, trainable: false, name: 'softmax1_logit' });
    return c.apply(diff, out, [{ shape: [1, 1, 2, 1], data: new Float32Array([-1, 1]) }]);
  }
  if (ch !== 1) throw new Error(`${g.source}: --output ${head.kind} needs 1 output channel, the model gives ${ch} (try --output softmax1)`);
  return out;
}

/** Builds the model. The graph must be simplified (ir.simplify) first. */
export function buildImported(g: IrGraph, opts: BuildOptions): Built {
  const inShape = g.input.shape;
  const fileSize = fileInputSize(g);
  const inputSize = opts.inputSize ?? fileSize;
  if (!inputSize) throw new Error(`${g.source}: the input has no fixed height and width: pass --input-size WIDTHxHEIGHT`);
  if (inputSize.some((v) => !Number.isInteger(v) || v < 1 || v > MAX_MODEL_SIDE)) {
    throw new Error(`${g.source}: ${opts.inputSize ? '--input-size' : "the file's input size"} ${inputSize[1]}x${inputSize[0]}: each side must be 1..${MAX_MODEL_SIDE}`);
  }
  if (inShape.length === 4 && inShape[3] > 0 && inShape[3] !== 3) throw new Error(`${g.source}: the input has ${inShape[3]} channels, expected 3 (RGB)`);
  const inputRange = opts.inputRange ?? '0..1';
  const head = outputHead(g, opts.output);
  const pending: { layer: tf.layers.Layer; weights: IrConst[] }[] = [];
  let minHeight = inputSize[0];

  const body = (x: SymbolicTensor): SymbolicTensor => {
    const vals = new Map<string, SymbolicTensor>([[g.input.name, x]]);
    const c: NodeContext = {
      g,
      fileSize,
      inputSize,
      name: layerNamer(),
      get: (t, n) => {
        const v = vals.get(t);
        if (!v) throw new Error(`${g.source}: node "${n.name}" reads "${t}" before it is computed`);
        return v;
      },
      apply: (layer, input, weights = []) => {
        const y = layer.apply(input) as SymbolicTensor;
        if (weights.length) pending.push({ layer, weights });
        return y;
      },
    };
    for (const n of g.nodes) {
      if (vals.has(head.tensor)) break; // what follows is the output activation we drop
      const fail = (why: string): never => {
        throw new UnsupportedOpError(g.source, n.op, n.name, why);
      };
      const make = Object.prototype.hasOwnProperty.call(LAYER_FOR_OP, n.op) ? LAYER_FOR_OP[n.op] : null;
      if (!make) fail('no layer for it');
      const y = make!(c, n, n.attrs as Attrs, fail);
      vals.set(n.output, y);
      if (y.shape.length === 4 && typeof y.shape[1] === 'number' && (y.shape[1] as number) > 1) minHeight = Math.min(minHeight, y.shape[1] as number);
    }
    const out = vals.get(head.tensor);
    if (!out) throw new Error(`${g.source}: the output "${head.tensor}" was never computed`);
    return logitsOf(c, out, head);
  };

  const { mean, std } = rangeNormalization(inputRange);
  const args: ContractArgs = { ...CONTRACT_DEFAULTS, inputSize, mean, std, maskFilter: opts.maskFilter };
  const init = new Init(opts.seed ?? 0);
  const modelName = `imported:${opts.name}`;
  const model = wrapContract(modelName.replace(/[^A-Za-z0-9_]/g, '_'), args, init, body);
  for (const { layer, weights } of pending) {
    const ts = weights.map((w) => tf.tensor(w.data, w.shape, 'float32'));
    layer.setWeights(ts);
    tf.dispose(ts);
  }
  const scale = args.maskFilter ? args.filterScale : 1;
  const meta: ModelMeta = {
    name: modelName,
    args: {
      ...(JSON.parse(JSON.stringify(args)) as Record<string, unknown>),
      imported: { format: g.format, source: g.source, inputRange, output: head.kind, sourceInputShape: g.input.shape },
    },
    family: 'student',
    inputSize,
    frameSize: [inputSize[0] * scale, inputSize[1] * scale],
    mean,
    std,
    output: 'logits',
    stride: Math.max(1, Math.floor(inputSize[0] / minHeight)),
    maskFilter: args.maskFilter ? { enabled: true, radius: args.filterRadius, eps: args.filterEps, scale: args.filterScale, space: args.filterSpace } : null,
    params: model.countParams(),
    version: packageVersion(),
  };
  return { model, meta, inputRange, output: head.kind, inputSize };
}
