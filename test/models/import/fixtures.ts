/**
 * Small published-style models written by the tests themselves: a .tflite FlatBuffer (built with
 * the generated schema bindings) and a TensorFlow.js graph model (model.json + one shard, by hand),
 * together covering every op the importer reads. Input [1,16,16,3] 0..1, output [1,16,16,1].
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tfl, writeTfliteModel } from '../../../src/util/tflite';

/** Deterministic weights in [-a, a] (a tiny LCG; fixtures must not depend on tf's RNG). */
export function weights(n: number, seed: number, a = 0.5): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * a;
  }
  return out;
}

function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const e = ((x >>> 23) & 0xff) - 127 + 15;
  const m = x & 0x7fffff;
  if (e <= 0) return sign; // tiny -> 0 (fixtures stay in normal range)
  if (e >= 31) return sign | 0x7c00;
  let h = sign | (e << 10) | (m >>> 13);
  if (m & 0x1000) h += 1; // round half up (ties are not an issue for a fixture)
  return h;
}

/** Float16 round trip, what a DEQUANTIZE'd weight holds. */
export function asHalf(a: Float32Array): Float32Array {
  return Float32Array.from(a, (v) => {
    const h = floatToHalf(v);
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    return s * 2 ** (e - 15) * (1 + (h & 0x3ff) / 1024);
  });
}

export function tmpDir(prefix = 'psg-import-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// ------------------------------------------------------------------ TFLite

class TfliteWriter {
  buffers: tfl.BufferT[] = [new tfl.BufferT([])];
  tensors: tfl.TensorT[] = [];
  codes: tfl.OperatorCodeT[] = [];
  ops: tfl.OperatorT[] = [];

  tensor(name: string, shape: number[], data?: Float32Array | Int32Array | Uint16Array | Uint8Array, type = tfl.TensorType.FLOAT32): number {
    let buffer = 0;
    if (data) {
      this.buffers.push(new tfl.BufferT(Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))));
      buffer = this.buffers.length - 1;
    }
    this.tensors.push(new tfl.TensorT(shape, type, buffer, name));
    return this.tensors.length - 1;
  }

  /** A float32 weight, or float16 behind a DEQUANTIZE op when `half`. */
  weight(name: string, shape: number[], values: Float32Array, half = false): number {
    if (!half) return this.tensor(name, shape, values);
    const raw = this.tensor(`${name}_fp16`, shape, Uint16Array.from(values, floatToHalf), tfl.TensorType.FLOAT16);
    const out = this.tensor(`${name}_dequantize`, shape);
    this.op(tfl.BuiltinOperator.DEQUANTIZE, [raw], [out]);
    return out;
  }

  /** An int8 weight with per-output-channel scales (axis 0) and zero points, behind DEQUANTIZE. */
  int8Weight(name: string, shape: number[], seed: number): number {
    const n = shape.reduce((a, b) => a * b, 1);
    const q = Int8Array.from(weights(n, seed, 1), (v) => Math.round(v * 127));
    const raw = this.tensor(`${name}_int8`, shape, new Uint8Array(q.buffer) as never, tfl.TensorType.INT8);
    const scale = Array.from({ length: shape[0] }, (_, i) => 0.004 * (i + 1));
    const zero = Array.from({ length: shape[0] }, (_, i) => BigInt(i % 3) - 1n);
    this.tensors[raw].quantization = new tfl.QuantizationParametersT([], [], scale, zero, tfl.QuantizationDetails.NONE, null, 0);
    const out = this.tensor(`${name}_dequantize`, shape);
    this.op(tfl.BuiltinOperator.DEQUANTIZE, [raw], [out]);
    return out;
  }

  ints(name: string, values: number[]): number {
    return this.tensor(name, [values.length], Int32Array.from(values), tfl.TensorType.INT32);
  }

  op(code: tfl.BuiltinOperator | string, inputs: number[], outputs: number[], optType = tfl.BuiltinOptions.NONE, options: unknown = null, custom?: Uint8Array): void {
    const isCustom = typeof code === 'string';
    let idx = this.codes.findIndex((c) => (isCustom ? c.customCode === code : c.builtinCode === code && !c.customCode));
    if (idx < 0) {
      const b = isCustom ? tfl.BuiltinOperator.CUSTOM : code;
      this.codes.push(new tfl.OperatorCodeT(Math.min(b, 127), isCustom ? code : null, 1, b));
      idx = this.codes.length - 1;
    }
    const op = new tfl.OperatorT(idx, inputs, outputs, optType, options as never, custom ? Array.from(custom) : []);
    this.ops.push(op);
  }

  finish(input: number, output: number): Uint8Array {
    const sub = new tfl.SubGraphT(this.tensors, [input], [output], this.ops, 'main');
    return writeTfliteModel(new tfl.ModelT(3, this.codes, [sub], 'portraitseg test fixture', this.buffers));
  }
}

