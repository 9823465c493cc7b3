/**
 * TensorFlow.js graph-model reader: model.json (format "graph-model", modelTopology.node = a
 * TensorFlow GraphDef in JSON) + weight shards -> IrGraph. Weights are decoded by tfjs itself
 * (tf.io.decodeWeights: float16 / uint8 / uint16 quantised manifests come back as float32).
 * Grappler's fused ops (_FusedConv2D, FusedDepthwiseConv2dNative with fused_ops BiasAdd[, Relu|Relu6])
 * are split into the conv and its activation.
 */
import * as tf from '@tensorflow/tfjs';
import { readModelJson, readWeightShards } from '../model_files';
import { IrConst, IrGraph, IrNode, Padding, UnsupportedOpError } from './ir';

interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

interface ModelJson {
  format?: string;
  modelTopology?: { node?: GraphNode[] };
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: { inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
}

const str = (a: AttrValue | undefined) => (a?.s !== undefined ? Buffer.from(a.s, 'base64').toString('utf8') : undefined);
const ints = (a: AttrValue | undefined) => (a?.list?.i ?? []).map(Number);
const strs = (a: AttrValue | undefined) => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));

/** True when `json` looks like a TensorFlow.js graph model. */
export function isGraphModelJson(json: unknown): boolean {
  const j = json as ModelJson;
  return !!j && typeof j === 'object' && (j.format === 'graph-model' || Array.isArray(j.modelTopology?.node));
}

function tensorName(input: string): string | null {
  if (input.startsWith('^')) return null; // control dependency
  return input.replace(/:0$/, '');
}

