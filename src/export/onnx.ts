/**
 * ONNX exporter: walks a tf.LayersModel's functional graph layer by layer and writes an
 * equivalent ONNX graph (opset 13), for mobile runtimes (ONNX Runtime Mobile) and onnxruntime.
 *
 * Interface layout: the graph takes `image` NHWC [N, H, W, 3] float32 RGB in 0..1 with
 * dynamic N, H, W and returns `logits` NHWC [N, H, W, 1], exactly like the tfjs model.
 * Inside, it transposes to NCHW once at the start and back once at the end (ONNX convs are
 * NCHW). portraitseg.json states this layout (`onnx.layout`).
 *
 * Mapping (tfjs -> ONNX):
 *   Conv2D -> Conv (following BatchNormalization folded into its weights when it is the
 *   conv's only consumer), DepthwiseConv2D -> Conv(group = channels), SeparableConv2D ->
 *   two Convs, BatchNormalization -> Mul/Add, relu -> Relu, relu6 / ReLU(maxValue) -> Clip,
 *   Add/Multiply/Subtract/Maximum/Minimum/Average -> the element-wise op, Concatenate ->
 *   Concat(axis 1), UpSampling2D / resizeBilinear -> Resize (tfjs' alignCorners=false,
 *   halfPixelCenters=false sampling is ONNX's coordinate_transformation_mode=asymmetric;
 *   nearest uses nearest_mode=floor), Max/AveragePooling2D -> MaxPool/AveragePool
 *   ('same' = SAME_UPPER, TF's convention of putting the odd padding pixel at the end;
 *   average pooling excludes padding like TF), and our custom layers: Normalize -> Mul/Add,
 *   ResizeTo / ResizeLike -> Resize with sizes computed from Shape (dynamic H, W),
 *   GuidedFilter -> 1x1 Convs (guidance net), AveragePool box filters (count_include_pad=0
 *   is exactly the "mean over valid pixels" of src/models/guided_filter.ts), Mul/Sub/Div/
 *   Add and Resize. Layers of imported models (src/models/imported_layers.ts and the built-ins
 *   they use): Conv2DTranspose -> ConvTranspose (explicit pads: TF's SAME crop), Dense ->
 *   MatMul + Add, GlobalAveragePooling2D -> GlobalAveragePool (+ Flatten), Reshape / Flatten ->
 *   Reshape of the NHWC view, HardSwish -> Mul(x, HardSigmoid(x; 1/6, 0.5)), BilinearResize ->
 *   Resize with half_pixel / align_corners / asymmetric, ConstantOp -> Add / Mul with the
 *   constant laid out for NCHW. Any other layer fails with an error naming it.
 */
import * as tf from '@tensorflow/tfjs';
import { DT, OnnxModel, OnnxNode, OnnxTensor, AttrValue, encodeModel } from './onnx-proto';
import { bnParams, values } from './fold';
import { emitGuidedFilter, GUIDE_LUMA, GuidedFilterOps, guidedFilterParams } from './guided-filter';
import {
  activationName,
  biasOf,
  checkChannelsLast,
  each,
  ELEMENTWISE,
  ElementwiseLayer,
  Emitter,
  foldInto,
  INFERENCE_IDENTITY,
  key,
  LayerCall,
  pair,
  paddingMode,
  walkLayers,
} from './walk';

export const ONNX_OPSET = 13;
export const ONNX_INPUT = 'image';
export const ONNX_OUTPUT = 'logits';

export class UnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`onnx export: layer "${layer}" (${className}) is not supported: ${why}`);
    this.name = 'UnsupportedLayerError';
  }
}

const unsupported = (layer: string, cls: string, why: string) => new UnsupportedLayerError(layer, cls, why);

class GraphBuilder {
  nodes: OnnxNode[] = [];
  inits: OnnxTensor[] = [];
  /** Rank of tensors that are not rank 4 (rank-4 tensors are NCHW inside the graph). */
  ranks = new Map<string, number>();
  private n = 0;

  rank(x: string): number {
    return this.ranks.get(x) ?? 4;
  }

