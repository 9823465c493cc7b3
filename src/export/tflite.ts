/**
 * TensorFlow Lite exporter: walks a tf.LayersModel's functional graph layer by layer and
 * writes an equivalent .tflite FlatBuffer (TFLite's schema.fbs, bindings in src/util/tflite)
 * made of BUILTIN operators only, so every stock TFLite / LiteRT runtime (Android, iOS,
 * MediaPipe, LiteRT.js) loads it without custom ops.
 *
 * Fixed shapes: TFLite models are compiled for one input shape. The model is written for
 * [1, H, W, 3] at the frame size it was trained on (ModelMeta.frameSize: the CNN's input size,
 * or the mask filter's full-resolution frame). Every intermediate shape is static.
 *
 * Interface: input `image` [1, H, W, 3] float32 RGB in 0..1, output `logits` [1, H, W, 1]
 * (sigmoid gives P(person)), like the tfjs model; layouts are NHWC throughout (TFLite's own).
 *
 * Weights: float32, or float16 (`quantize: 'float16'`) the way MediaPipe ships its models:
 * every conv / dense kernel and bias is a FLOAT16 constant behind a DEQUANTIZE op that turns
 * it into float32 when the interpreter prepares the graph; activations stay float32.
 *
 * Mapping (tfjs -> TFLite):
 *   Conv2D -> CONV_2D (filter OHWI), DepthwiseConv2D -> DEPTHWISE_CONV_2D (filter
 *   [1, kh, kw, C*M]), Conv2DTranspose -> TRANSPOSE_CONV (+ bias ADD), Dense ->
 *   FULLY_CONNECTED (keep_num_dims); a BatchNormalization that is a conv's only consumer is
 *   folded into its weights, and a ReLU / ReLU6 that is then the only consumer becomes the
 *   conv's fused activation. Standalone BatchNormalization -> MUL + ADD; ReLU(maxValue 6) ->
 *   RELU6; Activation -> RELU / RELU6 / LOGISTIC / TANH / HARD_SWISH / LEAKY_RELU;
 *   Add / Multiply / Subtract / Maximum / Minimum -> ADD / MUL / SUB / MAXIMUM / MINIMUM;
 *   Concatenate -> CONCATENATION (axis 3); Average/MaxPooling2D -> AVERAGE/MAX_POOL_2D (TF's
 *   SAME padding, the average over valid pixels, is TFLite's); GlobalAveragePooling2D -> MEAN;
 *   ZeroPadding2D -> PAD; Reshape -> RESHAPE; UpSampling2D -> RESIZE_BILINEAR /
 *   RESIZE_NEAREST_NEIGHBOR.
 *   Resizes keep tfjs' sampling exactly: our layers (ResizeTo, ResizeLike, UpSampling2D, the
 *   mask filter) use tfjs' default alignCorners=false, halfPixelCenters=false, which is
 *   TFLite's align_corners=false, half_pixel_centers=false; a layer that samples at half-pixel
 *   centres writes half_pixel_centers=true.
 *   Our custom layers: Normalize -> MUL + ADD; ResizeTo / ResizeLike -> RESIZE_BILINEAR to the
 *   static size (nothing when the size already matches, as in tfjs); GuidedFilter (the mask
 *   filter) -> 1x1 CONV_2D guidance net with LEAKY_RELU, box means as AVERAGE_POOL_2D
 *   (k = 2r+1, stride 1, SAME: TF's SAME average pool divides by the number of valid pixels,
 *   exactly guided_filter.ts' boxMean), MUL / SUB / ADD / DIV for A and b, RESIZE_BILINEAR.
 *   Custom layers of imported models (src/models/imported_layers.ts): HardSwish -> HARD_SWISH,
 *   BilinearResize -> RESIZE_BILINEAR with its own align_corners / half_pixel_centers,
 *   ConstantOp -> ADD / MUL with a constant tensor.
 *   Any other layer fails with an error naming it.
 */
import * as flatbuffers from 'flatbuffers';
import * as tf from '@tensorflow/tfjs';
import { tfl, TFLITE_SCHEMA_VERSION, writeTfliteModel } from '../util/tflite';
import { toHalf } from './tfjs';
import { segmenterMetadata, SegmenterMetadataOptions, TFLITE_METADATA_NAME } from './tflite-metadata';

import { TFLITE_INPUT, TFLITE_OUTPUT, TFLITE_SIGNATURE } from './tflite-io';
import { bnParams, BnParams, values } from './fold';
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

export { TFLITE_INPUT, TFLITE_OUTPUT, TFLITE_SIGNATURE };

export type TfliteQuantize = 'none' | 'float16';

export class TfliteUnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`tflite export: layer "${layer}" (${className}) is not supported: ${why}`);
    this.name = 'TfliteUnsupportedLayerError';
  }
}