const A = tfl.ActivationFunctionType;

/**
 * Every TFLite op the importer reads: DEQUANTIZE (float16 weights, and int8 per-channel ones),
 * CONV_2D (+fused RELU), AVERAGE_POOL_2D (2x2 VALID, 3x3/2 SAME, and a global one), PAD, DEPTHWISE_CONV_2D (+fused RELU6), HARD_SWISH, AVERAGE_POOL_2D, RESHAPE,
 * FULLY_CONNECTED, LOGISTIC, MUL (squeeze-excite broadcast), MEAN, ADD (+fused RELU, and with a
 * constant), RESIZE_BILINEAR (half-pixel), TRANSPOSE_CONV, Convolution2DTransposeBias (MediaPipe),
 * CONCATENATION, RELU, RELU6, ADD_N, and a LOGISTIC or SOFTMAX head.
 * `op` replaces the head with another builtin (for the unsupported-op test).
 */
export function tfliteFixture(opts: { head?: 'sigmoid' | 'softmax'; unsupported?: tfl.BuiltinOperator } = {}): Uint8Array {
  const w = new TfliteWriter();
  let seed = 1;
  const W = (name: string, shape: number[], half = false) => w.weight(name, shape, weights(shape.reduce((a, b) => a * b, 1), seed++), half);
  const x = w.tensor('input', [1, 16, 16, 3]);
  const conv = (o: Record<string, number>) =>
    Object.assign(new tfl.Conv2DOptionsT(), { padding: tfl.Padding.SAME, strideW: 1, strideH: 1, fusedActivationFunction: A.NONE, dilationWFactor: 1, dilationHFactor: 1 }, o);

  const c1 = w.tensor('c1', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.CONV_2D, [x, W('c1/w', [8, 3, 3, 3], true), W('c1/b', [8], true)], [c1], tfl.BuiltinOptions.Conv2DOptions, conv({ strideW: 2, strideH: 2, fusedActivationFunction: A.RELU }));
  const ap = w.tensor('ap', [1, 7, 7, 8]);
  w.op(tfl.BuiltinOperator.AVERAGE_POOL_2D, [c1], [ap], tfl.BuiltinOptions.Pool2DOptions,
    Object.assign(new tfl.Pool2DOptionsT(), { padding: tfl.Padding.VALID, strideW: 1, strideH: 1, filterWidth: 2, filterHeight: 2, fusedActivationFunction: A.NONE }));
  const p1 = w.tensor('p1', [1, 10, 10, 8]);
  w.op(tfl.BuiltinOperator.PAD, [ap, w.tensor('p1/pads', [4, 2], Int32Array.from([0, 0, 1, 2, 1, 2, 0, 0]), tfl.TensorType.INT32)], [p1]);
  const d1 = w.tensor('d1', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.DEPTHWISE_CONV_2D, [p1, W('d1/w', [1, 3, 3, 8], true), W('d1/b', [8])], [d1], tfl.BuiltinOptions.DepthwiseConv2DOptions,
    Object.assign(new tfl.DepthwiseConv2DOptionsT(), { padding: tfl.Padding.VALID, strideW: 1, strideH: 1, depthMultiplier: 1, fusedActivationFunction: A.RELU6, dilationWFactor: 1, dilationHFactor: 1 }));
  const h1 = w.tensor('h1', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.HARD_SWISH, [d1], [h1]);
  const g1 = w.tensor('g1', [1, 1, 1, 8]);
  w.op(tfl.BuiltinOperator.AVERAGE_POOL_2D, [h1], [g1], tfl.BuiltinOptions.Pool2DOptions,
    Object.assign(new tfl.Pool2DOptionsT(), { padding: tfl.Padding.VALID, strideW: 8, strideH: 8, filterWidth: 8, filterHeight: 8, fusedActivationFunction: A.NONE }));
  const r1 = w.tensor('r1', [1, 8]);
  w.op(tfl.BuiltinOperator.RESHAPE, [g1, w.ints('r1/shape', [1, 8])], [r1], tfl.BuiltinOptions.ReshapeOptions, new tfl.ReshapeOptionsT([1, 8]));
  const f1 = w.tensor('f1', [1, 8]);
  w.op(tfl.BuiltinOperator.FULLY_CONNECTED, [r1, w.int8Weight('f1/w', [8, 8], seed++), W('f1/b', [8])], [f1], tfl.BuiltinOptions.FullyConnectedOptions, new tfl.FullyConnectedOptionsT(A.NONE));
  const s1 = w.tensor('s1', [1, 8]);
  w.op(tfl.BuiltinOperator.LOGISTIC, [f1], [s1]);
  const s2 = w.tensor('s2', [1, 1, 1, 8]);
  w.op(tfl.BuiltinOperator.RESHAPE, [s1, w.ints('s2/shape', [1, 1, 1, 8])], [s2], tfl.BuiltinOptions.ReshapeOptions, new tfl.ReshapeOptionsT([1, 1, 1, 8]));
  const m1 = w.tensor('m1', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.MUL, [h1, s2], [m1], tfl.BuiltinOptions.MulOptions, new tfl.MulOptionsT(A.NONE));
  const aps = w.tensor('aps', [1, 4, 4, 8]);
  w.op(tfl.BuiltinOperator.AVERAGE_POOL_2D, [h1], [aps], tfl.BuiltinOptions.Pool2DOptions,
    Object.assign(new tfl.Pool2DOptionsT(), { padding: tfl.Padding.SAME, strideW: 2, strideH: 2, filterWidth: 3, filterHeight: 3, fusedActivationFunction: A.NONE }));
  const mean = w.tensor('mean', [1, 1, 1, 8]);
  w.op(tfl.BuiltinOperator.MEAN, [aps, w.ints('mean/axes', [1, 2])], [mean], tfl.BuiltinOptions.ReducerOptions, new tfl.ReducerOptionsT(true));
  const meanb = w.tensor('meanb', [1, 1, 1, 8]);
  w.op(tfl.BuiltinOperator.ADD, [mean, W('meanb/c', [8])], [meanb], tfl.BuiltinOptions.AddOptions, new tfl.AddOptionsT(A.NONE));
  const m2 = w.tensor('m2', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.MUL, [m1, meanb], [m2], tfl.BuiltinOptions.MulOptions, new tfl.MulOptionsT(A.NONE));
  const a1 = w.tensor('a1', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.ADD, [m2, d1], [a1], tfl.BuiltinOptions.AddOptions, new tfl.AddOptionsT(A.RELU));
  const r6 = w.tensor('r6', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.RELU6, [a1], [r6]);
  const an = w.tensor('an', [1, 8, 8, 8]);
  w.op(tfl.BuiltinOperator.ADD_N, [a1, r6, m1], [an]);
  const rs = w.tensor('rs', [1, 16, 16, 8]);
  w.op(tfl.BuiltinOperator.RESIZE_BILINEAR, [an, w.ints('rs/size', [16, 16])], [rs], tfl.BuiltinOptions.ResizeBilinearOptions, new tfl.ResizeBilinearOptionsT(false, true));
  const tc = w.tensor('tc', [1, 16, 16, 4]);
  w.op(tfl.BuiltinOperator.TRANSPOSE_CONV, [w.ints('tc/shape', [1, 16, 16, 4]), W('tc/w', [4, 2, 2, 8], true), an, W('tc/b', [4])], [tc], tfl.BuiltinOptions.TransposeConvOptions,
    Object.assign(new tfl.TransposeConvOptionsT(), { padding: tfl.Padding.SAME, strideW: 2, strideH: 2, fusedActivationFunction: A.NONE }));
  const cb = w.tensor('cb', [1, 16, 16, 4]);
  const customOptions = new Uint8Array(Int32Array.from([1, 2, 2]).buffer); // SAME, stride_w 2, stride_h 2
  w.op('Convolution2DTransposeBias', [a1, W('cb/w', [4, 2, 2, 8], true), W('cb/b', [4], true)], [cb], tfl.BuiltinOptions.NONE, null, customOptions);
  const cat = w.tensor('cat', [1, 16, 16, 16]);
  w.op(tfl.BuiltinOperator.CONCATENATION, [rs, tc, cb], [cat], tfl.BuiltinOptions.ConcatenationOptions, new tfl.ConcatenationOptionsT(3, A.NONE));
  const rl = w.tensor('rl', [1, 16, 16, 16]);
  w.op(tfl.BuiltinOperator.RELU, [cat], [rl]);
  const headC = opts.head === 'softmax' ? 2 : 1;
  const c2 = w.tensor('c2', [1, 16, 16, headC]);
  w.op(tfl.BuiltinOperator.CONV_2D, [rl, W('c2/w', [headC, 1, 1, 16]), W('c2/b', [headC])], [c2], tfl.BuiltinOptions.Conv2DOptions, conv({}));
  const out = w.tensor('output', [1, 16, 16, headC]);
  if (opts.unsupported !== undefined) w.op(opts.unsupported, [c2], [out]);
  else if (opts.head === 'softmax') w.op(tfl.BuiltinOperator.SOFTMAX, [c2], [out], tfl.BuiltinOptions.SoftmaxOptions, new tfl.SoftmaxOptionsT(1));
  else w.op(tfl.BuiltinOperator.LOGISTIC, [c2], [out]);
  return w.finish(x, out);
}