  fresh(base: string): string {
    return `${base}__${this.n++}`;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const o = out ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [o], name: this.fresh(`n_${opType}`), attrs });
    return o;
  }

  f32(base: string, dims: number[], values: ArrayLike<number>): string {
    const name = this.fresh(base);
    this.inits.push({ name, dims, dataType: DT.FLOAT, values: Float32Array.from(values) });
    return name;
  }

  i64(base: string, values: number[]): string {
    const name = this.fresh(base);
    this.inits.push({ name, dims: [values.length], dataType: DT.INT64, values });
    return name;
  }

  /** [h, w] of an NCHW tensor as an int64 [2] tensor. */
  spatial(x: string): string {
    const shape = this.op('Shape', [x]);
    return this.op('Slice', [shape, this.i64('s2', [2]), this.i64('e4', [4]), this.i64('ax0', [0])]);
  }

  /** Resize NCHW x to sizes (int64 [4] tensor name). */
  resize(x: string, sizes: string, mode: 'linear' | 'nearest', out?: string): string {
    const attrs: Record<string, AttrValue> = { mode, coordinate_transformation_mode: 'asymmetric' };
    if (mode === 'nearest') attrs.nearest_mode = 'floor';
    return this.op('Resize', [x, '', '', sizes], attrs, out);
  }

  /** sizes = [N, C] of x followed by hw (int64 [2]). */
  sizesLike(x: string, hw: string): string {
    const shape = this.op('Shape', [x]);
    const nc = this.op('Slice', [shape, this.i64('s0', [0]), this.i64('e2', [2]), this.i64('ax0', [0])]);
    return this.op('Concat', [nc, hw], { axis: 0 });
  }
}

type Call = LayerCall<string>;
type OnnxEmitter = Emitter<string, GraphBuilder>;

/** Transposes a tfjs conv kernel [kh, kw, in, out] to ONNX's [out, in, kh, kw]. */
function convKernel(k: tf.Tensor): { w: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = k.shape;
  const t = tf.tidy(() => k.transpose([3, 2, 0, 1]));
  const w = t.dataSync() as Float32Array;
  t.dispose();
  return { w: Float32Array.from(w), dims: [cout, cin, kh, kw] };
}

/** tfjs depthwise kernel [kh, kw, C, mult] -> ONNX grouped conv weight [C*mult, 1, kh, kw]. */
function depthwiseKernel(k: tf.Tensor): { w: Float32Array; dims: number[] } {
  const [kh, kw, c, m] = k.shape;
  const t = tf.tidy(() => k.reshape([kh, kw, c * m, 1]).transpose([2, 3, 0, 1]));
  const w = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return { w, dims: [c * m, 1, kh, kw] };
}

function transposed(t: tf.Tensor): Float32Array {
  const tt = t.transpose();
  const v = values(tt);
  tt.dispose();
  return v;
}

/** TF's 'same' puts the odd padding pixel at the end: ONNX's SAME_UPPER. */
function convPadding(c: Call): Record<string, AttrValue> {
  return paddingMode(c) === 'same' ? { auto_pad: 'SAME_UPPER' } : { auto_pad: 'VALID' };
}

/** Emits an activation by tfjs name; returns the output name. */
function activation(g: GraphBuilder, layer: tf.layers.Layer, name: string, x: string, out?: string): string {
  switch (name) {
    case 'linear':
      return out ? g.op('Identity', [x], {}, out) : x;
    case 'relu':
      return g.op('Relu', [x], {}, out);
    case 'relu6':
      return g.op('Clip', [x, g.f32('zero', [], [0]), g.f32('six', [], [6])], {}, out);
    case 'sigmoid':
      return g.op('Sigmoid', [x], {}, out);
    case 'tanh':
      return g.op('Tanh', [x], {}, out);
    case 'elu':
      return g.op('Elu', [x], { alpha: { float: 1 } }, out);
    case 'softplus':
      return g.op('Softplus', [x], {}, out);
    case 'hardSigmoid':
      return g.op('HardSigmoid', [x], { alpha: { float: 0.2 }, beta: { float: 0.5 } }, out);
    case 'swish':
      return g.op('Mul', [x, g.op('Sigmoid', [x])], {}, out);
    default:
      throw new UnsupportedLayerError(layer.name, layer.getClassName(), `activation "${name}"`);
  }
}

// ---------------------------------------------------------------- the op table's emitters