export interface TfliteExportOptions {
  /** [height, width] of the fixed input (the model's frame size). */
  inputSize: [number, number];
  quantize?: TfliteQuantize;
  /** Model.description (free text). */
  description?: string;
  /** Name -> UTF-8 text, written as Model.metadata buffers (e.g. portraitseg.json). */
  metadata?: Record<string, string>;
  /**
   * TFLite Support segmenter metadata (TFLITE_METADATA), which MediaPipe Tasks' ImageSegmenter
   * needs: input normalisation, and the sigmoid it applies to our logits.
   */
  segmenter?: Omit<SegmenterMetadataOptions, 'input' | 'output' | 'activation'>;
}

const Op = tfl.BuiltinOperator;
const Opt = tfl.BuiltinOptions;
const Act = tfl.ActivationFunctionType;

function bytesOf(a: Float32Array | Int32Array | Uint16Array): number[] {
  // the bindings accept a Uint8Array where they declare number[] (createDataVector)
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice() as unknown as number[];
}

/**
 * An operator that packs without the empty vectors flatc's object API writes for unset
 * fields: stock TFLite reports "Found builtin operator X with custom options" for a builtin
 * op whose custom_options is present, even when empty (seen in MediaPipe's runtime).
 */
class BuiltinOperatorT extends tfl.OperatorT {
  pack(builder: flatbuffers.Builder): flatbuffers.Offset {
    const inputs = tfl.Operator.createInputsVector(builder, this.inputs);
    const outputs = tfl.Operator.createOutputsVector(builder, this.outputs);
    const options = builder.createObjectOffset(this.builtinOptions);
    return tfl.Operator.createOperator(builder, this.opcodeIndex, inputs, outputs, this.builtinOptionsType, options, 0, this.customOptionsFormat, 0, 0, BigInt(0), BigInt(0), tfl.BuiltinOptions2.NONE, 0, -1);
  }
}

/** Collects tensors, buffers and operators of one subgraph. */
class TfliteBuilder {
  tensors: InstanceType<typeof tfl.TensorT>[] = [];
  buffers: InstanceType<typeof tfl.BufferT>[] = [new tfl.BufferT([])];
  ops: InstanceType<typeof tfl.OperatorT>[] = [];
  codes: InstanceType<typeof tfl.OperatorCodeT>[] = [];
  private codeIndex = new Map<number, number>();
  private names = new Set<string>();

  constructor(readonly quantize: TfliteQuantize) {}

  shape(t: number): number[] {
    return this.tensors[t].shape;
  }

  private unique(name: string): string {
    let n = name;
    for (let i = 1; this.names.has(n); i++) n = `${name}_${i}`;
    this.names.add(n);
    return n;
  }

  /** A float32 activation tensor (no data). */
  act(name: string, shape: number[]): number {
    this.tensors.push(new tfl.TensorT(shape, tfl.TensorType.FLOAT32, 0, this.unique(name)));
    return this.tensors.length - 1;
  }

  private constant(name: string, shape: number[], type: tfl.TensorType, data: number[]): number {
    this.buffers.push(new tfl.BufferT(data));
    this.tensors.push(new tfl.TensorT(shape, type, this.buffers.length - 1, this.unique(name)));
    return this.tensors.length - 1;
  }

  f32(name: string, shape: number[], values: ArrayLike<number>): number {
    return this.constant(name, shape, tfl.TensorType.FLOAT32, bytesOf(Float32Array.from(values)));
  }

  i32(name: string, shape: number[], values: number[]): number {
    return this.constant(name, shape, tfl.TensorType.INT32, bytesOf(Int32Array.from(values)));
  }

  /** A conv / dense weight: float32, or float16 behind DEQUANTIZE (MediaPipe's layout). */
  weight(name: string, shape: number[], values: Float32Array): number {
    if (this.quantize === 'none') return this.f32(name, shape, values);
    const half = Uint16Array.from(values, (v) => toHalf(v));
    const h = this.constant(name, shape, tfl.TensorType.FLOAT16, bytesOf(half));
    const out = this.act(`${name}_dequantize`, shape);
    this.op(Op.DEQUANTIZE, [h], [out], Opt.NONE, null, 3);
    return out;
  }

  /**
   * Appends an operator. `version` is the op version the features used need (TFLite's
   * op_version.cc: e.g. float16 DEQUANTIZE 3, half-pixel RESIZE_BILINEAR 3, TRANSPOSE_CONV with
   * bias 3, FULLY_CONNECTED keep_num_dims 5); an OperatorCode carries the highest one used.
   */
  op(code: tfl.BuiltinOperator, inputs: number[], outputs: number[], optType = Opt.NONE, options: unknown = null, version = 1): void {
    let idx = this.codeIndex.get(code);
    if (idx === undefined) {
      // codes below 127 also go in the deprecated int8 field, as TFLite's converter writes them
      this.codes.push(new tfl.OperatorCodeT(Math.min(code, 127), null, version, code));
      idx = this.codes.length - 1;
      this.codeIndex.set(code, idx);
    }
    this.codes[idx].version = Math.max(this.codes[idx].version, version);
    this.ops.push(new BuiltinOperatorT(idx, inputs, outputs, optType, options as never));
  }