/** The ops tfliteFixture uses, as the IR names them after simplification. */
export const TFLITE_FIXTURE_IR_OPS = ['conv2d', 'pad', 'relu', 'depthwise', 'relu6', 'hardswish', 'avgpool', 'reshape', 'dense', 'sigmoid', 'mul', 'mean', 'add', 'resize', 'conv2dTranspose', 'concat'];

export function writeTfliteFixture(dir: string, opts: Parameters<typeof tfliteFixture>[0] = {}, name = 'fixture.tflite'): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, tfliteFixture(opts));
  return f;
}

// ------------------------------------------------------------------ TensorFlow.js graph model

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const list = (...i: number[]) => ({ list: { i: i.map(String) } });
const NHWC = { s: b64('NHWC') };
const pad = (p: string) => ({ s: b64(p) });
const F = { type: 'DT_FLOAT' };

/**
 * Every graph op the importer reads: Conv2D + BiasAdd, Relu, AvgPool (2x2 VALID, 3x3/2 SAME, global), Pad, DepthwiseConv2dNative + Add,
 * Relu6, the hard-swish composite mul(mul(1/6, x), relu6(x + 3)), AvgPool, Reshape, MatMul,
 * BiasAdd, Sigmoid, Mul (broadcast), Mean, Add with a constant, _FusedConv2D (BiasAdd, Relu),
 * FusedDepthwiseConv2dNative (BiasAdd, Relu6), AddN, ResizeBilinear (half-pixel),
 * Conv2DBackpropInput + Add, grappler's bias form AddV2(const, AddN(Conv2D, y)), ConcatV2,
 * Identity, and a Sigmoid head.
 */