/** Conv2D / DepthwiseConv2D -> Conv, with a following batch norm folded when it is the only consumer. */
const conv: OnnxEmitter = (c, g) => {
  checkChannelsLast(c);
  const depthwise = c.cls === 'DepthwiseConv2D';
  const k = depthwise ? depthwiseKernel(c.w[0]) : convKernel(c.w[0]);
  const cout = k.dims[0];
  let bias = biasOf(c, 1, cout);
  const act = activationName(c.layer);
  const cons = c.walk.consumers.get(c.outKey) ?? [];
  let outName: string | undefined;
  if (act === 'linear' && cons.length === 1 && cons[0].layer.getClassName() === 'BatchNormalization') {
    bias = foldInto(k.w, bias, bnParams(cons[0].layer, unsupported), cout, true);
    const bnKey = key(cons[0].layer.name, cons[0].node, 0);
    outName = g.fresh(cons[0].layer.name);
    c.walk.names.set(bnKey, outName);
  }
  const [sh, sw] = pair(c.cfg.strides ?? 1);
  const [dh, dw] = pair(c.cfg.dilationRate ?? 1);
  const attrs: Record<string, AttrValue> = { kernel_shape: [k.dims[2], k.dims[3]], strides: [sh, sw], dilations: [dh, dw], ...convPadding(c) };
  if (depthwise) attrs.group = cout / ((c.cfg.depthMultiplier as number) ?? 1);
  const y = g.op('Conv', [c.x, g.f32(`${c.name}_w`, k.dims, k.w), g.f32(`${c.name}_b`, [cout], bias)], attrs, outName);
  return activation(g, c.layer, act, y);
};

const separableConv: OnnxEmitter = (c, g) => {
  checkChannelsLast(c);
  const dk = depthwiseKernel(c.w[0]);
  const pk = convKernel(c.w[1]);
  const [sh, sw] = pair(c.cfg.strides ?? 1);
  const [dh, dw] = pair(c.cfg.dilationRate ?? 1);
  const cin = c.w[0].shape[2] as number;
  const d = g.op('Conv', [c.x, g.f32(`${c.name}_dw`, dk.dims, dk.w)], {
    kernel_shape: [dk.dims[2], dk.dims[3]],
    strides: [sh, sw],
    dilations: [dh, dw],
    group: cin,
    ...convPadding(c),
  });
  const cout = pk.dims[0];
  const bias = biasOf(c, 2, cout);
  const y = g.op('Conv', [d, g.f32(`${c.name}_pw`, pk.dims, pk.w), g.f32(`${c.name}_b`, [cout], bias)], { kernel_shape: [1, 1] });
  return activation(g, c.layer, activationName(c.layer), y);
};

/**
 * tfjs' output is in*s (same) or in*s + max(k-s, 0) (valid); ONNX's full output (in-1)*s + k is
 * cropped by pads (TF puts the odd pixel at the end) and grown by output_padding.
 */