  /** Emits a one-output op and returns its new output tensor. */
  emit(code: tfl.BuiltinOperator, name: string, inputs: number[], shape: number[], optType = Opt.NONE, options: unknown = null, version = 1): number {
    const out = this.act(name, shape);
    this.op(code, inputs, [out], optType, options, version);
    return out;
  }

  /** Element-wise binary op with numpy broadcasting. */
  binary(code: tfl.BuiltinOperator, name: string, a: number, b: number): number {
    const sa = this.shape(a);
    const sb = this.shape(b);
    const n = Math.max(sa.length, sb.length);
    const pa = [...Array(n - sa.length).fill(1), ...sa];
    const pb = [...Array(n - sb.length).fill(1), ...sb];
    const shape = pa.map((d, i) => Math.max(d, pb[i]));
    const opts: Record<number, [tfl.BuiltinOptions, unknown]> = {
      [Op.ADD]: [Opt.AddOptions, new tfl.AddOptionsT()],
      [Op.MUL]: [Opt.MulOptions, new tfl.MulOptionsT()],
      [Op.SUB]: [Opt.SubOptions, new tfl.SubOptionsT()],
      [Op.DIV]: [Opt.DivOptions, new tfl.DivOptionsT()],
      [Op.MAXIMUM]: [Opt.MaximumMinimumOptions, new tfl.MaximumMinimumOptionsT()],
      [Op.MINIMUM]: [Opt.MaximumMinimumOptions, new tfl.MaximumMinimumOptionsT()],
    };
    const [t, o] = opts[code] ?? [Opt.NONE, null];
    return this.emit(code, name, [a, b], shape, t, o);
  }

  /** RESIZE_BILINEAR to [h, w]; `halfPixel` false is tfjs' default (alignCorners=false, halfPixelCenters=false). */
  resizeBilinear(name: string, x: number, h: number, w: number, halfPixel = false): number {
    const s = this.shape(x);
    if (s[1] === h && s[2] === w) return x;
    const size = this.i32(`${name}_size`, [2], [h, w]);
    return this.emit(Op.RESIZE_BILINEAR, name, [x, size], [s[0], h, w, s[3]], Opt.ResizeBilinearOptions, new tfl.ResizeBilinearOptionsT(false, halfPixel), halfPixel ? 3 : 1);
  }

  resizeNearest(name: string, x: number, h: number, w: number, halfPixel = false): number {
    const s = this.shape(x);
    if (s[1] === h && s[2] === w) return x;
    const size = this.i32(`${name}_size`, [2], [h, w]);
    return this.emit(Op.RESIZE_NEAREST_NEIGHBOR, name, [x, size], [s[0], h, w, s[3]], Opt.ResizeNearestNeighborOptions, new tfl.ResizeNearestNeighborOptionsT(false, halfPixel), halfPixel ? 3 : 1);
  }

  /** 2-D convolution; filter OHWI. */
  conv(name: string, x: number, filter: Float32Array, fshape: number[], bias: Float32Array, o: ConvParams): number {
    const [, h, w] = this.shape(x);
    const [oh, ow] = [convOut(h, fshape[1], o.stride[0], o.dilation[0], o.padding), convOut(w, fshape[2], o.stride[1], o.dilation[1], o.padding)];
    const f = this.weight(`${name}/kernel`, fshape, filter);
    const b = this.weight(`${name}/bias`, [fshape[0]], bias);
    const opts = new tfl.Conv2DOptionsT(o.padding, o.stride[1], o.stride[0], o.act, o.dilation[1], o.dilation[0]);
    const dilated = o.dilation[0] !== 1 || o.dilation[1] !== 1;
    return this.emit(Op.CONV_2D, name, [x, f, b], [this.shape(x)[0], oh, ow, fshape[0]], Opt.Conv2DOptions, opts, dilated ? 2 : 1);
  }

  /** Depthwise convolution; filter [1, kh, kw, C*M]. */
  depthwise(name: string, x: number, filter: Float32Array, fshape: number[], bias: Float32Array, multiplier: number, o: ConvParams): number {
    const [n, h, w] = this.shape(x);
    const [oh, ow] = [convOut(h, fshape[1], o.stride[0], o.dilation[0], o.padding), convOut(w, fshape[2], o.stride[1], o.dilation[1], o.padding)];
    const f = this.weight(`${name}/depthwise_kernel`, fshape, filter);
    const b = this.weight(`${name}/bias`, [fshape[3]], bias);
    const opts = new tfl.DepthwiseConv2DOptionsT(o.padding, o.stride[1], o.stride[0], multiplier, o.act, o.dilation[1], o.dilation[0]);
    const dilated = o.dilation[0] !== 1 || o.dilation[1] !== 1;
    return this.emit(Op.DEPTHWISE_CONV_2D, name, [x, f, b], [n, oh, ow, fshape[3]], Opt.DepthwiseConv2DOptions, opts, dilated ? 2 : 1);
  }

