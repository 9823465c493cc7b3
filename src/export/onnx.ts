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
import { PROB_CLIP } from '../models/guided_filter';
import * as tf from '@tensorflow/tfjs';
import { DT, OnnxModel, OnnxNode, OnnxTensor, AttrValue, encodeModel } from './onnx-proto';
import { bnParams, values } from './fold';

export const ONNX_OPSET = 13;
export const ONNX_INPUT = 'image';
export const ONNX_OUTPUT = 'logits';

export class UnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`onnx export: layer "${layer}" (${className}) is not supported: ${why}`);
    this.name = 'UnsupportedLayerError';
  }
}

// Internal tfjs-layers graph structures (not in the public typings).
interface SymNode {
  inboundLayers: tf.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
  outputTensors: tf.SymbolicTensor[];
}
type GraphLayer = tf.layers.Layer & { inboundNodes: SymNode[] };

const key = (layer: string, node: number, tensor: number) => `${layer}/${node}/${tensor}`;

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


function convPadding(layer: tf.layers.Layer, padding: string): Record<string, AttrValue> {
  if (padding === 'same') return { auto_pad: 'SAME_UPPER' };
  if (padding === 'valid') return { auto_pad: 'VALID' };
  throw new UnsupportedLayerError(layer.name, layer.getClassName(), `padding "${padding}"`);
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number];
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

function activationName(layer: tf.layers.Layer): string {
  const a = layer.getConfig().activation;
  return a == null ? 'linear' : String(a);
}