const convTranspose: OnnxEmitter = (c, g) => {
  checkChannelsLast(c);
  // tfjs kernel [kh, kw, out, in] -> ONNX ConvTranspose weight [in, out, kh, kw]
  const [kh, kw, cout, cin] = c.w[0].shape as number[];
  const t = tf.tidy(() => c.w[0].transpose([3, 2, 0, 1]));
  const kv = values(t);
  t.dispose();
  const [sh, sw] = pair(c.cfg.strides ?? 1);
  const dil = pair(c.cfg.dilationRate ?? 1);
  if (dil[0] !== 1 || dil[1] !== 1) throw unsupported(c.name, c.cls, 'dilation');
  const same = paddingMode(c) === 'same';
  const total = (k: number, st: number) => (same ? Math.max(k - st, 0) : 0);
  const [th, tw] = [total(kh, sh), total(kw, sw)];
  const pads = [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  const outPad = [Math.max(sh - kh, 0), Math.max(sw - kw, 0)];
  const bias = biasOf(c, 1, cout);
  const y = g.op('ConvTranspose', [c.x, g.f32(`${c.name}_w`, [cin, cout, kh, kw], kv), g.f32(`${c.name}_b`, [cout], bias)], {
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    pads,
    output_padding: outPad,
  });
  return activation(g, c.layer, activationName(c.layer), y);
};

/** Dense acts on the last (channel) axis: NCHW rank-4 tensors go through NHWC and back. */
const dense: OnnxEmitter = (c, g) => {
  const rank = g.rank(c.x);
  const rows = rank === 4 ? g.op('Transpose', [c.x], { perm: [0, 2, 3, 1] }) : c.x;
  const cout = c.w[0].shape[1] as number;
  const bias = biasOf(c, 1, cout);
  let y = g.op('Add', [g.op('MatMul', [rows, g.f32(`${c.name}_w`, c.w[0].shape, values(c.w[0]))]), g.f32(`${c.name}_b`, [cout], bias)]);
  if (rank === 4) y = g.op('Transpose', [y], { perm: [0, 3, 1, 2] });
  if (rank !== 4) g.ranks.set(y, rank);
  const out = activation(g, c.layer, activationName(c.layer), y);
  if (rank !== 4) g.ranks.set(out, rank);
  return out;
};

/** NCHW inside: tfjs' broadcast of [B,H,W,C] with [B,1,1,C] is [B,C,H,W] with [B,C,1,1]; mixed ranks are not. */
const elementwise: OnnxEmitter = (c, g) => {
  const op = { Add: 'Add', Multiply: 'Mul', Subtract: 'Sub', Maximum: 'Max', Minimum: 'Min' }[c.cls as ElementwiseLayer];
  if (c.ins.some((t) => g.rank(t) !== g.rank(c.x))) throw unsupported(c.name, c.cls, 'inputs of different ranks');
  return c.ins.slice(1).reduce((acc, b) => g.op(op, [acc, b]), c.ins[0]);
};

const pool: OnnxEmitter = (c, g) => {
  checkChannelsLast(c);
  const [ph, pw] = pair(c.cfg.poolSize ?? 2);
  const [sh, sw] = pair(c.cfg.strides ?? [ph, pw]);
  const attrs: Record<string, AttrValue> = { kernel_shape: [ph, pw], strides: [sh, sw], ...convPadding(c) };
  if (c.cls === 'AveragePooling2D') attrs.count_include_pad = 0;
  return g.op(c.cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [c.x], attrs);
};

/** Reshape / Flatten act on the NHWC view, as tfjs does. */
const reshape: OnnxEmitter = (c, g) => {
  const nhwc = g.rank(c.x) === 4 ? g.op('Transpose', [c.x], { perm: [0, 2, 3, 1] }) : c.x;
  let y: string;
  let rank: number;
  if (c.cls === 'Flatten') {
    y = g.op('Flatten', [nhwc], { axis: 1 });
    rank = 2;
  } else {
    const target = c.cfg.targetShape as number[];
    y = g.op('Reshape', [nhwc, g.i64('shape', [0, ...target])]);
    rank = target.length + 1;
  }
  if (rank === 4) y = g.op('Transpose', [y], { perm: [0, 3, 1, 2] });
  g.ranks.set(y, rank);
  return y;
};

/** ConstantOp (imported models): broadcast on NHWC's trailing axes -> the same value laid out for NCHW. */
const constantOp: OnnxEmitter = (c, g) => {
  const op = c.cfg.op as string;
  if (op !== 'add' && op !== 'mul') throw unsupported(c.name, c.cls, `op "${op}"`);
  const v = c.w[0];
  let dims = v.shape;
  let data = values(v);
  if (g.rank(c.x) === 4 && dims.length > 0) {
    const full = [...Array(4 - dims.length).fill(1), ...dims];
    const t = tf.tidy(() => v.reshape(full).transpose([0, 3, 1, 2]));
    data = values(t);
    dims = t.shape;
    t.dispose();
  }
  return g.op(op === 'add' ? 'Add' : 'Mul', [c.x, g.f32(`${c.name}_value`, dims, data)]);
};

/** The mask filter's primitives in ONNX (NCHW; box = AveragePool with count_include_pad=0). */
function guidedFilterOps(g: GraphBuilder, c: Call): GuidedFilterOps<string, string> {
  return {
    guidance: (p) => {
      // 1x1 conv weights [out, in, 1, 1] = transposed dense weights
      const w1c = g.f32(`${c.name}_w1`, [p.hidden, 3, 1, 1], transposed(p.w1));
      const w2c = g.f32(`${c.name}_w2`, [1, p.hidden, 1, 1], transposed(p.w2));
      const b1c = g.f32(`${c.name}_b1`, [p.hidden], p.b1 ? values(p.b1) : new Float32Array(p.hidden));
      const b2c = g.f32(`${c.name}_b2`, [1], p.b2 ? values(p.b2) : [0]);
      const luma = g.f32(`${c.name}_luma`, [1, 3, 1, 1], GUIDE_LUMA);
      return (frame) => {
        const hidden = g.op('LeakyRelu', [g.op('Conv', [frame, w1c, b1c], { kernel_shape: [1, 1] })], { alpha: { float: 0.2 } });
        const learned = g.op('Conv', [hidden, w2c, b2c], { kernel_shape: [1, 1] });
        return g.op('Add', [g.op('Conv', [frame, luma], { kernel_shape: [1, 1] }), learned]);
      };
    },
    box: (t) => {
      const r = c.cfg.radius as number;
      const k = 2 * r + 1;
      return g.op('AveragePool', [t], { kernel_shape: [k, k], strides: [1, 1], pads: [r, r, r, r], count_include_pad: 0 });
    },
    mul: (_tag, a, b) => g.op('Mul', [a, b]),
    sub: (_tag, a, b) => g.op('Sub', [a, b]),
    add: (_tag, a, b) => g.op('Add', [a, b]),
    div: (_tag, a, b) => g.op('Div', [a, b]),
    scalar: (tag, v) => g.f32(tag, [], [v]),
    sigmoid: (_tag, t) => g.op('Sigmoid', [t]),
    log: (_tag, t) => g.op('Log', [t]),
    clip: (tag, t, lo, hi) => g.op('Clip', [t, g.f32(`${c.name}_${tag}_lo`, [], [lo]), g.f32(`${c.name}_${tag}_hi`, [], [hi])]),
    sizeOf: (t, like) => g.sizesLike(t, g.spatial(like)),
    resize: (_tag, t, sizes) => g.resize(t, sizes, 'linear'),
  };
}

/** tfjs layer class -> ONNX ops (x, ins: NCHW tensor names inside the graph). */
const ONNX_OPS: Readonly<Record<string, OnnxEmitter>> = {
  Conv2D: conv,
  DepthwiseConv2D: conv,
  SeparableConv2D: separableConv,
  Conv2DTranspose: convTranspose,
  Dense: dense,
  BatchNormalization: (c, g) => {
    const bn = bnParams(c.layer, unsupported);
    const n = bn.scale.length;
    return g.op('Add', [g.op('Mul', [c.x, g.f32(`${c.name}_scale`, [1, n, 1, 1], bn.scale)]), g.f32(`${c.name}_shift`, [1, n, 1, 1], bn.shift)]);
  },
  Activation: (c, g) => activation(g, c.layer, String(c.cfg.activation), c.x, undefined),
  ReLU: (c, g) => {
    const maxValue = c.cfg.maxValue as number | null | undefined;
    if (maxValue == null) return g.op('Relu', [c.x]);
    return g.op('Clip', [c.x, g.f32('zero', [], [0]), g.f32('max', [], [maxValue])]);
  },
  LeakyReLU: (c, g) => g.op('LeakyRelu', [c.x], { alpha: { float: (c.cfg.alpha as number) ?? 0.3 } }),
  ...each(INFERENCE_IDENTITY, (c) => c.x),
  ...each(ELEMENTWISE, elementwise),
  Average: (c, g) => {
    const sum = c.ins.slice(1).reduce((acc, b) => g.op('Add', [acc, b]), c.ins[0]);
    return g.op('Mul', [sum, g.f32('inv_n', [], [1 / c.ins.length])]);
  },
  Concatenate: (c, g) => {
    const axis = (c.cfg.axis as number) ?? -1;
    if (axis !== -1 && axis !== 3) throw unsupported(c.name, c.cls, `concatenation along axis ${axis} (only channels)`);
    return g.op('Concat', c.ins, { axis: 1 });
  },
  UpSampling2D: (c, g) => {
    checkChannelsLast(c);
    const [fh, fw] = pair(c.cfg.size ?? 2);
    const mode = c.cfg.interpolation === 'bilinear' ? 'linear' : 'nearest';
    const hw = g.op('Mul', [g.spatial(c.x), g.i64('factor', [fh, fw])]);
    return g.resize(c.x, g.sizesLike(c.x, hw), mode);
  },
  MaxPooling2D: pool,
  AveragePooling2D: pool,
  ZeroPadding2D: (c, g) => {
    checkChannelsLast(c);
    const p = c.cfg.padding as [[number, number], [number, number]];
    return g.op('Pad', [c.x, g.i64('pads', [0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]])], { mode: 'constant' });
  },
  GlobalAveragePooling2D: (c, g) => {
    checkChannelsLast(c);
    const pooled = g.op('GlobalAveragePool', [c.x]); // [N, C, 1, 1]
    if (c.cfg.keepDims === true) return pooled;
    const flat = g.op('Flatten', [pooled], { axis: 1 });
    g.ranks.set(flat, 2);
    return flat;
  },
  Reshape: reshape,
  Flatten: reshape,
  // our custom layers (src/models/layers.ts, guided_filter.ts)
  Normalize: (c, g) => {
    const mean = c.cfg.mean as number[];
    const std = c.cfg.std as number[];
    const scale = g.f32('norm_scale', [1, 3, 1, 1], std.map((s) => 1 / s));
    const shift = g.f32('norm_shift', [1, 3, 1, 1], mean.map((m, i) => -m / std[i]));
    return g.op('Add', [g.op('Mul', [c.x, scale]), shift]);
  },
  ResizeTo: (c, g) => g.resize(c.x, g.sizesLike(c.x, g.i64('size', c.cfg.size as [number, number])), 'linear'),
  ResizeLike: (c, g) => g.resize(c.x, g.sizesLike(c.x, g.spatial(c.ins[1])), 'linear'),
  GuidedFilter: (c, g) => emitGuidedFilter(guidedFilterOps(g, c), guidedFilterParams(c.layer, unsupported), c.ins),
  // custom layers of imported models (src/models/imported_layers.ts)
  // x * relu6(x + 3) / 6 = x * HardSigmoid(x; alpha 1/6, beta 0.5) (opset 13 has no HardSwish)
  HardSwish: (c, g) => g.op('Mul', [c.x, g.op('HardSigmoid', [c.x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })]),
  BilinearResize: (c, g) => {
    const size = c.cfg.size as [number, number];
    const mode = c.cfg.alignCorners === true ? 'align_corners' : c.cfg.halfPixelCenters === true ? 'half_pixel' : 'asymmetric';
    return g.op('Resize', [c.x, '', '', g.sizesLike(c.x, g.i64('size', size))], { mode: 'linear', coordinate_transformation_mode: mode });
  },
  ConstantOp: constantOp,
};