  pool(code: tfl.BuiltinOperator, name: string, x: number, k: [number, number], stride: [number, number], padding: tfl.Padding): number {
    const [n, h, w, c] = this.shape(x);
    const opts = new tfl.Pool2DOptionsT(padding, stride[1], stride[0], k[1], k[0], Act.NONE);
    return this.emit(code, name, [x], [n, convOut(h, k[0], stride[0], 1, padding), convOut(w, k[1], stride[1], 1, padding), c], Opt.Pool2DOptions, opts);
  }

  reshape(name: string, x: number, shape: number[]): number {
    const s = this.i32(`${name}_shape`, [shape.length], shape);
    return this.emit(Op.RESHAPE, name, [x, s], shape, Opt.ReshapeOptions, new tfl.ReshapeOptionsT(shape));
  }
}

interface ConvParams {
  stride: [number, number];
  dilation: [number, number];
  padding: tfl.Padding;
  act: tfl.ActivationFunctionType;
}

/** TF's output size for SAME / VALID padding. */
function convOut(size: number, k: number, stride: number, dilation: number, padding: tfl.Padding): number {
  if (padding === tfl.Padding.SAME) return Math.ceil(size / stride);
  return Math.floor((size - (k - 1) * dilation - 1) / stride) + 1;
}

const unsupported = (layer: string, cls: string, why: string) => new TfliteUnsupportedLayerError(layer, cls, why);

type Call = LayerCall<number>;
type TfliteEmitter = Emitter<number, TfliteBuilder>;

function padding(c: Call): tfl.Padding {
  return paddingMode(c) === 'same' ? tfl.Padding.SAME : tfl.Padding.VALID;
}

/** tfjs conv kernel [kh, kw, in, out] -> TFLite OHWI [out, kh, kw, in]. */
function ohwi(k: tf.Tensor): { w: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = k.shape;
  const t = tf.tidy(() => k.transpose([3, 0, 1, 2]));
  const w = values(t);
  t.dispose();
  return { w, dims: [cout, kh, kw, cin] };
}

/** The fused activation a conv can take for a tfjs activation name, or null. */
function fusable(name: string): tfl.ActivationFunctionType | null {
  if (name === 'linear') return Act.NONE;
  if (name === 'relu') return Act.RELU;
  if (name === 'relu6') return Act.RELU6;
  if (name === 'tanh') return Act.TANH;
  return null;
}

/** A standalone activation, by tfjs name. */
function activation(b: TfliteBuilder, layer: tf.layers.Layer, name: string, x: number, out: string): number {
  const s = b.shape(x);
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return b.emit(Op.RELU, out, [x], s);
    case 'relu6':
      return b.emit(Op.RELU6, out, [x], s);
    case 'sigmoid':
      return b.emit(Op.LOGISTIC, out, [x], s);
    case 'tanh':
      return b.emit(Op.TANH, out, [x], s);
    case 'swish':
      return b.binary(Op.MUL, out, x, b.emit(Op.LOGISTIC, `${out}_sigmoid`, [x], s));
    case 'hardSwish':
    case 'hard_swish':
      return b.emit(Op.HARD_SWISH, out, [x], s, Opt.HardSwishOptions, new tfl.HardSwishOptionsT());
    default:
      throw new TfliteUnsupportedLayerError(layer.name, layer.getClassName(), `activation "${name}"`);
  }
}

/**
 * Layers a conv can absorb: a BatchNormalization that is its only consumer (folded into the
 * weights), then a ReLU / ReLU6 / fusable Activation that is the only consumer after that.
 * Returns the folded scale/shift, the fused activation and the keys now produced by the conv.
 */
function absorb(c: Call, act: string): { bn: BnParams | null; act: tfl.ActivationFunctionType | null; keys: string[] } {
  let fused = fusable(act);
  if (fused === null) return { bn: null, act: null, keys: [] };
  const sole = (k: string) => {
    if (k === c.walk.outputKey) return null;
    const cons = c.walk.consumers.get(k) ?? [];
    return cons.length === 1 ? cons[0] : null;
  };
  const keys: string[] = [];
  let cur = c.outKey;
  let bn: BnParams | null = null;
  let next = sole(cur);
  if (fused === Act.NONE && next && next.layer.getClassName() === 'BatchNormalization') {
    bn = bnParams(next.layer, unsupported);
    cur = key(next.layer.name, next.node, 0);
    keys.push(cur);
    next = sole(cur);
  }
  if (fused === Act.NONE && next) {
    const cls = next.layer.getClassName();
    const cfg = next.layer.getConfig();
    let a: tfl.ActivationFunctionType | null = null;
    if (cls === 'ReLU' && (cfg.maxValue == null || cfg.maxValue === 6) && !cfg.negativeSlope && !cfg.threshold) a = cfg.maxValue === 6 ? Act.RELU6 : Act.RELU;
    else if (cls === 'Activation') a = fusable(String(cfg.activation));
    if (a !== null && a !== Act.NONE) {
      fused = a;
      keys.push(key(next.layer.name, next.node, 0));
    }
  }
  return { bn, act: fused, keys };
}

