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
import { PROB_CLIP } from '../models/guided_filter';
import * as flatbuffers from 'flatbuffers';
import * as tf from '@tensorflow/tfjs';
import { tfl, TFLITE_SCHEMA_VERSION, writeTfliteModel } from '../util/tflite';
import { toHalf } from './tfjs';
import { segmenterMetadata, SegmenterMetadataOptions, TFLITE_METADATA_NAME } from './tflite-metadata';

import { TFLITE_INPUT, TFLITE_OUTPUT, TFLITE_SIGNATURE } from './tflite-io';
import { bnParams, BnParams, values } from './fold';

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

// Internal tfjs-layers graph structures (not in the public typings).
interface SymNode {
  inboundLayers: tf.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
}
type GraphLayer = tf.layers.Layer & { inboundNodes: SymNode[] };

const key = (layer: string, node: number, tensor: number) => `${layer}/${node}/${tensor}`;
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

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number];
}


/** tfjs conv kernel [kh, kw, in, out] -> TFLite OHWI [out, kh, kw, in]. */
function ohwi(k: tf.Tensor): { w: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = k.shape;
  const t = tf.tidy(() => k.transpose([3, 0, 1, 2]));
  const w = values(t);
  t.dispose();
  return { w, dims: [cout, kh, kw, cin] };
}


function padding(layer: tf.layers.Layer, p: unknown): tfl.Padding {
  if (p === 'same') return tfl.Padding.SAME;
  if (p === 'valid') return tfl.Padding.VALID;
  throw new TfliteUnsupportedLayerError(layer.name, layer.getClassName(), `padding "${String(p)}"`);
}