/** Builds the ONNX graph of a single-input, single-output LayersModel. */
export function modelToOnnx(model: tf.LayersModel, metadata: Record<string, string> = {}, docString = ''): OnnxModel {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`onnx export: expected a model with one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const g = new GraphBuilder();
  const names = new Map<string, string>(); // symbolic tensor key -> onnx tensor name (NCHW)
  const layers = model.layers as GraphLayer[];
  const inModel = new Set(layers.map((l) => l.name));

  // consumers per tensor key, to know when a conv's output only feeds a batch norm
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
  const outputSource = model.outputs[0].sourceLayer.name;
  const isModelOutput = (k: string) => k === key(outputSource, model.outputs[0].nodeIndex, model.outputs[0].tensorIndex);
  const folded = new Set<string>(); // BN layer/node keys already folded into their conv

  const inShape = model.inputs[0].shape;
  const dim = (d: number | null, sym: string): number | string => (d == null ? sym : d);

  for (const layer of layers) {
    const cls = layer.getClassName();
    layer.inboundNodes.forEach((node, ni) => {
      if (cls === 'InputLayer') {
        if (ni > 0) return;
        const x = g.op('Transpose', [ONNX_INPUT], { perm: [0, 3, 1, 2] });
        names.set(key(layer.name, 0, 0), x);
        return;
      }
      const inKeys = node.inboundLayers.map((src, i) => key(src.name, node.nodeIndices[i], node.tensorIndices[i]));
      if (inKeys.some((k) => !names.has(k))) return; // a node of another model sharing this layer
      const ins = inKeys.map((k) => names.get(k) as string);
      const outKey = key(layer.name, ni, 0);
      if (folded.has(outKey)) return;
      const out = emitLayer(g, layer, cls, ins, outKey, consumers, folded, names);
      if (!g.ranks.has(out) && g.rank(ins[0]) !== 4) g.ranks.set(out, g.rank(ins[0]));
      names.set(outKey, out);
    });
  }
  const last = names.get(key(outputSource, model.outputs[0].nodeIndex, model.outputs[0].tensorIndex));
  if (!last) throw new Error(`onnx export: the model output (layer ${outputSource}) was not reached while walking the graph`);
  void isModelOutput;
  g.op('Transpose', [last], { perm: [0, 2, 3, 1] }, ONNX_OUTPUT);
  const outShape = model.outputs[0].shape;
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

function emitLayer(
  g: GraphBuilder,
  layer: tf.layers.Layer,
  cls: string,
  ins: string[],
  outKey: string,
  consumers: Map<string, { layer: GraphLayer; node: number }[]>,
  folded: Set<string>,
  names: Map<string, string>,
): string {
  const cfg = layer.getConfig();
  const w = layer.getWeights();
  const x = ins[0];
  const checkChannelsLast = () => {
    if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') {
      throw new UnsupportedLayerError(layer.name, cls, `dataFormat ${String(cfg.dataFormat)}`);
    }
  };
  switch (cls) {
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      checkChannelsLast();
      const depthwise = cls === 'DepthwiseConv2D';
      const k = depthwise ? depthwiseKernel(w[0]) : convKernel(w[0]);
      const cout = k.dims[0];
      let bias = cfg.useBias !== false && w[1] ? values(w[1]) : new Float32Array(cout);
      const act = activationName(layer);
      // fold a following batch norm when it is this conv's only consumer
      const cons = consumers.get(outKey) ?? [];
      let outName: string | undefined;
      if (act === 'linear' && cons.length === 1 && cons[0].layer.getClassName() === 'BatchNormalization') {
        const bn = bnParams(cons[0].layer, (l, c, w) => new UnsupportedLayerError(l, c, w));
        const per = k.w.length / cout;
        for (let o = 0; o < cout; o++) {
          for (let j = 0; j < per; j++) k.w[o * per + j] *= bn.scale[o];
        }
        bias = Float32Array.from(bias, (b, o) => b * bn.scale[o] + bn.shift[o]);
        const bnKey = key(cons[0].layer.name, cons[0].node, 0);
        folded.add(bnKey);
        outName = g.fresh(cons[0].layer.name);
        names.set(bnKey, outName);
      }
      const [sh, sw] = pair(cfg.strides ?? 1);
      const [dh, dw] = pair(cfg.dilationRate ?? 1);
      const attrs: Record<string, AttrValue> = {
        kernel_shape: [k.dims[2], k.dims[3]],
        strides: [sh, sw],
        dilations: [dh, dw],
        ...convPadding(layer, cfg.padding as string),
      };
      if (depthwise) attrs.group = cout / (cfg.depthMultiplier as number ?? 1);
      const y = g.op('Conv', [x, g.f32(`${layer.name}_w`, k.dims, k.w), g.f32(`${layer.name}_b`, [cout], bias)], attrs, outName);
      return activation(g, layer, act, y);
    }
    case 'SeparableConv2D': {
      checkChannelsLast();
      const dk = depthwiseKernel(w[0]);
      const pk = convKernel(w[1]);
      const [sh, sw] = pair(cfg.strides ?? 1);
      const [dh, dw] = pair(cfg.dilationRate ?? 1);
      const cin = (w[0].shape[2] as number);
      const d = g.op('Conv', [x, g.f32(`${layer.name}_dw`, dk.dims, dk.w)], {
        kernel_shape: [dk.dims[2], dk.dims[3]],
        strides: [sh, sw],
        dilations: [dh, dw],
        group: cin,
        ...convPadding(layer, cfg.padding as string),
      });
      const cout = pk.dims[0];
      const bias = cfg.useBias !== false && w[2] ? values(w[2]) : new Float32Array(cout);
      const y = g.op('Conv', [d, g.f32(`${layer.name}_pw`, pk.dims, pk.w), g.f32(`${layer.name}_b`, [cout], bias)], { kernel_shape: [1, 1] });
      return activation(g, layer, activationName(layer), y);
    }
    case 'BatchNormalization': {
      const bn = bnParams(layer, (l, c, w) => new UnsupportedLayerError(l, c, w));
      const c = bn.scale.length;
      return g.op('Add', [g.op('Mul', [x, g.f32(`${layer.name}_scale`, [1, c, 1, 1], bn.scale)]), g.f32(`${layer.name}_shift`, [1, c, 1, 1], bn.shift)]);
    }
    case 'Activation':
      return activation(g, layer, String(cfg.activation), x, undefined);
    case 'ReLU': {
      const maxValue = cfg.maxValue as number | null | undefined;
      if (maxValue == null) return g.op('Relu', [x]);
      return g.op('Clip', [x, g.f32('zero', [], [0]), g.f32('max', [], [maxValue])]);
    }
    case 'LeakyReLU':
      return g.op('LeakyRelu', [x], { alpha: { float: (cfg.alpha as number) ?? 0.3 } });
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
      const op = { Add: 'Add', Multiply: 'Mul', Subtract: 'Sub', Maximum: 'Max', Minimum: 'Min' }[cls] as string;
      // NCHW inside: tfjs' broadcast of [B,H,W,C] with [B,1,1,C] is [B,C,H,W] with [B,C,1,1]; mixed ranks are not
      if (ins.some((t) => g.rank(t) !== g.rank(x))) throw new UnsupportedLayerError(layer.name, cls, 'inputs of different ranks');
      return ins.slice(1).reduce((acc, b) => g.op(op, [acc, b]), ins[0]);
    }
    case 'Average': {
      const sum = ins.slice(1).reduce((acc, b) => g.op('Add', [acc, b]), ins[0]);
      return g.op('Mul', [sum, g.f32('inv_n', [], [1 / ins.length])]);
    }
    case 'Concatenate': {
      const axis = (cfg.axis as number) ?? -1;
      if (axis !== -1 && axis !== 3) throw new UnsupportedLayerError(layer.name, cls, `concatenation along axis ${axis} (only channels)`);
      return g.op('Concat', ins, { axis: 1 });
    }
    case 'UpSampling2D': {
      checkChannelsLast();
      const [fh, fw] = pair(cfg.size ?? 2);
      const mode = cfg.interpolation === 'bilinear' ? 'linear' : 'nearest';
      const hw = g.op('Mul', [g.spatial(x), g.i64('factor', [fh, fw])]);
      return g.resize(x, g.sizesLike(x, hw), mode);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      checkChannelsLast();
      const [ph, pw] = pair(cfg.poolSize ?? 2);
      const [sh, sw] = pair(cfg.strides ?? [ph, pw]);
      const attrs: Record<string, AttrValue> = { kernel_shape: [ph, pw], strides: [sh, sw], ...convPadding(layer, cfg.padding as string) };
      if (cls === 'AveragePooling2D') attrs.count_include_pad = 0;
      return g.op(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x], attrs);
    }
    case 'ZeroPadding2D': {
      checkChannelsLast();
      const p = cfg.padding as [[number, number], [number, number]];
      return g.op('Pad', [x, g.i64('pads', [0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]])], { mode: 'constant' });
    }
    case 'Normalize': {
      const mean = cfg.mean as number[];
      const std = cfg.std as number[];
      const scale = g.f32('norm_scale', [1, 3, 1, 1], std.map((s) => 1 / s));
      const shift = g.f32('norm_shift', [1, 3, 1, 1], mean.map((m, i) => -m / std[i]));
      return g.op('Add', [g.op('Mul', [x, scale]), shift]);
    }
    case 'ResizeTo': {
      const size = cfg.size as [number, number];
      return g.resize(x, g.sizesLike(x, g.i64('size', size)), 'linear');
    }
    case 'ResizeLike':
      return g.resize(x, g.sizesLike(x, g.spatial(ins[1])), 'linear');
    case 'GuidedFilter':
      return guidedFilter(g, layer, ins);
    case 'Conv2DTranspose': {
      checkChannelsLast();
      // tfjs kernel [kh, kw, out, in] -> ONNX ConvTranspose weight [in, out, kh, kw]
      const [kh, kw, cout, cin] = w[0].shape as number[];
      const t = tf.tidy(() => w[0].transpose([3, 2, 0, 1]));
      const kv = values(t);
      t.dispose();
      const [sh, sw] = pair(cfg.strides ?? 1);
      const dil = pair(cfg.dilationRate ?? 1);
      if (dil[0] !== 1 || dil[1] !== 1) throw new UnsupportedLayerError(layer.name, cls, 'dilation');
      if (cfg.padding !== 'same' && cfg.padding !== 'valid') throw new UnsupportedLayerError(layer.name, cls, `padding "${String(cfg.padding)}"`);
      // tfjs' output is in*s (same) or in*s + max(k-s, 0) (valid); ONNX's full output (in-1)*s + k
      // is cropped by pads (TF puts the odd pixel at the end) and grown by output_padding
      const same = cfg.padding === 'same';
      const total = (k: number, st: number) => (same ? Math.max(k - st, 0) : 0);
      const [th, tw] = [total(kh, sh), total(kw, sw)];
      const pads = [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
      const outPad = [Math.max(sh - kh, 0), Math.max(sw - kw, 0)];
      const bias = cfg.useBias !== false && w[1] ? values(w[1]) : new Float32Array(cout);
      const y = g.op('ConvTranspose', [x, g.f32(`${layer.name}_w`, [cin, cout, kh, kw], kv), g.f32(`${layer.name}_b`, [cout], bias)], {
        kernel_shape: [kh, kw],
        strides: [sh, sw],
        pads,
        output_padding: outPad,
      });
      return activation(g, layer, activationName(layer), y);
    }
    case 'Dense': {
      const rank = g.rank(x);
      // Dense acts on the last (channel) axis: NCHW rank-4 tensors go through NHWC and back
      const rows = rank === 4 ? g.op('Transpose', [x], { perm: [0, 2, 3, 1] }) : x;
      const cout = w[0].shape[1] as number;
      const bias = cfg.useBias !== false && w[1] ? values(w[1]) : new Float32Array(cout);
      let y = g.op('Add', [g.op('MatMul', [rows, g.f32(`${layer.name}_w`, w[0].shape, values(w[0]))]), g.f32(`${layer.name}_b`, [cout], bias)]);
      if (rank === 4) y = g.op('Transpose', [y], { perm: [0, 3, 1, 2] });
      if (rank !== 4) g.ranks.set(y, rank);
      const out = activation(g, layer, activationName(layer), y);
      if (rank !== 4) g.ranks.set(out, rank);
      return out;
    }
    case 'GlobalAveragePooling2D': {
      checkChannelsLast();
      const pooled = g.op('GlobalAveragePool', [x]); // [N, C, 1, 1]
      if (cfg.keepDims === true) return pooled;
      const flat = g.op('Flatten', [pooled], { axis: 1 });
      g.ranks.set(flat, 2);
      return flat;
    }
    case 'Reshape':
    case 'Flatten': {
      // reshape the NHWC view, as tfjs does
      const nhwc = g.rank(x) === 4 ? g.op('Transpose', [x], { perm: [0, 2, 3, 1] }) : x;
      let y: string;
      let rank: number;
      if (cls === 'Flatten') {
        y = g.op('Flatten', [nhwc], { axis: 1 });
        rank = 2;
      } else {
        const target = cfg.targetShape as number[];
        y = g.op('Reshape', [nhwc, g.i64('shape', [0, ...target])]);
        rank = target.length + 1;
      }
      if (rank === 4) y = g.op('Transpose', [y], { perm: [0, 3, 1, 2] });
      g.ranks.set(y, rank);
      return y;
    }
    // custom layers of imported models (src/models/imported_layers.ts)
    case 'HardSwish':
      // x * relu6(x + 3) / 6 = x * HardSigmoid(x; alpha 1/6, beta 0.5) (opset 13 has no HardSwish)
      return g.op('Mul', [x, g.op('HardSigmoid', [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })]);
    case 'BilinearResize': {
      const size = cfg.size as [number, number];
      const mode = cfg.alignCorners === true ? 'align_corners' : cfg.halfPixelCenters === true ? 'half_pixel' : 'asymmetric';
      return g.op('Resize', [x, '', '', g.sizesLike(x, g.i64('size', size))], { mode: 'linear', coordinate_transformation_mode: mode });
    }
    case 'ConstantOp': {
      const op = cfg.op as string;
      if (op !== 'add' && op !== 'mul') throw new UnsupportedLayerError(layer.name, cls, `op "${op}"`);
      const v = w[0];
      let dims = v.shape;
      let data = values(v);
      if (g.rank(x) === 4 && dims.length > 0) {
        // broadcast on NHWC's trailing axes -> the same value laid out for NCHW
        const full = [...Array(4 - dims.length).fill(1), ...dims];
        const t = tf.tidy(() => v.reshape(full).transpose([0, 3, 1, 2]));
        data = values(t);
        dims = t.shape;
        t.dispose();
      }
      return g.op(op === 'add' ? 'Add' : 'Mul', [x, g.f32(`${layer.name}_value`, dims, data)]);
    }
    default:
      throw new UnsupportedLayerError(layer.name, cls, 'no ONNX mapping for this layer class');
  }
}

/**
 * The deep guided filter of src/models/guided_filter.ts in ONNX ops.
 * ins: [p NCHW [N,1,h,w] low-res logits, frameLow [N,3,h,w], frameHigh [N,3,H,W]].
 */
function guidedFilter(g: GraphBuilder, layer: tf.layers.Layer, ins: string[]): string {
  const cfg = layer.getConfig();
  const r = cfg.radius as number;
  const find = (suffix: string) => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
    return i < 0 ? null : layer.getWeights()[i];
  };
  const byName = (suffix: string) => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
    if (i < 0) throw new UnsupportedLayerError(layer.name, "GuidedFilter", `weight ${suffix} not found among ${layer.weights.map((w) => w.originalName).join(", ")}`);
    return layer.getWeights()[i];
  };
  const w1 = byName('guide_w1'); // [3, c]
  const b1t = find('guide_b1');
  const w2 = byName('guide_w2'); // [c, 1]
  const b2t = find('guide_b2'); // optional: the guidance net may have no output bias
  const eps = Math.exp(values(byName('log_eps'))[0]);
  const c = w1.shape[1] as number;
  // 1x1 conv weights [out, in, 1, 1] = transposed dense weights
  const w1c = g.f32(`${layer.name}_w1`, [c, 3, 1, 1], transposed(w1));
  const w2c = g.f32(`${layer.name}_w2`, [1, c, 1, 1], transposed(w2));
  const b1c = g.f32(`${layer.name}_b1`, [c], b1t ? values(b1t) : new Float32Array(c));
  const b2c = g.f32(`${layer.name}_b2`, [1], b2t ? values(b2t) : [0]);
  const luma = g.f32(`${layer.name}_luma`, [1, 3, 1, 1], [0.299, 0.587, 0.114]);
  const guide = (frame: string) => {
    const hidden = g.op('LeakyRelu', [g.op('Conv', [frame, w1c, b1c], { kernel_shape: [1, 1] })], { alpha: { float: 0.2 } });
    const learned = g.op('Conv', [hidden, w2c, b2c], { kernel_shape: [1, 1] });
    return g.op('Add', [g.op('Conv', [frame, luma], { kernel_shape: [1, 1] }), learned]);
  };
  const k = 2 * r + 1;
  const box = (t: string) => g.op('AveragePool', [t], { kernel_shape: [k, k], strides: [1, 1], pads: [r, r, r, r], count_include_pad: 0 });
  // space 'prob' (src/models/guided_filter.ts): filter P(person), then back to logits
  const prob = (cfg.space ?? 'logits') === 'prob';
  const [pIn, frameLow, frameHigh] = ins;
  const p = prob ? g.op('Sigmoid', [pIn]) : pIn;
  const iLow = guide(frameLow);
  const iHigh = guide(frameHigh);
  const meanI = box(iLow);
  const meanP = box(p);
  const covIP = g.op('Sub', [box(g.op('Mul', [iLow, p])), g.op('Mul', [meanI, meanP])]);
  const varI = g.op('Sub', [box(g.op('Mul', [iLow, iLow])), g.op('Mul', [meanI, meanI])]);
  const a = g.op('Div', [covIP, g.op('Add', [varI, g.f32('eps', [], [eps])])]);
  const b = g.op('Sub', [meanP, g.op('Mul', [a, meanI])]);
  const sizes = g.sizesLike(p, g.spatial(frameHigh));
  const meanA = g.resize(box(a), sizes, 'linear');
  const meanB = g.resize(box(b), sizes, 'linear');
  const q = g.op('Add', [g.op('Mul', [meanA, iHigh]), meanB]);
  if (!prob) return q;
  // logit(clip(q)) + (q - clip(q)), as probToLogits
  const qc = g.op('Clip', [q, g.f32(`${layer.name}_lo`, [], [PROB_CLIP]), g.f32(`${layer.name}_hi`, [], [1 - PROB_CLIP])]);
  const odds = g.op('Div', [qc, g.op('Sub', [g.f32(`${layer.name}_one`, [], [1]), qc])]);
  return g.op('Add', [g.op('Log', [odds]), g.op('Sub', [q, qc])]);
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