// ---------------------------------------------------------------- the op table's emitters

/** Conv2D / DepthwiseConv2D -> CONV_2D / DEPTHWISE_CONV_2D, absorbing a following batch norm and activation. */
const conv: TfliteEmitter = (c, b) => {
  checkChannelsLast(c);
  const depthwise = c.cls === 'DepthwiseConv2D';
  let k: { w: Float32Array; dims: number[] };
  let multiplier = 1;
  if (depthwise) {
    const [kh, kw, ch, m] = c.w[0].shape;
    multiplier = m;
    k = { w: values(c.w[0]), dims: [1, kh, kw, ch * m] }; // [kh,kw,C,M] -> [1,kh,kw,C*M]: same bytes
  } else {
    k = ohwi(c.w[0]);
  }
  const cout = depthwise ? k.dims[3] : k.dims[0];
  let bias = biasOf(c, 1, cout);
  const act = activationName(c.layer);
  const ab = absorb(c, act);
  if (ab.bn) bias = foldInto(k.w, bias, ab.bn, cout, !depthwise);
  const p: ConvParams = {
    stride: pair(c.cfg.strides ?? 1),
    dilation: pair(c.cfg.dilationRate ?? 1),
    padding: padding(c),
    act: ab.act ?? Act.NONE,
  };
  const y = depthwise ? b.depthwise(c.name, c.x, k.w, k.dims, bias, multiplier, p) : b.conv(c.name, c.x, k.w, k.dims, bias, p);
  for (const k2 of ab.keys) c.walk.names.set(k2, y);
  return ab.act === null ? activation(b, c.layer, act, y, `${c.name}_act`) : y;
};

const convTranspose: TfliteEmitter = (c, b) => {
  checkChannelsLast(c);
  const { name, x } = c;
  // tfjs kernel [kh, kw, out, in] -> TFLite TRANSPOSE_CONV filter OHWI [out, kh, kw, in]
  const [kh, kw, cout, cin] = c.w[0].shape;
  const t = tf.tidy(() => c.w[0].transpose([2, 0, 1, 3]));
  const kv = values(t);
  t.dispose();
  const [sh, sw] = pair(c.cfg.strides ?? 1);
  const pad = padding(c);
  const [n, h, wd] = b.shape(x);
  const oh = pad === tfl.Padding.SAME ? h * sh : h * sh + Math.max(kh - sh, 0);
  const ow = pad === tfl.Padding.SAME ? wd * sw : wd * sw + Math.max(kw - sw, 0);
  const dil = pair(c.cfg.dilationRate ?? 1);
  if (dil[0] !== 1 || dil[1] !== 1) throw unsupported(name, c.cls, 'dilation');
  const outShape = b.i32(`${name}_output_shape`, [4], [n, oh, ow, cout]);
  const f = b.weight(`${name}/kernel`, [cout, kh, kw, cin], kv);
  const bias = c.cfg.useBias !== false && c.w[1] ? b.weight(`${name}/bias`, [cout], values(c.w[1])) : -1;
  const inputs = [outShape, f, x];
  if (bias >= 0) inputs.push(bias);
  const y = b.emit(Op.TRANSPOSE_CONV, name, inputs, [n, oh, ow, cout], Opt.TransposeConvOptions, new tfl.TransposeConvOptionsT(pad, sw, sh, Act.NONE), bias >= 0 ? 3 : 1);
  return activation(b, c.layer, activationName(c.layer), y, `${name}_act`);
};

const dense: TfliteEmitter = (c, b) => {
  const [cin, cout] = c.w[0].shape;
  const t = tf.tidy(() => c.w[0].transpose());
  const kv = values(t);
  t.dispose();
  const s = b.shape(c.x);
  if (s[s.length - 1] !== cin) throw new Error(`tflite export: layer "${c.name}" expects ${cin} input features, got shape ${s.join('x')}`);
  const f = b.weight(`${c.name}/kernel`, [cout, cin], kv);
  const bias = b.weight(`${c.name}/bias`, [cout], biasOf(c, 1, cout));
  const act = activationName(c.layer);
  const fa = fusable(act);
  const y = b.emit(Op.FULLY_CONNECTED, c.name, [c.x, f, bias], [...s.slice(0, -1), cout], Opt.FullyConnectedOptions, new tfl.FullyConnectedOptionsT(fa ?? Act.NONE, undefined, true), 5);
  return fa === null ? activation(b, c.layer, act, y, `${c.name}_act`) : y;
};