function activationName(layer: tf.layers.Layer): string {
  const a = layer.getConfig().activation;
  return a == null ? 'linear' : String(a);
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

/** Builds the TFLite FlatBuffer of a single-input, single-output LayersModel. */
export function modelToTflite(model: tf.LayersModel, opts: TfliteExportOptions): Uint8Array {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`tflite export: expected a model with one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const inChannels = model.inputs[0].shape[3] ?? 3;
  const b = new TfliteBuilder(opts.quantize ?? 'none');
  const names = new Map<string, number>(); // symbolic tensor key -> tflite tensor index
  const layers = model.layers as GraphLayer[];
  const inModel = new Set(layers.map((l) => l.name));
  const consumers = new Map<string, { layer: GraphLayer; node: number }[]>();
  for (const layer of layers) {
    layer.inboundNodes.forEach((node, ni) => {
      node.inboundLayers.forEach((src, i) => {
        if (!inModel.has(src.name)) return;
        const k = key(src.name, node.nodeIndices[i], node.tensorIndices[i]);
        consumers.set(k, [...(consumers.get(k) ?? []), { layer, node: ni }]);
      });
    });
  }
  const out0 = model.outputs[0];
  const outputKey = key(out0.sourceLayer.name, out0.nodeIndex, out0.tensorIndex);
  const ctx: WalkContext = { b, consumers, names, outputKey };

  let input = -1;
  for (const layer of layers) {
    const cls = layer.getClassName();
    layer.inboundNodes.forEach((node, ni) => {
      if (cls === 'InputLayer') {
        if (ni > 0) return;
        input = b.act(TFLITE_INPUT, [1, opts.inputSize[0], opts.inputSize[1], inChannels]);
        names.set(key(layer.name, 0, 0), input);
        return;
      }
      const outKey = key(layer.name, ni, 0);
      if (names.has(outKey)) return; // folded into an earlier op
      const inKeys = node.inboundLayers.map((src, i) => key(src.name, node.nodeIndices[i], node.tensorIndices[i]));
      if (inKeys.some((k) => !names.has(k))) return; // a node of another model sharing this layer
      const ins = inKeys.map((k) => names.get(k) as number);
      names.set(outKey, emitLayer(ctx, layer, cls, ins, outKey));
    });
  }
  let output = names.get(outputKey);
  if (output === undefined) throw new Error(`tflite export: the model output (layer ${out0.sourceLayer.name}) was not reached while walking the graph`);
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

interface WalkContext {
  b: TfliteBuilder;
  consumers: Map<string, { layer: GraphLayer; node: number }[]>;
  names: Map<string, number>;
  outputKey: string;
}

/**
 * Layers a conv can absorb: a BatchNormalization that is its only consumer (folded into the
 * weights), then a ReLU / ReLU6 / fusable Activation that is the only consumer after that.
 * Returns the folded scale/shift, the fused activation and the keys now produced by the conv.
 */
function absorb(ctx: WalkContext, outKey: string, act: string): { bn: BnParams | null; act: tfl.ActivationFunctionType | null; keys: string[] } {
  let fused = fusable(act);
  if (fused === null) return { bn: null, act: null, keys: [] };
  const sole = (k: string) => {
    if (k === ctx.outputKey) return null;
    const c = ctx.consumers.get(k) ?? [];
    return c.length === 1 ? c[0] : null;
  };
  const keys: string[] = [];
  let cur = outKey;
  let bn: BnParams | null = null;
  let next = sole(cur);
  if (fused === Act.NONE && next && next.layer.getClassName() === 'BatchNormalization') {
    bn = bnParams(next.layer, (l, c, w) => new TfliteUnsupportedLayerError(l, c, w));
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

function emitLayer(ctx: WalkContext, layer: tf.layers.Layer, cls: string, ins: number[], outKey: string): number {
  const { b } = ctx;
  const cfg = layer.getConfig();
  const w = layer.getWeights();
  const x = ins[0];
  const name = layer.name;
  const checkChannelsLast = () => {
    if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') throw new TfliteUnsupportedLayerError(name, cls, `dataFormat ${String(cfg.dataFormat)}`);
  };
  switch (cls) {
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      checkChannelsLast();
      const depthwise = cls === 'DepthwiseConv2D';
      let k: { w: Float32Array; dims: number[] };
      let multiplier = 1;
      if (depthwise) {
        const [kh, kw, c, m] = w[0].shape;
        multiplier = m;
        k = { w: values(w[0]), dims: [1, kh, kw, c * m] }; // [kh,kw,C,M] -> [1,kh,kw,C*M]: same bytes
      } else {
        k = ohwi(w[0]);
      }
      const cout = depthwise ? k.dims[3] : k.dims[0];
      let bias = cfg.useBias !== false && w[1] ? values(w[1]) : new Float32Array(cout);
      const act = activationName(layer);
      const ab = absorb(ctx, outKey, act);
      if (ab.bn) {
        const { scale, shift } = ab.bn;
        if (depthwise) for (let i = 0; i < k.w.length; i++) k.w[i] *= scale[i % cout];
        else {
          const per = k.w.length / cout;
          for (let o = 0; o < cout; o++) for (let j = 0; j < per; j++) k.w[o * per + j] *= scale[o];
        }
        bias = Float32Array.from(bias, (v, o) => v * scale[o] + shift[o]);
      }
      const p: ConvParams = {
        stride: pair(cfg.strides ?? 1),
        dilation: pair(cfg.dilationRate ?? 1),
        padding: padding(layer, cfg.padding),
        act: ab.act ?? Act.NONE,
      };
      const y = depthwise ? b.depthwise(name, x, k.w, k.dims, bias, multiplier, p) : b.conv(name, x, k.w, k.dims, bias, p);
      for (const k2 of ab.keys) ctx.names.set(k2, y);
      return ab.act === null ? activation(b, layer, act, y, `${name}_act`) : y;
    }
    case 'Conv2DTranspose': {
      checkChannelsLast();
      // tfjs kernel [kh, kw, out, in] -> TFLite TRANSPOSE_CONV filter OHWI [out, kh, kw, in]
      const [kh, kw, cout, cin] = w[0].shape;
      const t = tf.tidy(() => w[0].transpose([2, 0, 1, 3]));
      const kv = values(t);
      t.dispose();
      const [sh, sw] = pair(cfg.strides ?? 1);
      const pad = padding(layer, cfg.padding);
      const [n, h, wd] = b.shape(x);
      const oh = pad === tfl.Padding.SAME ? h * sh : h * sh + Math.max(kh - sh, 0);
      const ow = pad === tfl.Padding.SAME ? wd * sw : wd * sw + Math.max(kw - sw, 0);
      const dil = pair(cfg.dilationRate ?? 1);
      if (dil[0] !== 1 || dil[1] !== 1) throw new TfliteUnsupportedLayerError(name, cls, 'dilation');
      const outShape = b.i32(`${name}_output_shape`, [4], [n, oh, ow, cout]);
      const f = b.weight(`${name}/kernel`, [cout, kh, kw, cin], kv);
      const bias = cfg.useBias !== false && w[1] ? b.weight(`${name}/bias`, [cout], values(w[1])) : -1;
      const inputs = [outShape, f, x];
      if (bias >= 0) inputs.push(bias);
      const y = b.emit(Op.TRANSPOSE_CONV, name, inputs, [n, oh, ow, cout], Opt.TransposeConvOptions, new tfl.TransposeConvOptionsT(pad, sw, sh, Act.NONE), bias >= 0 ? 3 : 1);
      return activation(b, layer, activationName(layer), y, `${name}_act`);
    }
    case 'Dense': {
      const [cin, cout] = w[0].shape;
      const t = tf.tidy(() => w[0].transpose());
      const kv = values(t);
      t.dispose();
      const s = b.shape(x);
      if (s[s.length - 1] !== cin) throw new Error(`tflite export: layer "${name}" expects ${cin} input features, got shape ${s.join('x')}`);
      const f = b.weight(`${name}/kernel`, [cout, cin], kv);
      const bias = b.weight(`${name}/bias`, [cout], cfg.useBias !== false && w[1] ? values(w[1]) : new Float32Array(cout));
      const act = activationName(layer);
      const fa = fusable(act);
      const y = b.emit(Op.FULLY_CONNECTED, name, [x, f, bias], [...s.slice(0, -1), cout], Opt.FullyConnectedOptions, new tfl.FullyConnectedOptionsT(fa ?? Act.NONE, undefined, true), 5);
      return fa === null ? activation(b, layer, act, y, `${name}_act`) : y;
    }
    case 'BatchNormalization': {
      const bn = bnParams(layer, (l, c, w) => new TfliteUnsupportedLayerError(l, c, w));
      const c = bn.scale.length;
      const y = b.binary(Op.MUL, `${name}_scale`, x, b.f32(`${name}/scale`, [c], bn.scale));
      return b.binary(Op.ADD, name, y, b.f32(`${name}/shift`, [c], bn.shift));
    }
    case 'Activation':
      return activation(b, layer, String(cfg.activation), x, name);
    case 'ReLU': {
      const maxValue = cfg.maxValue as number | null | undefined;
      if (cfg.negativeSlope || cfg.threshold) throw new TfliteUnsupportedLayerError(name, cls, 'negativeSlope / threshold');
      if (maxValue == null) return b.emit(Op.RELU, name, [x], b.shape(x));
      if (maxValue === 6) return b.emit(Op.RELU6, name, [x], b.shape(x));
      return b.binary(Op.MINIMUM, name, b.emit(Op.RELU, `${name}_relu`, [x], b.shape(x)), b.f32(`${name}/max`, [1], [maxValue]));
    }
    case 'LeakyReLU':
      return b.emit(Op.LEAKY_RELU, name, [x], b.shape(x), Opt.LeakyReluOptions, new tfl.LeakyReluOptionsT((cfg.alpha as number) ?? 0.3));
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      return x; // identity at inference
    case 'Add':
    case 'Multiply':
    case 'Subtract':
    case 'Maximum':
    case 'Minimum': {
      const code = { Add: Op.ADD, Multiply: Op.MUL, Subtract: Op.SUB, Maximum: Op.MAXIMUM, Minimum: Op.MINIMUM }[cls] as tfl.BuiltinOperator;
      return ins.slice(1).reduce((acc, y, i) => b.binary(code, i === ins.length - 2 ? name : `${name}_${i}`, acc, y), ins[0]);
    }
    case 'Average': {
      const sum = ins.slice(1).reduce((acc, y, i) => b.binary(Op.ADD, `${name}_sum${i}`, acc, y), ins[0]);
      return b.binary(Op.MUL, name, sum, b.f32(`${name}/inv_n`, [1], [1 / ins.length]));
    }
    case 'Concatenate': {
      const axis = (cfg.axis as number) ?? -1;
      if (axis !== -1 && axis !== 3) throw new TfliteUnsupportedLayerError(name, cls, `concatenation along axis ${axis} (only channels)`);
      const shapes = ins.map((t) => b.shape(t));
      const shape = [...shapes[0].slice(0, 3), shapes.reduce((s, v) => s + v[3], 0)];
      return b.emit(Op.CONCATENATION, name, ins, shape, Opt.ConcatenationOptions, new tfl.ConcatenationOptionsT(3, Act.NONE));
    }
    case 'UpSampling2D': {
      checkChannelsLast();
      const [fh, fw] = pair(cfg.size ?? 2);
      const [, h, wd] = b.shape(x);
      return cfg.interpolation === 'bilinear' ? b.resizeBilinear(name, x, h * fh, wd * fw) : b.resizeNearest(name, x, h * fh, wd * fw);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      checkChannelsLast();
      const k = pair(cfg.poolSize ?? 2);
      const s = pair(cfg.strides ?? k);
      return b.pool(cls === 'MaxPooling2D' ? Op.MAX_POOL_2D : Op.AVERAGE_POOL_2D, name, x, k, s, padding(layer, cfg.padding));
    }
    case 'GlobalAveragePooling2D': {
      checkChannelsLast();
      const [n, , , c] = b.shape(x);
      const keep = cfg.keepDims === true;
      const axes = b.i32(`${name}_axes`, [2], [1, 2]);
      return b.emit(Op.MEAN, name, [x, axes], keep ? [n, 1, 1, c] : [n, c], Opt.ReducerOptions, new tfl.ReducerOptionsT(keep));
    }
    case 'ZeroPadding2D': {
      checkChannelsLast();
      const p = cfg.padding as [[number, number], [number, number]];
      const [n, h, wd, c] = b.shape(x);
      const pads = b.i32(`${name}_paddings`, [4, 2], [0, 0, p[0][0], p[0][1], p[1][0], p[1][1], 0, 0]);
      return b.emit(Op.PAD, name, [x, pads], [n, h + p[0][0] + p[0][1], wd + p[1][0] + p[1][1], c], Opt.PadOptions, new tfl.PadOptionsT());
    }
    case 'Reshape': {
      const target = cfg.targetShape as number[];
      const s = b.shape(x);
      const total = s.reduce((a, v) => a * v, 1);
      const known = target.filter((v) => v !== -1).reduce((a, v) => a * v, 1);
      return b.reshape(name, x, [s[0], ...target.map((v) => (v === -1 ? total / s[0] / known : v))]);
    }
    case 'Flatten': {
      const s = b.shape(x);
      return b.reshape(name, x, [s[0], s.slice(1).reduce((a, v) => a * v, 1)]);
    }
    case 'Normalize': {
      const mean = cfg.mean as number[];
      const std = cfg.std as number[];
      const y = b.binary(Op.MUL, `${name}_scale`, x, b.f32(`${name}/scale`, [3], std.map((s) => 1 / s)));
      return b.binary(Op.ADD, name, y, b.f32(`${name}/shift`, [3], mean.map((m, i) => -m / std[i])));
    }
    case 'ResizeTo': {
      const size = cfg.size as [number, number];
      return b.resizeBilinear(name, x, size[0], size[1]);
    }
    case 'ResizeLike': {
      const ref = b.shape(ins[1]);
      return b.resizeBilinear(name, x, ref[1], ref[2]);
    }
    case 'GuidedFilter':
      return guidedFilter(b, layer, ins);
    // custom layers of imported models (src/models/imported_layers.ts)
    case 'HardSwish':
      return b.emit(Op.HARD_SWISH, name, [x], b.shape(x), Opt.HardSwishOptions, new tfl.HardSwishOptionsT());
    case 'BilinearResize': {
      const size = cfg.size as [number, number];
      const s = b.shape(x);
      const sizeT = b.i32(`${name}_size`, [2], [size[0], size[1]]);
      const o = new tfl.ResizeBilinearOptionsT(cfg.alignCorners === true, cfg.halfPixelCenters === true);
      return b.emit(Op.RESIZE_BILINEAR, name, [x, sizeT], [s[0], size[0], size[1], s[3]], Opt.ResizeBilinearOptions, o, o.halfPixelCenters ? 3 : 1);
    }
    case 'ConstantOp': {
      const op = cfg.op as string;
      if (op !== 'add' && op !== 'mul') throw new TfliteUnsupportedLayerError(name, cls, `op "${op}"`);
      const v = w[0];
      const c = b.f32(`${name}/value`, v.shape.length ? v.shape : [1], values(v));
      return b.binary(op === 'add' ? Op.ADD : Op.MUL, name, x, c);
    }
    default:
      throw new TfliteUnsupportedLayerError(name, cls, 'no TFLite mapping for this layer class');
  }
}

/**
 * The deep guided filter of src/models/guided_filter.ts in TFLite builtins.
 * ins: [p [1,h,w,1] low-res logits, frameLow [1,h,w,3], frameHigh [1,H,W,3]].
 */
function guidedFilter(b: TfliteBuilder, layer: tf.layers.Layer, ins: number[]): number {
  const cfg = layer.getConfig();
  const r = cfg.radius as number;
  const name = layer.name;
  const find = (suffix: string) => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
    return i < 0 ? null : layer.getWeights()[i];
  };
  const byName = (suffix: string) => {
    const t = find(suffix);
    if (!t) throw new TfliteUnsupportedLayerError(name, 'GuidedFilter', `weight ${suffix} not found among ${layer.weights.map((w) => w.originalName).join(', ')}`);
    return t;
  };
  const w1 = byName('guide_w1'); // [3, c]
  const b1t = find('guide_b1');
  const w2 = byName('guide_w2'); // [c, 1]
  const b2t = find('guide_b2');
  const eps = Math.exp(values(byName('log_eps'))[0]);
  const c = w1.shape[1] as number;
  const t1 = tf.tidy(() => w1.transpose());
  const t2 = tf.tidy(() => w2.transpose());
  const w1v = values(t1); // [c, 3] = OHWI [c,1,1,3]
  const w2v = values(t2); // [1, c]
  tf.dispose([t1, t2]);
  const b1v = b1t ? values(b1t) : new Float32Array(c);
  const b2v = b2t ? values(b2t) : new Float32Array(1);
  const p1: ConvParams = { stride: [1, 1], dilation: [1, 1], padding: tfl.Padding.VALID, act: Act.NONE };
  const guide = (frame: number, tag: string) => {
    const luma = b.conv(`${name}/${tag}_luma`, frame, Float32Array.from([0.299, 0.587, 0.114]), [1, 1, 1, 3], new Float32Array(1), p1);
    const pre = b.conv(`${name}/${tag}_hidden`, frame, w1v, [c, 1, 1, 3], b1v, p1);
    const hidden = b.emit(Op.LEAKY_RELU, `${name}/${tag}_leaky`, [pre], b.shape(pre), Opt.LeakyReluOptions, new tfl.LeakyReluOptionsT(0.2));
    const learned = b.conv(`${name}/${tag}_learned`, hidden, w2v, [1, 1, 1, c], b2v, p1);
    return b.binary(Op.ADD, `${name}/${tag}_guide`, luma, learned);
  };
  const k = 2 * r + 1;
  let nBox = 0;
  const box = (t: number) => b.pool(Op.AVERAGE_POOL_2D, `${name}/box${nBox++}`, t, [k, k], [1, 1], tfl.Padding.SAME);
  // space 'prob' (src/models/guided_filter.ts): filter P(person), then back to logits
  const prob = (cfg.space ?? 'logits') === 'prob';
  const [pIn, frameLow, frameHigh] = ins;
  const p = prob ? b.emit(Op.LOGISTIC, `${name}/prob`, [pIn], b.shape(pIn)) : pIn;
  const iLow = guide(frameLow, 'low');
  const iHigh = guide(frameHigh, 'high');
  const meanI = box(iLow);
  const meanP = box(p);
  const covIP = b.binary(Op.SUB, `${name}/cov_ip`, box(b.binary(Op.MUL, `${name}/ip`, iLow, p)), b.binary(Op.MUL, `${name}/mean_i_p`, meanI, meanP));
  const varI = b.binary(Op.SUB, `${name}/var_i`, box(b.binary(Op.MUL, `${name}/ii`, iLow, iLow)), b.binary(Op.MUL, `${name}/mean_i2`, meanI, meanI));
  const a = b.binary(Op.DIV, `${name}/a`, covIP, b.binary(Op.ADD, `${name}/var_eps`, varI, b.f32(`${name}/eps`, [1], [eps])));
  const bb = b.binary(Op.SUB, `${name}/b`, meanP, b.binary(Op.MUL, `${name}/a_mean_i`, a, meanI));
  const [, H, W] = b.shape(frameHigh);
  const meanA = b.resizeBilinear(`${name}/mean_a_up`, box(a), H, W);
  const meanB = b.resizeBilinear(`${name}/mean_b_up`, box(bb), H, W);
  if (!prob) return b.binary(Op.ADD, name, b.binary(Op.MUL, `${name}/a_i`, meanA, iHigh), meanB);
  const q = b.binary(Op.ADD, `${name}/q`, b.binary(Op.MUL, `${name}/a_i`, meanA, iHigh), meanB);
  // logit(clip(q)) + (q - clip(q)), as probToLogits
  const qc = b.binary(Op.MINIMUM, `${name}/q_hi`, b.binary(Op.MAXIMUM, `${name}/q_lo`, q, b.f32(`${name}/lo`, [1], [PROB_CLIP])), b.f32(`${name}/hi`, [1], [1 - PROB_CLIP]));
  const odds = b.binary(Op.DIV, `${name}/odds`, qc, b.binary(Op.SUB, `${name}/one_minus_q`, b.f32(`${name}/one`, [1], [1]), qc));
  return b.binary(Op.ADD, name, b.emit(Op.LOG, `${name}/log_odds`, [odds], b.shape(odds)), b.binary(Op.SUB, `${name}/q_over`, q, qc));
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
