/**
 * TFLite reader: a .tflite FlatBuffer (TensorFlow Lite's schema.fbs, src/util/tflite) -> IrGraph.
 *
 * Weights may be float32, float16 behind DEQUANTIZE (MediaPipe's selfie segmenter) or int8/uint8
 * with scale/zero point (dequantised here, f = scale * (q - zero_point), per tensor or per axis).
 * Layout changes to TensorFlow's: CONV_2D weights [co,kh,kw,ci] -> [kh,kw,ci,co];
 * DEPTHWISE [1,kh,kw,ci*m] -> [kh,kw,ci,m]; TRANSPOSE_CONV [co,kh,kw,ci] -> [kh,kw,co,ci];
 * FULLY_CONNECTED [out,in] -> [in,out]. Fused activations become their own nodes.
 *
 * MediaPipe's custom op Convolution2DTransposeBias (mediapipe/util/tflite/operations/
 * transpose_conv_bias.cc): inputs [input, weights [co,kh,kw,ci], bias [co]], custom_options =
 * TfLiteTransposeConvParams {int32 padding (1 same, 2 valid), int32 stride_width, int32 stride_height}.
 */
import { constantBytes, readTfliteModel, tfl, TfliteCorruptError } from '../../util/tflite';
import { IrConst, IrGraph, IrNode, Padding, UnsupportedOpError } from './ir';
import { halfToFloat } from '../../util/half';

type ModelT = ReturnType<typeof readTfliteModel>;



function product(s: number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** A constant tensor's values as float32 (dequantising int8/uint8), or null when it is not constant. */
function floatData(m: ModelT, t: tfl.TensorT, where: string): Float32Array | null {
  const bytes = constantBytes(m, t, where);
  if (!bytes) return null;
  const n = product(t.shape);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (t.type) {
    case tfl.TensorType.FLOAT32:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case tfl.TensorType.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    case tfl.TensorType.INT8:
    case tfl.TensorType.UINT8: {
      const q = t.quantization;
      if (!q || q.scale.length === 0) throw new Error(`${where}: ${tfl.TensorType[t.type]} tensor "${String(t.name)}" has no quantization scale`);
      const axis = q.scale.length > 1 ? q.quantizedDimension : -1;
      const inner = axis >= 0 ? product(t.shape.slice(axis + 1)) : 1;
      for (let i = 0; i < n; i++) {
        const c = axis >= 0 ? Math.floor(i / inner) % t.shape[axis] : 0;
        const v = t.type === tfl.TensorType.INT8 ? dv.getInt8(i) : dv.getUint8(i);
        out[i] = q.scale[c] * (v - Number(q.zeroPoint[c] ?? 0n));
      }
      return out;
    }
    default:
      return null;
  }
}

function intData(m: ModelT, t: tfl.TensorT, where: string): number[] | null {
  if (t.type !== tfl.TensorType.INT32 && t.type !== tfl.TensorType.INT64) return null;
  const bytes = constantBytes(m, t, where);
  if (!bytes) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = product(t.shape);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(t.type === tfl.TensorType.INT64 ? Number(dv.getBigInt64(8 * i, true)) : dv.getInt32(4 * i, true));
  return out;
}

/** [..] -> permuted copy, for constant layout changes. */
export function permute(c: IrConst, perm: number[]): IrConst {
  const src = c.shape;
  const dst = perm.map((p) => src[p]);
  const srcStride = src.map((_, i) => product(src.slice(i + 1)));
  const out = new Float32Array(c.data.length);
  const idx = new Array(dst.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let d = 0; d < dst.length; d++) s += idx[d] * srcStride[perm[d]];
    out[o] = c.data[s];
    for (let d = dst.length - 1; d >= 0; d--) {
      if (++idx[d] < dst[d]) break;
      idx[d] = 0;
    }
  }
  return { shape: dst, data: out };
}

const PADDING: Record<number, Padding> = { [tfl.Padding.SAME]: 'same', [tfl.Padding.VALID]: 'valid' };

/** Tensor and operator-code indices in range, so a corrupt file fails naming itself, not deep inside the reader. */
function checkIndices(m: ModelT, source: string): void {
  const g = m.subgraphs[0];
  const n = g.tensors.length;
  const bad = (what: string, i: number) => new TfliteCorruptError(`${source}: truncated or corrupt TFLite file: ${what} names tensor ${i}, the subgraph has ${n}`);
  for (const i of [...g.inputs, ...g.outputs]) if (!Number.isInteger(i) || i < 0 || i >= n) throw bad('an input or output', i);
  g.operators.forEach((op, k) => {
    if (!Number.isInteger(op.opcodeIndex) || op.opcodeIndex < 0 || op.opcodeIndex >= m.operatorCodes.length) {
      throw new TfliteCorruptError(`${source}: truncated or corrupt TFLite file: operator ${k} names operator code ${op.opcodeIndex}, the file has ${m.operatorCodes.length}`);
    }
    for (const i of op.inputs) if (!Number.isInteger(i) || i < -1 || i >= n) throw bad(`operator ${k}`, i);
    if (op.outputs.length < 1) throw new TfliteCorruptError(`${source}: truncated or corrupt TFLite file: operator ${k} has no output`);
    for (const i of op.outputs) if (!Number.isInteger(i) || i < 0 || i >= n) throw bad(`operator ${k}`, i);
  });
  for (const t of g.tensors) {
    if (t.sparsity) throw new TfliteCorruptError(`${source}: tensor "${String(t.name)}" is sparse: sparse TFLite tensors are not supported`);
  }
}