const relu: TfliteEmitter = (c, b) => {
  const maxValue = c.cfg.maxValue as number | null | undefined;
  if (c.cfg.negativeSlope || c.cfg.threshold) throw unsupported(c.name, c.cls, 'negativeSlope / threshold');
  if (maxValue == null) return b.emit(Op.RELU, c.name, [c.x], b.shape(c.x));
  if (maxValue === 6) return b.emit(Op.RELU6, c.name, [c.x], b.shape(c.x));
  return b.binary(Op.MINIMUM, c.name, b.emit(Op.RELU, `${c.name}_relu`, [c.x], b.shape(c.x)), b.f32(`${c.name}/max`, [1], [maxValue]));
};

const elementwise: TfliteEmitter = (c, b) => {
  const code = { Add: Op.ADD, Multiply: Op.MUL, Subtract: Op.SUB, Maximum: Op.MAXIMUM, Minimum: Op.MINIMUM }[c.cls as ElementwiseLayer];
  return c.ins.slice(1).reduce((acc, y, i) => b.binary(code, i === c.ins.length - 2 ? c.name : `${c.name}_${i}`, acc, y), c.ins[0]);
};

const pool: TfliteEmitter = (c, b) => {
  checkChannelsLast(c);
  const k = pair(c.cfg.poolSize ?? 2);
  const s = pair(c.cfg.strides ?? k);
  return b.pool(c.cls === 'MaxPooling2D' ? Op.MAX_POOL_2D : Op.AVERAGE_POOL_2D, c.name, c.x, k, s, padding(c));
};

const zeroPadding: TfliteEmitter = (c, b) => {
  checkChannelsLast(c);
  const p = c.cfg.padding as [[number, number], [number, number]];
  const [n, h, wd, ch] = b.shape(c.x);
  const pads = b.i32(`${c.name}_paddings`, [4, 2], [0, 0, p[0][0], p[0][1], p[1][0], p[1][1], 0, 0]);
  return b.emit(Op.PAD, c.name, [c.x, pads], [n, h + p[0][0] + p[0][1], wd + p[1][0] + p[1][1], ch], Opt.PadOptions, new tfl.PadOptionsT());
};

/** The mask filter's primitives in TFLite builtins (box = AVERAGE_POOL_2D, SAME: the mean over valid pixels). */
function guidedFilterOps(b: TfliteBuilder, c: Call): GuidedFilterOps<number, [number, number]> {
  const name = c.name;
  const at = (tag: string) => (tag ? `${name}/${tag}` : name);
  let nBox = 0;
  return {
    guidance: (p) => {
      const t1 = tf.tidy(() => p.w1.transpose());
      const t2 = tf.tidy(() => p.w2.transpose());
      const w1v = values(t1); // [c, 3] = OHWI [c,1,1,3]
      const w2v = values(t2); // [1, c]
      tf.dispose([t1, t2]);
      const b1v = p.b1 ? values(p.b1) : new Float32Array(p.hidden);
      const b2v = p.b2 ? values(p.b2) : new Float32Array(1);
      const p1: ConvParams = { stride: [1, 1], dilation: [1, 1], padding: tfl.Padding.VALID, act: Act.NONE };
      return (frame, tag) => {
        const luma = b.conv(`${name}/${tag}_luma`, frame, Float32Array.from(GUIDE_LUMA), [1, 1, 1, 3], new Float32Array(1), p1);
        const pre = b.conv(`${name}/${tag}_hidden`, frame, w1v, [p.hidden, 1, 1, 3], b1v, p1);
        const hidden = b.emit(Op.LEAKY_RELU, `${name}/${tag}_leaky`, [pre], b.shape(pre), Opt.LeakyReluOptions, new tfl.LeakyReluOptionsT(0.2));
        const learned = b.conv(`${name}/${tag}_learned`, hidden, w2v, [1, 1, 1, p.hidden], b2v, p1);
        return b.binary(Op.ADD, `${name}/${tag}_guide`, luma, learned);
      };
    },
    box: (t) => {
      const k = 2 * (c.cfg.radius as number) + 1;
      return b.pool(Op.AVERAGE_POOL_2D, `${name}/box${nBox++}`, t, [k, k], [1, 1], tfl.Padding.SAME);
    },
    mul: (tag, x, y) => b.binary(Op.MUL, at(tag), x, y),
    sub: (tag, x, y) => b.binary(Op.SUB, at(tag), x, y),
    add: (tag, x, y) => b.binary(Op.ADD, at(tag), x, y),
    div: (tag, x, y) => b.binary(Op.DIV, at(tag), x, y),
    scalar: (tag, v) => b.f32(at(tag), [1], [v]),
    sigmoid: (tag, t) => b.emit(Op.LOGISTIC, at(tag), [t], b.shape(t)),
    log: (tag, t) => b.emit(Op.LOG, at(tag), [t], b.shape(t)),
    clip: (tag, t, lo, hi) => b.binary(Op.MINIMUM, at(`${tag}_hi`), b.binary(Op.MAXIMUM, at(`${tag}_lo`), t, b.f32(at(`${tag}_lo_value`), [1], [lo])), b.f32(at(`${tag}_hi_value`), [1], [hi])),
    sizeOf: (_t, like) => [b.shape(like)[1], b.shape(like)[2]],
    resize: (tag, t, [h, w]) => b.resizeBilinear(at(tag), t, h, w),
  };
}