export function writeGraphFixture(dir: string, opts: { unsupported?: string } = {}): string {
  const nodes: Record<string, unknown>[] = [];
  const specs: { name: string; shape: number[]; dtype: string }[] = [];
  const chunks: Buffer[] = [];
  let seed = 100;
  const konst = (name: string, shape: number[], values?: Float32Array | Int32Array) => {
    const v = values ?? weights(shape.reduce((a, b) => a * b, 1), seed++);
    const dtype = v instanceof Int32Array ? 'int32' : 'float32';
    specs.push({ name, shape, dtype });
    chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    nodes.push({ name, op: 'Const', attr: { dtype: { type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: {} } });
    return name;
  };
  const node = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}) => {
    nodes.push({ name, op, input, attr: { T: F, ...attr } });
    return name;
  };
  const convAttr = (s: number, p = 'SAME') => ({ strides: list(1, s, s, 1), padding: pad(p), data_format: NHWC, dilations: list(1, 1, 1, 1) });

  nodes.push({ name: 'input', op: 'Placeholder', attr: { dtype: F, shape: { shape: { dim: [{ size: '1' }, { size: '16' }, { size: '16' }, { size: '3' }] } } } });
  node('c1', 'Conv2D', ['input', konst('c1/w', [3, 3, 3, 8])], convAttr(2));
  node('c1b', 'BiasAdd', ['c1', konst('c1/b', [8])], { data_format: NHWC });
  node('r1', 'Relu', ['c1b']);
  node('ap', 'AvgPool', ['r1'], { ksize: list(1, 2, 2, 1), strides: list(1, 1, 1, 1), padding: pad('VALID'), data_format: NHWC });
  node('p1', 'Pad', ['ap', konst('p1/pads', [4, 2], Int32Array.from([0, 0, 1, 2, 1, 2, 0, 0]))], { Tpaddings: { type: 'DT_INT32' } });
  node('d1', 'DepthwiseConv2dNative', ['p1', konst('d1/w', [3, 3, 8, 1])], convAttr(1, 'VALID'));
  node('d1b', 'Add', ['d1', konst('d1/b', [8])]);
  node('d1r', 'Relu6', ['d1b']);
  // hard swish as tfjs-converter writes it
  node('hs_mul', 'Mul', [konst('hs/sixth', [], Float32Array.of(1 / 6)), 'd1r']);
  node('hs_add', 'AddV2', ['d1r', konst('hs/three', [], Float32Array.of(3))]);
  node('hs_relu6', 'Relu6', ['hs_add']);
  node('hs', 'Mul', ['hs_mul', 'hs_relu6']);
  node('g', 'AvgPool', ['hs'], { ksize: list(1, 8, 8, 1), strides: list(1, 8, 8, 1), padding: pad('VALID'), data_format: NHWC });
  node('rg', 'Reshape', ['g', konst('rg/shape', [2], Int32Array.from([-1, 8]))], { Tshape: { type: 'DT_INT32' } });
  node('f', 'MatMul', ['rg', konst('f/w', [8, 8])], { transpose_a: { b: false }, transpose_b: { b: false } });
  node('fb', 'BiasAdd', ['f', konst('f/b', [8])], { data_format: NHWC });
  node('s', 'Sigmoid', ['fb']);
  node('s2', 'Reshape', ['s', konst('s2/shape', [4], Int32Array.from([-1, 1, 1, 8]))], { Tshape: { type: 'DT_INT32' } });
  node('se', 'Mul', ['hs', 's2']);
  node('aps', 'AvgPool', ['hs'], { ksize: list(1, 3, 3, 1), strides: list(1, 2, 2, 1), padding: pad('SAME'), data_format: NHWC });
  node('mn', 'Mean', ['aps', konst('mn/axes', [2], Int32Array.from([1, 2]))], { keep_dims: { b: true }, Tidx: { type: 'DT_INT32' } });
  node('mnb', 'Add', ['mn', konst('mnb/c', [8])]);
  node('sem', 'Mul', ['se', 'mnb']);
  node('fc', '_FusedConv2D', ['sem', konst('fc/w', [1, 1, 8, 8]), konst('fc/b', [8])], {
    ...convAttr(1),
    fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
    num_args: { i: '1' },
    epsilon: { f: 0 },
  });
  node('fd', 'FusedDepthwiseConv2dNative', ['fc', konst('fd/w', [3, 3, 8, 1]), konst('fd/b', [8])], {
    ...convAttr(1),
    fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } },
    num_args: { i: '1' },
  });
  node('an', 'AddN', ['fd', 'se', 'hs'], { N: { i: '3' } });
  node('rs', 'ResizeBilinear', ['an', konst('rs/size', [2], Int32Array.from([16, 16]))], { align_corners: { b: false }, half_pixel_centers: { b: true } });
  node('tc', 'Conv2DBackpropInput', [konst('tc/sizes', [4], Int32Array.from([1, 16, 16, 4])), konst('tc/w', [2, 2, 4, 8]), 'an'], convAttr(2));
  node('tcb', 'Add', ['tc', konst('tc/b', [4])]);
  node('c3', 'Conv2D', ['rs', konst('c3/w', [1, 1, 8, 4])], convAttr(1));
  node('an2', 'AddN', ['c3', 'tcb'], { N: { i: '2' } });
  node('ab', 'AddV2', [konst('c3/b', [4]), 'an2']);
  node('cat', 'ConcatV2', ['rs', 'ab', konst('cat/axis', [], Int32Array.of(3))], { N: { i: '2' }, Tidx: { type: 'DT_INT32' } });
  node('id', 'Identity', ['cat']);
  node('c4', 'Conv2D', ['id', konst('c4/w', [1, 1, 12, 1])], convAttr(1));
  node('c4b', 'BiasAdd', ['c4', konst('c4/b', [1])], { data_format: NHWC });
  node('output', opts.unsupported ?? 'Sigmoid', ['c4b']);

  const shard = Buffer.concat(chunks);
  fs.writeFileSync(path.join(dir, 'fixture.bin'), shard);
  const json = {
    format: 'graph-model',
    generatedBy: 'portraitseg test fixture',
    convertedBy: null,
    signature: {
      inputs: { 'input:0': { name: 'input:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '1' }, { size: '16' }, { size: '16' }, { size: '3' }] } } },
      outputs: { 'output:0': { name: 'output:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '1' }, { size: '16' }, { size: '16' }, { size: '1' }] } } },
    },
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: ['fixture.bin'], weights: specs }],
  };
  const f = path.join(dir, 'fixture.json');
  fs.writeFileSync(f, JSON.stringify(json));
  return f;
}

/** The IR ops writeGraphFixture becomes (after bias folding and hard-swish fusion). */
export const GRAPH_FIXTURE_IR_OPS = ['conv2d', 'relu', 'pad', 'depthwise', 'relu6', 'hardswish', 'avgpool', 'reshape', 'dense', 'sigmoid', 'mul', 'mean', 'add', 'resize', 'conv2dTranspose', 'concat'];

/**
 * A small video-matting-like graph model with three inputs: `img` [-1,-1,-1,3] (any size), `state`
 * and `ratio` (scalars of unknown rank, as RVM's recurrent states and downsample_ratio), and two
 * outputs (`alpha`, `state_out`). What the importer must fold or map:
 *   - a cond on Equal(ratio, 1): then = the image itself, else = ResizeBilinear by ratio with the
 *     size from Shape -> StridedSlice -> Cast -> Mul -> Cast (Switch / Merge);
 *   - a stem Conv2D (stride 2) + BiasAdd (an all-zero bias with `zeroBias`) + Relu;
 *   - TensorFlow's atrous depthwise conv: Pad -> SpaceToBatchND with paddings and crops from shape
 *     arithmetic (Shape, StridedSlice with shrink_axis_mask, FloorMod, Sub, Pack) ->
 *     DepthwiseConv2dNative (VALID) -> BatchToSpaceND, then a batch norm as Mul + Add, Relu6;
 *   - a ConvGRU on a zero state: Split, BroadcastTo(state, Shape(x)), ConcatV2, _FusedConv2D,
 *     Sigmoid, Split, Mul, Sub(1, z), Tanh, AddV2;
 *   - a 2x upsample (size = Shape * 2) cropped to the image by Slice (a crop at odd sizes);
 *   - a head conv, SplitV [1, 1], the second part clipped by Minimum(., 1) and Maximum(., 0).
 * Crops happen at odd input sizes (17x17), not at 16x16.
 */
export function writeFoldFixture(dir: string, opts: { zeroBias?: boolean } = {}): string {
  const nodes: Record<string, unknown>[] = [];
  const specs: { name: string; shape: number[]; dtype: string }[] = [];
  const chunks: Buffer[] = [];
  let seed = 300;
  const konst = (name: string, shape: number[], values?: Float32Array | Int32Array, a = 0.5) => {
    const v = values ?? weights(shape.reduce((p, q) => p * q, 1), seed++, a);
    const dtype = v instanceof Int32Array ? 'int32' : 'float32';
    specs.push({ name, shape, dtype });
    chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    nodes.push({ name, op: 'Const', attr: { dtype: { type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: {} } });
    return name;
  };
  const I = { type: 'DT_INT32' };
  const ints = (name: string, ...v: number[]) => konst(name, [v.length], Int32Array.from(v));
  const node = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}) => {
    nodes.push({ name, op, input, attr: { T: F, ...attr } });
    return name;
  };
  const convAttr = (s: number, p = 'SAME') => ({ strides: list(1, s, s, 1), padding: pad(p), data_format: NHWC, dilations: list(1, 1, 1, 1) });
  const fused = { fused_ops: { list: { s: [b64('BiasAdd')] } }, num_args: { i: '1' }, epsilon: { f: 0 } };
  const masks = (shrink = 0) => ({ begin_mask: { i: '0' }, end_mask: { i: '0' }, ellipsis_mask: { i: '0' }, new_axis_mask: { i: '0' }, shrink_axis_mask: { i: String(shrink) }, Index: I, T: I });
  const slice1 = (name: string, x: string, b: number, e: number, shrink = 0) => node(name, 'StridedSlice', [x, ints(`${name}/b`, b), ints(`${name}/e`, e), ints(`${name}/s`, 1)], masks(shrink));
  const pack = (name: string, xs: string[]) => node(name, 'Pack', xs, { T: I, N: { i: String(xs.length) }, axis: { i: '0' } });
  const shape = (name: string, x: string) => node(name, 'Shape', [x], { out_type: I });

  nodes.push({ name: 'img', op: 'Placeholder', attr: { dtype: F, shape: { shape: { dim: [{ size: '-1' }, { size: '-1' }, { size: '-1' }, { size: '3' }] } } } });
  nodes.push({ name: 'state', op: 'Placeholder', attr: { dtype: F, shape: { shape: { unknownRank: true } } } });
  nodes.push({ name: 'ratio', op: 'Placeholder', attr: { dtype: F, shape: { shape: { unknownRank: true } } } });
  const onef = konst('onef', [], Float32Array.of(1));
  const ax = konst('axis', [], Int32Array.of(-1));

  // cond(ratio == 1, img, resize(img, shape * ratio))
  node('eq', 'Equal', ['ratio', onef], { incompatible_shape_error: { b: false } });
  node('pred', 'Squeeze', ['eq'], { T: { type: 'DT_BOOL' }, squeeze_dims: { list: {} } });
  node('sw', 'Switch', ['img', 'pred']);
  node('then_x', 'Identity', ['sw:1']);
  shape('else_shape', 'sw');
  slice1('else_hw', 'else_shape', 1, 3);
  node('else_hwf', 'Cast', ['else_hw'], { SrcT: I, DstT: F, Truncate: { b: false } });
  node('else_scaled', 'Mul', ['else_hwf', 'ratio']);
  node('else_size', 'Cast', ['else_scaled'], { SrcT: F, DstT: I, Truncate: { b: false } });
  node('else_x', 'ResizeBilinear', ['sw', 'else_size'], { align_corners: { b: false }, half_pixel_centers: { b: true } });
  node('x', 'Merge', ['then_x', 'else_x'], { N: { i: '2' } });

  // stem
  node('c1', 'Conv2D', ['x', konst('c1/w', [3, 3, 3, 8])], convAttr(2));
  node('c1b', 'BiasAdd', ['c1', konst('c1/b', [8], opts.zeroBias ? new Float32Array(8) : undefined)], { data_format: NHWC });
  node('a', 'Relu', ['c1b']);

  // atrous depthwise conv, rate 2, as tf.nn.with_space_to_batch writes it
  node('ap', 'Pad', ['a', konst('ap/p', [4, 2], Int32Array.from([0, 0, 2, 2, 2, 2, 0, 0]))], { Tpaddings: I });
  shape('ap_shape', 'ap');
  slice1('ap_hw', 'ap_shape', 1, 3);
  const rate = konst('rate', [2], Int32Array.from([2, 2]));
  node('mod', 'FloorMod', ['ap_hw', rate], { T: I });
  node('sub', 'Sub', [rate, 'mod'], { T: I });
  node('extra', 'FloorMod', ['sub', rate], { T: I });
  slice1('eh', 'extra', 0, 1, 1);
  slice1('ew', 'extra', 1, 2, 1);
  const zi = konst('zero_i', [], Int32Array.of(0));
  pack('pads0', [zi, 'eh']);
  pack('pads1', [zi, 'ew']);
  pack('pads', ['pads0', 'pads1']);
  node('stb', 'SpaceToBatchND', ['ap', rate, 'pads'], { Tblock_shape: I, Tpaddings: I });
  node('dw', 'DepthwiseConv2dNative', ['stb', konst('dw/w', [3, 3, 8, 1])], convAttr(1, 'VALID'));
  node('bts', 'BatchToSpaceND', ['dw', rate, 'pads'], { Tblock_shape: I, Tcrops: I });
  node('bn_mul', 'Mul', ['bts', konst('bn/scale', [8])]);
  node('bn', 'Add', ['bn_mul', konst('bn/offset', [8])]);
  node('d', 'Relu6', ['bn']);

  // ConvGRU on the state
  node('g', 'Conv2D', ['d', konst('g/w', [1, 1, 8, 8])], convAttr(1));
  node('gr', 'Relu', ['g']);
  node('split', 'Split', [ax, 'gr'], { num_split: { i: '2' } });
  shape('h_shape', 'split:1');
  node('h', 'BroadcastTo', ['state', 'h_shape'], { Tidx: I });
  node('gru_in', 'ConcatV2', ['split:1', 'h', ax], { N: { i: '2' }, Tidx: I });
  node('gates', '_FusedConv2D', ['gru_in', konst('gates/w', [3, 3, 8, 8]), konst('gates/b', [8])], { ...convAttr(1), ...fused });
  node('gates_s', 'Sigmoid', ['gates']);
  node('rz', 'Split', [ax, 'gates_s'], { num_split: { i: '2' } });
  node('rh', 'Mul', ['rz', 'h']);
  node('cand_in', 'ConcatV2', ['split:1', 'rh', ax], { N: { i: '2' }, Tidx: I });
  node('cand', '_FusedConv2D', ['cand_in', konst('cand/w', [3, 3, 8, 4]), konst('cand/b', [4])], { ...convAttr(1), ...fused });
  node('cand_t', 'Tanh', ['cand']);
  node('one_minus_z', 'Sub', [onef, 'rz:1']);
  node('keep', 'Mul', ['one_minus_z', 'h']);
  node('upd', 'Mul', ['rz:1', 'cand_t']);
  node('h_new', 'AddV2', ['keep', 'upd']);
  node('dec', 'ConcatV2', ['split', 'h_new', ax], { N: { i: '2' }, Tidx: I });

  // 2x upsample cropped to the image's size
  shape('dec_shape', 'dec');
  slice1('dec_hw', 'dec_shape', 1, 3);
  node('up_size', 'Mul', ['dec_hw', konst('two', [2], Int32Array.from([2, 2]))], { T: I });
  node('up', 'ResizeBilinear', ['dec', 'up_size'], { align_corners: { b: false }, half_pixel_centers: { b: true } });
  shape('x_shape', 'x');
  slice1('xh', 'x_shape', 1, 2, 1);
  slice1('xw', 'x_shape', 2, 3, 1);
  const m1 = konst('minus1', [], Int32Array.of(-1));
  pack('crop_size', [m1, 'xh', 'xw', m1]);
  node('crop', 'Slice', ['up', konst('crop/begin', [4], Int32Array.from([0, 0, 0, 0])), 'crop_size'], { Index: I });

  // head: two channels, the second clipped to 0..1 is the alpha
  node('cat', 'ConcatV2', ['crop', 'x', ax], { N: { i: '2' }, Tidx: I });
  node('head', '_FusedConv2D', ['cat', konst('head/w', [3, 3, 11, 2], undefined, 0.25), konst('head/b', [2], Float32Array.from([0.5, 0.5]))], { ...convAttr(1), ...fused });
  node('outs', 'SplitV', ['head', konst('sizes', [2], Int32Array.from([1, 1])), ax], { num_split: { i: '2' }, Tlen: I });
  node('mn', 'Minimum', ['outs:1', onef]);
  node('mx', 'Maximum', ['mn', konst('zerof', [], Float32Array.of(0))]);
  node('alpha', 'Identity', ['mx']);
  node('state_out', 'Identity', ['h_new']);

  fs.writeFileSync(path.join(dir, 'matting.bin'), Buffer.concat(chunks));
  const dims = (...d: number[]) => ({ dim: d.map((s) => ({ size: String(s) })) });
  const json = {
    format: 'graph-model',
    generatedBy: 'portraitseg test fixture',
    convertedBy: null,
    signature: {
      inputs: {
        'img:0': { name: 'img:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, -1, -1, 3) },
        'state:0': { name: 'state:0', dtype: 'DT_FLOAT', tensorShape: { unknownRank: true } },
        'ratio:0': { name: 'ratio:0', dtype: 'DT_FLOAT', tensorShape: { unknownRank: true } },
      },
      outputs: {
        alpha: { name: 'alpha:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, -1, -1, 1) },
        state_out: { name: 'state_out:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, -1, -1, 4) },
      },
    },
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: ['matting.bin'], weights: specs }],
  };
  const f = path.join(dir, 'matting.json');
  fs.writeFileSync(f, JSON.stringify(json));
  return f;
}

/** writeFoldFixture's constant inputs for a first frame at the image's own size. */
export const FOLD_FIXTURE_CONSTS = { state: 0, ratio: 1 };