export function readTflite(bytes: Uint8Array, source: string): IrGraph {
  let m: ModelT;
  try {
    m = readTfliteModel(bytes);
  } catch (e) {
    if (e instanceof TfliteCorruptError) throw new TfliteCorruptError(`${source}: ${e.message}`);
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  if (m.subgraphs.length < 1) throw new Error(`${source}: the TFLite file has no subgraph`);
  const g0 = m.subgraphs[0];
  if (g0.inputs.length !== 1 || g0.outputs.length !== 1) {
    throw new Error(`${source}: expected one input and one output, the model has ${g0.inputs.length} and ${g0.outputs.length}`);
  }
  checkIndices(m, source);
  const tensors = g0.tensors;
  const names = tensors.map((t) => (typeof t.name === 'string' ? t.name : ''));
  const seen = new Map<string, number>();
  for (const n of names) seen.set(n, (seen.get(n) ?? 0) + 1);
  const id = (i: number) => {
    const n = names[i];
    return n && seen.get(n) === 1 ? n : `${n || 'tensor'}#${i}`;
  };
  const consts = new Map<string, IrConst>();
  const nodes: IrNode[] = [];
  const inT = tensors[g0.inputs[0]];
  const graph: IrGraph = {
    format: 'tflite',
    source,
    input: { name: id(g0.inputs[0]), shape: [...inT.shape] },
    output: id(g0.outputs[0]),
    nodes,
    consts,
  };
  for (let i = 0; i < tensors.length; i++) {
    const d = floatData(m, tensors[i], source);
    if (d) consts.set(id(i), { shape: [...tensors[i].shape], data: d });
  }

  const opName = (op: tfl.OperatorT) => {
    const c = m.operatorCodes[op.opcodeIndex];
    if (!c) throw new Error(`${source}: operator code ${op.opcodeIndex} missing`);
    if (c.customCode) return String(c.customCode);
    return tfl.BuiltinOperator[Math.max(c.builtinCode, c.deprecatedBuiltinCode)] ?? `builtin#${c.builtinCode}`;
  };
  const constOf = (ti: number, what: string, node: string, op: string): IrConst => {
    const c = consts.get(id(ti));
    if (!c) throw new UnsupportedOpError(source, op, node, `${what} must be a constant`);
    return c;
  };
  const ints = (ti: number, what: string, node: string, op: string): number[] => {
    const v = intData(m, tensors[ti], source);
    if (!v) throw new UnsupportedOpError(source, op, node, `${what} must be a constant int tensor`);
    return v;
  };
  const emit = (op: string, name: string, inputs: string[], output: string, attrs: Record<string, unknown> = {}) => {
    nodes.push({ op, name, inputs, output, attrs });
  };
  /** Emits the main op into a temp name and its fused activation into the real output. */
  const withAct = (act: number, node: string, out: string, op: string): string => {
    if (act === tfl.ActivationFunctionType.NONE) return out;
    const kind = act === tfl.ActivationFunctionType.RELU ? 'relu' : act === tfl.ActivationFunctionType.RELU6 ? 'relu6' : null;
    if (!kind) throw new UnsupportedOpError(source, op, node, `fused activation ${tfl.ActivationFunctionType[act]}`);
    const pre = `${out}:pre`;
    emit(kind, `${node}_${kind}`, [pre], out);
    return pre;
  };
  const weightConst = (key: string, c: IrConst): string => {
    consts.set(key, c);
    return key;
  };

  const r: OpReader = { source, tensors, names, nodes, consts, id, constOf, ints, emit, withAct, weightConst };
  // emit in file order; fused activations are pushed after their op via a small reorder
  for (const op of g0.operators) {
    const name = opName(op);
    const out = id(op.outputs[0]);
    const node = names[op.outputs[0]] || out;
    const read = Object.prototype.hasOwnProperty.call(OP_READERS, name) ? OP_READERS[name] : null;
    if (!read) throw new UnsupportedOpError(source, name, node);
    read(r, { op, name, out, node, ins: op.inputs, start: nodes.length, o: op.builtinOptions as unknown as Options | null });
  }
  return graph;
}

type Options = Record<string, number & boolean & number[]>;

/** What reading one operator needs: readTflite's tensors, names and the helpers that add IR. */
interface OpReader {
  source: string;
  tensors: tfl.TensorT[];
  names: string[];
  nodes: IrNode[];
  consts: Map<string, IrConst>;
  id: (i: number) => string;
  constOf: (ti: number, what: string, node: string, op: string) => IrConst;
  ints: (ti: number, what: string, node: string, op: string) => number[];
  emit: (op: string, name: string, inputs: string[], output: string, attrs?: Record<string, unknown>) => void;
  withAct: (act: number, node: string, out: string, op: string) => string;
  weightConst: (key: string, c: IrConst) => string;
}

/** One operator: its TFLite name, output tensor id, node name, inputs, options; `start` = nodes.length before it. */
interface OpCall {
  op: tfl.OperatorT;
  name: string;
  out: string;
  node: string;
  ins: number[];
  start: number;
  o: Options | null;
}

const readConv = (r: OpReader, { name, out, node, ins, start, o }: OpCall): void => {
  const w = r.constOf(ins[1], 'the filter', node, name);
  const dw = name === 'DEPTHWISE_CONV_2D';
  const [, kh, kw, last] = w.shape;
  let wk: IrConst;
  if (dw) {
    const ci = r.tensors[ins[0]].shape[3];
    wk = { shape: [kh, kw, ci, last / ci], data: w.data };
  } else wk = permute(w, [1, 2, 3, 0]);
  const inputs = [r.id(ins[0]), r.weightConst(`${out}/kernel`, wk)];
  if (ins.length > 2 && ins[2] >= 0) inputs.push(r.weightConst(`${out}/bias`, r.constOf(ins[2], 'the bias', node, name)));
  const target = r.withAct(o!.fusedActivationFunction, node, out, name);
  r.nodes.splice(start, 0, {
    op: dw ? 'depthwise' : 'conv2d',
    name: node,
    inputs,
    output: target,
    attrs: { strides: [o!.strideH, o!.strideW], dilations: [o!.dilationHFactor || 1, o!.dilationWFactor || 1], padding: PADDING[o!.padding] },
  });
};

/** TRANSPOSE_CONV, and MediaPipe's custom Convolution2DTransposeBias (options in custom_options). */
const readTransposeConv = (r: OpReader, { op, name, out, node, ins, start, o }: OpCall): void => {
  const { source } = r;
  let x: number, wi: number, bi: number, padding: Padding, strides: [number, number];
  if (name === 'TRANSPOSE_CONV') {
    [, wi, x] = ins;
    bi = ins.length > 3 ? ins[3] : -1;
    padding = PADDING[o!.padding];
    strides = [o!.strideH, o!.strideW];
    if (o!.fusedActivationFunction) r.withAct(o!.fusedActivationFunction, node, out, name);
  } else {
    [x, wi, bi] = ins;
    const co = op.customOptions;
    if (co.length < 12) throw new UnsupportedOpError(source, name, node, `custom_options has ${co.length} bytes, expected 12`);
    const dv = new DataView(Uint8Array.from(co).buffer);
    const p = dv.getInt32(0, true);
    padding = p === 1 ? 'same' : p === 2 ? 'valid' : (null as never);
    if (!padding) throw new UnsupportedOpError(source, name, node, `padding ${p} in custom_options`);
    strides = [dv.getInt32(8, true), dv.getInt32(4, true)];
  }
  const w = permute(r.constOf(wi, 'the filter', node, name), [1, 2, 0, 3]);
  const inputs = [r.id(x), r.weightConst(`${out}/kernel`, w)];
  if (bi >= 0) inputs.push(r.weightConst(`${out}/bias`, r.constOf(bi, 'the bias', node, name)));
  const os = r.tensors[op.outputs[0]].shape;
  const target = r.nodes.length > start ? `${out}:pre` : out;
  r.nodes.splice(start, 0, { op: 'conv2dTranspose', name: node, inputs, output: target, attrs: { strides, padding, outShape: [os[1], os[2], os[3]] } });
};

const readFullyConnected = (r: OpReader, { name, out, node, ins, start, o }: OpCall): void => {
  if (o?.keepNumDims && r.tensors[ins[0]].shape.length > 2) throw new UnsupportedOpError(r.source, name, node, 'keep_num_dims');
  const w = permute(r.constOf(ins[1], 'the weights', node, name), [1, 0]);
  let x = r.id(ins[0]);
  const target = r.withAct(o?.fusedActivationFunction ?? 0, node, out, name);
  const pre: IrNode[] = [];
  if (r.tensors[ins[0]].shape.length !== 2) {
    pre.push({ op: 'reshape', name: `${node}_flatten`, inputs: [x], output: `${out}:flat`, attrs: { shape: [w.shape[0]] } });
    x = `${out}:flat`;
  }
  const inputs = [x, r.weightConst(`${out}/kernel`, w)];
  if (ins.length > 2 && ins[2] >= 0) inputs.push(r.weightConst(`${out}/bias`, r.constOf(ins[2], 'the bias', node, name)));
  r.nodes.splice(start, 0, ...pre, { op: 'dense', name: node, inputs, output: target, attrs: {} });
};

/** An op whose fused activation (if any) follows it: the op is spliced in before the activation node. */
const withFused =
  (irOp: (name: string) => string, attrs: (c: OpCall) => Record<string, unknown> = () => ({})) =>
  (r: OpReader, c: OpCall): void => {
    const target = r.withAct(c.o?.fusedActivationFunction ?? 0, c.node, c.out, c.name);
    r.nodes.splice(c.start, 0, { op: irOp(c.name), name: c.node, inputs: c.ins.map(r.id), output: target, attrs: attrs(c) });
  };

/** TFLite operator -> IR nodes (tflite.ts' header lists the layouts). */
const OP_READERS: Readonly<Record<string, (r: OpReader, c: OpCall) => void>> = {
  DEQUANTIZE: (r, { op, name, out, node, ins }) => {
    const c = r.consts.get(r.id(ins[0]));
    if (!c) throw new UnsupportedOpError(r.source, name, node, 'only constant (weight) inputs are supported');
    r.consts.set(out, { shape: [...r.tensors[op.outputs[0]].shape], data: c.data });
  },
  CONV_2D: readConv,
  DEPTHWISE_CONV_2D: readConv,
  TRANSPOSE_CONV: readTransposeConv,
  Convolution2DTransposeBias: readTransposeConv,
  FULLY_CONNECTED: readFullyConnected,
  ADD: withFused((name) => (name === 'ADD' ? 'add' : 'mul')),
  MUL: withFused((name) => (name === 'ADD' ? 'add' : 'mul')),
  ADD_N: (r, { out, node, ins }) => r.emit('add', node, ins.map(r.id), out),
  RELU: (r, { name, out, node, ins }) => r.emit(name.toLowerCase().replace('hard_swish', 'hardswish'), node, [r.id(ins[0])], out),
  RELU6: (r, { name, out, node, ins }) => r.emit(name.toLowerCase().replace('hard_swish', 'hardswish'), node, [r.id(ins[0])], out),
  HARD_SWISH: (r, { name, out, node, ins }) => r.emit(name.toLowerCase().replace('hard_swish', 'hardswish'), node, [r.id(ins[0])], out),
  LOGISTIC: (r, { out, node, ins }) => r.emit('sigmoid', node, [r.id(ins[0])], out),
  SOFTMAX: (r, { name, out, node, ins, o }) => {
    if (o && o.beta !== undefined && Math.abs(Number(o.beta) - 1) > 1e-6) throw new UnsupportedOpError(r.source, name, node, `beta ${o.beta} (only 1)`);
    r.emit('softmax', node, [r.id(ins[0])], out);
  },
  AVERAGE_POOL_2D: (r, { name, out, node, ins, start, o }) => {
    const target = r.withAct(o!.fusedActivationFunction, node, out, name);
    r.nodes.splice(start, 0, {
      op: 'avgpool',
      name: node,
      inputs: [r.id(ins[0])],
      output: target,
      attrs: { size: [o!.filterHeight, o!.filterWidth], strides: [o!.strideH, o!.strideW], padding: PADDING[o!.padding] },
    });
  },
  MEAN: (r, { name, out, node, ins, o }) => r.emit('mean', node, [r.id(ins[0])], out, { axes: r.ints(ins[1], 'the axes', node, name), keepDims: !!o?.keepDims }),
  RESIZE_BILINEAR: (r, { name, out, node, ins, o }) => {
    const size = r.ints(ins[1], 'the size', node, name);
    r.emit('resize', node, [r.id(ins[0])], out, { size, alignCorners: !!o?.alignCorners, halfPixelCenters: !!o?.halfPixelCenters });
  },
  CONCATENATION: withFused(() => 'concat', (c) => ({ axis: c.o!.axis })),
  RESHAPE: (r, { op, out, node, ins }) => r.emit('reshape', node, [r.id(ins[0])], out, { shape: r.tensors[op.outputs[0]].shape.slice(1) }),
  PAD: (r, { name, out, node, ins }) => {
    const p = r.ints(ins[1], 'the paddings', node, name);
    const pairs: [number, number][] = [];
    for (let i = 0; i < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
    r.emit('pad', node, [r.id(ins[0])], out, { paddings: pairs });
  },
};