/** tfjs layer class -> TFLite builtins (NHWC throughout, static shapes). */
const TFLITE_OPS: Readonly<Record<string, TfliteEmitter>> = {
  Conv2D: conv,
  DepthwiseConv2D: conv,
  Conv2DTranspose: convTranspose,
  Dense: dense,
  BatchNormalization: (c, b) => {
    const bn = bnParams(c.layer, unsupported);
    const n = bn.scale.length;
    const y = b.binary(Op.MUL, `${c.name}_scale`, c.x, b.f32(`${c.name}/scale`, [n], bn.scale));
    return b.binary(Op.ADD, c.name, y, b.f32(`${c.name}/shift`, [n], bn.shift));
  },
  Activation: (c, b) => activation(b, c.layer, String(c.cfg.activation), c.x, c.name),
  ReLU: relu,
  LeakyReLU: (c, b) => b.emit(Op.LEAKY_RELU, c.name, [c.x], b.shape(c.x), Opt.LeakyReluOptions, new tfl.LeakyReluOptionsT((c.cfg.alpha as number) ?? 0.3)),
  ...each(INFERENCE_IDENTITY, (c) => c.x),
  ...each(ELEMENTWISE, elementwise),
  Average: (c, b) => {
    const sum = c.ins.slice(1).reduce((acc, y, i) => b.binary(Op.ADD, `${c.name}_sum${i}`, acc, y), c.ins[0]);
    return b.binary(Op.MUL, c.name, sum, b.f32(`${c.name}/inv_n`, [1], [1 / c.ins.length]));
  },
  Concatenate: (c, b) => {
    const axis = (c.cfg.axis as number) ?? -1;
    if (axis !== -1 && axis !== 3) throw unsupported(c.name, c.cls, `concatenation along axis ${axis} (only channels)`);
    const shapes = c.ins.map((t) => b.shape(t));
    const shape = [...shapes[0].slice(0, 3), shapes.reduce((s, v) => s + v[3], 0)];
    return b.emit(Op.CONCATENATION, c.name, c.ins, shape, Opt.ConcatenationOptions, new tfl.ConcatenationOptionsT(3, Act.NONE));
  },
  UpSampling2D: (c, b) => {
    checkChannelsLast(c);
    const [fh, fw] = pair(c.cfg.size ?? 2);
    const [, h, wd] = b.shape(c.x);
    return c.cfg.interpolation === 'bilinear' ? b.resizeBilinear(c.name, c.x, h * fh, wd * fw) : b.resizeNearest(c.name, c.x, h * fh, wd * fw);
  },
  MaxPooling2D: pool,
  AveragePooling2D: pool,
  GlobalAveragePooling2D: (c, b) => {
    checkChannelsLast(c);
    const [n, , , ch] = b.shape(c.x);
    const keep = c.cfg.keepDims === true;
    const axes = b.i32(`${c.name}_axes`, [2], [1, 2]);
    return b.emit(Op.MEAN, c.name, [c.x, axes], keep ? [n, 1, 1, ch] : [n, ch], Opt.ReducerOptions, new tfl.ReducerOptionsT(keep));
  },
  ZeroPadding2D: zeroPadding,
  Reshape: (c, b) => {
    const target = c.cfg.targetShape as number[];
    const s = b.shape(c.x);
    const total = s.reduce((a, v) => a * v, 1);
    const known = target.filter((v) => v !== -1).reduce((a, v) => a * v, 1);
    return b.reshape(c.name, c.x, [s[0], ...target.map((v) => (v === -1 ? total / s[0] / known : v))]);
  },
  Flatten: (c, b) => {
    const s = b.shape(c.x);
    return b.reshape(c.name, c.x, [s[0], s.slice(1).reduce((a, v) => a * v, 1)]);
  },
  // our custom layers (src/models/layers.ts, guided_filter.ts)
  Normalize: (c, b) => {
    const mean = c.cfg.mean as number[];
    const std = c.cfg.std as number[];
    const y = b.binary(Op.MUL, `${c.name}_scale`, c.x, b.f32(`${c.name}/scale`, [3], std.map((s) => 1 / s)));
    return b.binary(Op.ADD, c.name, y, b.f32(`${c.name}/shift`, [3], mean.map((m, i) => -m / std[i])));
  },
  ResizeTo: (c, b) => {
    const size = c.cfg.size as [number, number];
    return b.resizeBilinear(c.name, c.x, size[0], size[1]);
  },
  ResizeLike: (c, b) => {
    const ref = b.shape(c.ins[1]);
    return b.resizeBilinear(c.name, c.x, ref[1], ref[2]);
  },
  GuidedFilter: (c, b) => emitGuidedFilter(guidedFilterOps(b, c), guidedFilterParams(c.layer, unsupported), c.ins),
  // custom layers of imported models (src/models/imported_layers.ts)
  HardSwish: (c, b) => b.emit(Op.HARD_SWISH, c.name, [c.x], b.shape(c.x), Opt.HardSwishOptions, new tfl.HardSwishOptionsT()),
  BilinearResize: (c, b) => {
    const size = c.cfg.size as [number, number];
    const s = b.shape(c.x);
    const sizeT = b.i32(`${c.name}_size`, [2], [size[0], size[1]]);
    const o = new tfl.ResizeBilinearOptionsT(c.cfg.alignCorners === true, c.cfg.halfPixelCenters === true);
    return b.emit(Op.RESIZE_BILINEAR, c.name, [c.x, sizeT], [s[0], size[0], size[1], s[3]], Opt.ResizeBilinearOptions, o, o.halfPixelCenters ? 3 : 1);
  },
  ConstantOp: (c, b) => {
    const op = c.cfg.op as string;
    if (op !== 'add' && op !== 'mul') throw unsupported(c.name, c.cls, `op "${op}"`);
    const v = c.w[0];
    const t = b.f32(`${c.name}/value`, v.shape.length ? v.shape : [1], values(v));
    return b.binary(op === 'add' ? Op.ADD : Op.MUL, c.name, c.x, t);
  },
};