/** Reads model.json and its shards; `file` is the model.json path. */
export function readTfjsGraph(file: string): IrGraph {
  const raw = readModelJson(file);
  const json = raw as ModelJson;
  if (!isGraphModelJson(json)) throw new Error(`${file}: not a TensorFlow.js graph model (no modelTopology.node)`);
  // shards inside the model's folder, regular files, sizes as the manifest says (src/models/model_files.ts)
  const { specs, data } = readWeightShards(file, raw);
  const decoded = tf.io.decodeWeights(data, specs);
  const consts = new Map<string, IrConst>();
  const intConsts = new Map<string, number[]>();
  for (const [name, t] of Object.entries(decoded)) {
    if (t.dtype === 'float32') consts.set(name, { shape: [...t.shape], data: t.dataSync() as Float32Array });
    else if (t.dtype === 'int32') intConsts.set(name, Array.from(t.dataSync()));
    t.dispose();
  }

  const gnodes = json.modelTopology!.node!;
  const placeholders = gnodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw new Error(`${file}: expected one input (Placeholder), found ${placeholders.length}`);
  const ph = placeholders[0];
  const dims = (ph.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  const nodes: IrNode[] = [];
  const alias = new Map<string, string>();
  const resolve = (i: string) => {
    let t = i;
    while (alias.has(t)) t = alias.get(t)!;
    return t;
  };

  for (const n of gnodes) {
    const ins = (n.input ?? []).map(tensorName).filter((x): x is string => x !== null).map(resolve);
    const a = n.attr ?? {};
    const fail = (why = ''): never => {
      throw new UnsupportedOpError(file, n.op, n.name, why);
    };
    const constOf = (t: string, what: string): IrConst => consts.get(t) ?? fail(`${what} must be a constant`);
    const intsOf = (t: string, what: string): number[] => intConsts.get(t) ?? fail(`${what} must be a constant int tensor`);
    const nhwc = () => {
      const df = str(a.data_format);
      if (df && df !== 'NHWC') fail(`data_format ${df} (only NHWC)`);
    };
    const padding = (): Padding => {
      const p = str(a.padding);
      if (p === 'SAME') return 'same';
      if (p === 'VALID') return 'valid';
      if (p === 'EXPLICIT' && ints(a.explicit_paddings).every((v) => v === 0)) return 'valid';
      return fail(`padding ${p}`);
    };
    const hw = (v: number[], def = 1): [number, number] => (v.length === 4 ? [v[1], v[2]] : [def, def]);
    const emit = (op: string, inputs: string[], attrs: Record<string, unknown> = {}, output = n.name) => {
      nodes.push({ op, name: n.name, inputs, output, attrs });
    };
    switch (n.op) {
      case 'Const':
        if (!consts.has(n.name) && !intConsts.has(n.name)) {
          const dt = a.dtype?.type;
          if (dt === 'DT_FLOAT' || dt === 'DT_INT32') throw new Error(`${file}: constant "${n.name}" has no weights in the manifest`);
        }
        break;
      case 'Placeholder':
        break;
      case 'Identity':
      case 'StopGradient':
        alias.set(n.name, ins[0]);
        break;
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        nhwc();
        const dw = n.op.includes('Depthwise');
        const w = constOf(ins[1], 'the filter');
        const inputs = [ins[0], ins[1]];
        let act: string | null = null;
        if (n.op.startsWith('_Fused') || n.op.startsWith('Fused')) {
          const fused = strs(a.fused_ops);
          if (fused[0] !== 'BiasAdd' || fused.length > 2) fail(`fused_ops [${fused.join(', ')}]`);
          inputs.push(ins[2]);
          constOf(ins[2], 'the bias');
          if (fused[1] === 'Relu') act = 'relu';
          else if (fused[1] === 'Relu6') act = 'relu6';
          else if (fused[1] !== undefined) fail(`fused_ops [${fused.join(', ')}]`);
        }
        const attrs = { strides: hw(ints(a.strides)), dilations: hw(ints(a.dilations)), padding: padding() };
        const out = act ? `${n.name}:pre` : n.name;
        emit(dw ? 'depthwise' : 'conv2d', inputs, attrs, out);
        if (act) emit(act, [out]);
        break;
      }
      case 'Conv2DBackpropInput': {
        nhwc();
        const sizes = intsOf(ins[0], 'input_sizes');
        constOf(ins[1], 'the filter');
        emit('conv2dTranspose', [ins[2], ins[1]], { strides: hw(ints(a.strides)), padding: padding(), outShape: sizes.slice(1) });
        break;
      }
      case 'BiasAdd':
        nhwc();
        emit('add', [ins[0], ins[1]]);
        break;
      case 'Add':
      case 'AddV2':
      case 'AddN':
        emit('add', ins);
        break;
      case 'Mul':
        emit('mul', ins);
        break;
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Softmax':
        emit(n.op.toLowerCase(), [ins[0]]);
        break;
      case 'AvgPool':
        nhwc();
        emit('avgpool', [ins[0]], { size: hw(ints(a.ksize)), strides: hw(ints(a.strides)), padding: padding() });
        break;
      case 'Mean':
        emit('mean', [ins[0]], { axes: intsOf(ins[1], 'the axes'), keepDims: !!a.keep_dims?.b });
        break;
      case 'ResizeBilinear':
        emit('resize', [ins[0]], { size: intsOf(ins[1], 'the size'), alignCorners: !!a.align_corners?.b, halfPixelCenters: !!a.half_pixel_centers?.b });
        break;
      case 'ConcatV2': {
        const axis = intsOf(ins[ins.length - 1], 'the axis')[0];
        emit('concat', ins.slice(0, -1), { axis });
        break;
      }
      case 'Reshape': {
        const s = intsOf(ins[1], 'the shape');
        emit('reshape', [ins[0]], { shape: s.slice(1) });
        break;
      }
      case 'Pad': {
        const p = intsOf(ins[1], 'the paddings');
        const pairs: [number, number][] = [];
        for (let i = 0; i < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
        emit('pad', [ins[0]], { paddings: pairs });
        break;
      }
      case 'MatMul': {
        if (a.transpose_a?.b) fail('transpose_a');
        let w = constOf(ins[1], 'the weights');
        if (a.transpose_b?.b) {
          const [r, c] = w.shape;
          const t = new Float32Array(r * c);
          for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = w.data[i * c + j];
          w = { shape: [c, r], data: t };
          consts.set(`${n.name}/kernel`, w);
          emit('dense', [ins[0], `${n.name}/kernel`]);
        } else emit('dense', [ins[0], ins[1]]);
        break;
      }
      default:
        fail();
    }
  }

  let output: string | undefined;
  const sigOut = Object.keys(json.signature?.outputs ?? {});
  if (sigOut.length === 1) output = resolve(sigOut[0].replace(/:0$/, ''));
  if (!output) {
    const read = new Set(nodes.flatMap((n) => n.inputs));
    const ends = nodes.filter((n) => !read.has(n.output));
    if (ends.length !== 1) throw new Error(`${file}: expected one output, found ${ends.length} (${ends.map((e) => e.name).join(', ')})`);
    output = ends[0].output;
  }
  return { format: 'tfjs-graph', source: file, input: { name: ph.name, shape: dims }, output, nodes, consts };
}