/** Builds the ONNX graph of a single-input, single-output LayersModel. */
export function modelToOnnx(model: tf.LayersModel, metadata: Record<string, string> = {}, docString = ''): OnnxModel {
  const g = new GraphBuilder();
  const { output } = walkLayers(model, {
    format: 'ONNX',
    unsupported,
    builder: g,
    input: () => g.op('Transpose', [ONNX_INPUT], { perm: [0, 3, 1, 2] }),
    ops: ONNX_OPS,
    after: (out, ins) => {
      if (!g.ranks.has(out) && g.rank(ins[0]) !== 4) g.ranks.set(out, g.rank(ins[0]));
    },
  });
  g.op('Transpose', [output], { perm: [0, 2, 3, 1] }, ONNX_OUTPUT);
  const inShape = model.inputs[0].shape;
  const outShape = model.outputs[0].shape;
  const dim = (d: number | null, sym: string): number | string => (d == null ? sym : d);
  return {
    irVersion: 8,
    opset: ONNX_OPSET,
    producerName: 'portraitseg',
    producerVersion: '0.1.0',
    docString,
    graphName: model.name,
    nodes: g.nodes,
    initializers: g.inits,
    inputs: [{ name: ONNX_INPUT, elemType: DT.FLOAT, dims: [dim(inShape[0], 'N'), dim(inShape[1], 'H'), dim(inShape[2], 'W'), dim(inShape[3], 'C')] }],
    outputs: [{ name: ONNX_OUTPUT, elemType: DT.FLOAT, dims: [dim(outShape[0], 'N'), dim(outShape[1], 'H'), dim(outShape[2], 'W'), dim(outShape[3], 'K')] }],
    metadata,
  };
}

/** Encodes a LayersModel as ONNX bytes. */
export function exportOnnxBytes(model: tf.LayersModel, metadata: Record<string, string> = {}): Uint8Array {
  return encodeModel(modelToOnnx(model, metadata, 'portraitseg person segmentation: image NHWC RGB 0..1 -> logits NHWC'));
}

type Ort = typeof import('onnxruntime-node');

/** Loads onnxruntime-node (an optional dependency) with a clear message when absent. */
export function loadOrt(): Ort {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as Ort;
  } catch (e) {
    throw new Error(`onnxruntime-node is needed to check ONNX exports but could not be loaded (${(e as Error).message.split('\n')[0]}); install it with: npm install onnxruntime-node --onnxruntime-node-install=skip`);
  }
}

/** Runs ONNX bytes on an NHWC input with onnxruntime-node; returns the NHWC output. */
export async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(bytes);
  try {
    const res = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', input, dims) });
    const out = res[ONNX_OUTPUT];
    return { data: out.data as Float32Array, dims: [...out.dims] };
  } finally {
    await session.release();
  }
}