/** Builds the TFLite FlatBuffer of a single-input, single-output LayersModel. */
export function modelToTflite(model: tf.LayersModel, opts: TfliteExportOptions): Uint8Array {
  const inChannels = model.inputs[0]?.shape[3] ?? 3;
  const b = new TfliteBuilder(opts.quantize ?? 'none');
  const walked = walkLayers(model, {
    format: 'TFLite',
    unsupported,
    builder: b,
    input: () => b.act(TFLITE_INPUT, [1, opts.inputSize[0], opts.inputSize[1], inChannels]),
    ops: TFLITE_OPS,
  });
  const input = walked.input;
  let output = walked.output;
  if (output === input || b.tensors[output].buffer !== 0) {
    // the output must be produced by an op: copy through a no-op reshape
    output = b.reshape(TFLITE_OUTPUT, output, b.shape(output));
  }
  b.tensors[output].name = TFLITE_OUTPUT;
  const sub = new tfl.SubGraphT(b.tensors, [input], [output], b.ops, 'main');
  const sig = new tfl.SignatureDefT([new tfl.TensorMapT(TFLITE_INPUT, input)], [new tfl.TensorMapT(TFLITE_OUTPUT, output)], TFLITE_SIGNATURE, 0);
  const metadata: InstanceType<typeof tfl.MetadataT>[] = [];
  const addMetadata = (name: string, bytes: Uint8Array) => {
    b.buffers.push(new tfl.BufferT(bytes as unknown as number[]));
    metadata.push(new tfl.MetadataT(name, b.buffers.length - 1));
  };
  if (opts.segmenter) {
    const [h, w] = opts.inputSize;
    addMetadata(
      TFLITE_METADATA_NAME,
      segmenterMetadata({
        ...opts.segmenter,
        input: { name: TFLITE_INPUT, description: `RGB frame ${w}x${h}, values 0..1`, width: w, height: h },
        output: { name: TFLITE_OUTPUT, description: 'person logits (sigmoid gives P(person))' },
        activation: 'sigmoid',
      }),
    );
  }
  for (const [name, text] of Object.entries(opts.metadata ?? {})) addMetadata(name, Uint8Array.from(Buffer.from(text, 'utf8')));
  const m = new tfl.ModelT(TFLITE_SCHEMA_VERSION, b.codes, [sub], opts.description ?? 'portraitseg', b.buffers, [], metadata, [sig]);
  const size = b.buffers.reduce((s, x) => s + x.data.length, 0);
  return writeTfliteModel(m, size + (1 << 16));
}

/** Builtin operator names used by a .tflite file, and the custom codes (none in ours). */
export function tfliteOperators(model: InstanceType<typeof tfl.ModelT>): { builtin: string[]; custom: string[] } {
  const builtin = new Set<string>();
  const custom = new Set<string>();
  for (const c of model.operatorCodes) {
    const code = Math.max(c.builtinCode, c.deprecatedBuiltinCode);
    if (code === Op.CUSTOM) custom.add(String(c.customCode));
    else builtin.add(tfl.BuiltinOperator[code]);
  }
  return { builtin: [...builtin].sort(), custom: [...custom].sort() };
}
