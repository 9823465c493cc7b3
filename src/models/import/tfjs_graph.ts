/**
 * TensorFlow.js graph-model reader: model.json (format "graph-model", modelTopology.node = a
 * TensorFlow GraphDef in JSON) + weight shards -> IrGraph. Weights are decoded by tfjs itself
 * (tf.io.decodeWeights: float16 / uint8 / uint16 quantised manifests come back as float32).
 * Grappler's fused ops (_FusedConv2D, FusedDepthwiseConv2dNative with fused_ops BiasAdd[, Relu|Relu6])
 * are split into the conv and its activation.
 *
 * Graphs with several inputs (a video matting net's recurrent states, a ratio) import with every
 * input but the image given a constant value (`constInputs`); graph_fold.ts then folds what is
 * known before the image arrives (shape arithmetic, conds with constant predicates) and the
 * reader turns what is left into IR:
 *   Split / SplitV / Slice on channels  -> slice (ir.ts pushes them into the convs they read);
 *   Slice on height and width           -> crop;
 *   SpaceToBatchND -> conv -> BatchToSpaceND (TensorFlow's atrous convolution)
 *                                       -> pad -> dilated conv (VALID) -> crop;
 *   Sub, RealDiv / Square with constants -> add / mul;  Minimum / Maximum with a scalar -> clip.
 * A graph with several outputs needs `outputNode`: a signature output's name (e.g. "pha") or a
 * tensor ("node" or "node:1").
 */
import * as tf from '@tensorflow/tfjs';
import { readModelJson, readWeightShards } from '../model_files';
import { foldGraph, tensorKey, type AttrValue, type GraphNode } from './graph_fold';
import { IrConst, IrGraph, IrNode, Padding, UnsupportedOpError } from './ir';

interface ModelJson {
  format?: string;
  modelTopology?: { node?: GraphNode[] };
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: { inputs?: Record<string, { name?: string }>; outputs?: Record<string, { name?: string }> };
}

const str = (a: AttrValue | undefined) => (a?.s !== undefined ? Buffer.from(a.s, 'base64').toString('utf8') : undefined);
const ints = (a: AttrValue | undefined) => (a?.list?.i ?? []).map(Number);
const strs = (a: AttrValue | undefined) => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));

/** True when `json` looks like a TensorFlow.js graph model. */
export function isGraphModelJson(json: unknown): boolean {
  const j = json as ModelJson;
  return !!j && typeof j === 'object' && (j.format === 'graph-model' || Array.isArray(j.modelTopology?.node));
}

export interface GraphReadOptions {
  /** [height, width] to fold shapes at when the file's input has none (null: the file's). */
  inputSize?: [number, number] | null;
  /** Values of the inputs other than the image (scalars). */
  constInputs?: Record<string, number>;
  /** The output: a signature output name or a tensor name; null: the graph's only output. */
  outputNode?: string | null;
}

/** The graph's placeholders and signature outputs, for presets and messages. */
export function graphSignature(file: string): { inputs: string[]; outputs: string[] } {
  const json = readJson(file);
  return {
    inputs: (json.modelTopology?.node ?? []).filter((n) => n.op === 'Placeholder').map((n) => n.name),
    outputs: Object.keys(json.signature?.outputs ?? {}).map((k) => k.replace(/:0$/, '')),
  };
}

/** model.json through src/models/model_files.ts (a regular file, bounded, a BOM allowed). */
function readJson(file: string): ModelJson {
  const json = readModelJson(file) as ModelJson;
  if (!isGraphModelJson(json)) throw new Error(`${file}: not a TensorFlow.js graph model (no modelTopology.node)`);
  return json;
}

/** The weights, decoded; shards inside the model's folder, regular files, sizes as the manifest says (src/models/model_files.ts). */
function decodeShards(file: string, json: ModelJson): Map<string, tf.Tensor> {
  const { specs, data } = readWeightShards(file, json as unknown as Record<string, unknown>);
  return new Map(Object.entries(tf.io.decodeWeights(data, specs)));
}

/** Reads model.json and its shards; `file` is the model.json path. */
export function readTfjsGraph(file: string, opts: GraphReadOptions = {}): IrGraph {
  const json = readJson(file);
  const weights = decodeShards(file, json);
  const gnodes = json.modelTopology!.node!;
  const constInputs = opts.constInputs ?? {};
  const placeholders = gnodes.filter((n) => n.op === 'Placeholder');
  for (const k of Object.keys(constInputs)) {
    if (!placeholders.some((p) => p.name === k)) {
      tf.dispose([...weights.values()]);
      throw new Error(`${file}: no input named "${k}" to give a constant value (inputs: ${placeholders.map((p) => p.name).join(', ')})`);
    }
  }
  const images = placeholders.filter((p) => !(p.name in constInputs));
  if (images.length !== 1) {
    tf.dispose([...weights.values()]);
    const names = placeholders.map((p) => p.name).join(', ');
    if (images.length === 0) throw new Error(`${file}: every input (${names}) has a constant value: one must be the image`);
    throw new Error(`${file}: the graph has ${placeholders.length} inputs (${names}): give all but the image a constant value (--input-const NAME=VALUE)`);
  }
  const ph = images[0];
  const fileDims = (ph.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  const hw = (v: number[], def = 1): [number, number] => (v.length === 4 ? [v[1], v[2]] : [def, def]);
  const fixed = fileDims.length === 4 && fileDims[1] > 0 && fileDims[2] > 0;
  const dims = !fixed && fileDims.length === 4 && opts.inputSize ? [fileDims[0], opts.inputSize[0], opts.inputSize[1], fileDims[3]] : fileDims;
  // shapes are folded for a batch of 1 (see graph_fold.ts)
  const foldShape = dims.length === 4 && dims[1] > 0 && dims[2] > 0 ? [1, dims[1], dims[2], dims[3] > 0 ? dims[3] : 3] : null;
  const fold = foldGraph(gnodes, { weights, image: { name: ph.name, shape: foldShape }, constInputs, source: file });

  const consts = new Map<string, IrConst>();
  const intConsts = new Map<string, number[]>();
  const computed = new Set<string>();
  const nodes: IrNode[] = [];
  const alias = new Map<string, string>();
  /** SpaceToBatchND outputs (not emitted) and the convs that read them. */
  const toBatch = new Map<string, { x: string; block: [number, number]; pads: [number, number, number, number] }>();
  const batched = new Map<string, { block: [number, number] }>();
  const shapeOf = (k: string): number[] | null => {
    const v = fold.value(k);
    return v?.kind === 'dynamic' ? v.shape : v?.kind === 'static' ? [...v.t.shape] : null;
  };
  try {
    for (const n of fold.order) {
      if (fold.passive(n) || n.op === 'Placeholder' || n.op === 'Const' || n.op === 'NoOp') continue;
      const rawIns = (n.input ?? []).map(tensorKey).filter((x): x is string => x !== null);
      const a = n.attr ?? {};
      const fail = (why = ''): never => {
        const hint = foldShape ? '' : ' (the input has no fixed height and width: --input-size WxH may make it a constant)';
        throw new UnsupportedOpError(file, n.op, n.name, why ? `${why}${why.includes('constant') ? hint : ''}` : '');
      };
      /** The tensor an input reads: a dynamic tensor's producer, or a static value registered as a constant. */
      // the producing tensor of each dynamic input before aliases (a BatchToSpaceND without crops is one)
      const direct = rawIns.map((k) => {
        const v = fold.value(k);
        return v?.kind === 'dynamic' ? v.key : k;
      });
      const ins = rawIns.map((k) => {
        const v = fold.value(k);
        if (v?.kind === 'static') {
          if (v.t.dtype === 'float32') {
            if (!consts.has(k)) consts.set(k, { shape: [...v.t.shape], data: v.t.dataSync() as Float32Array });
            if (!weights.has(k)) computed.add(k);
          } else if (!intConsts.has(k)) intConsts.set(k, Array.from(v.t.dataSync()));
          return k;
        }
        let t = v?.kind === 'dynamic' ? v.key : k;
        while (alias.has(t)) t = alias.get(t)!;
        return t;
      });
      const constOf = (t: string, what: string): IrConst => consts.get(t) ?? fail(`${what} must be a constant`);
      const intsOf = (t: string, what: string): number[] => intConsts.get(t) ?? fail(`${what} must be a constant int tensor`);
      const isConst = (t: string) => consts.has(t) || intConsts.has(t);
      for (const t of direct) if (toBatch.has(t) && !/Conv2D|Depthwise/.test(n.op)) fail('reads a SpaceToBatchND (only a convolution may, before BatchToSpaceND)');
      for (const t of direct) if (batched.has(t) && n.op !== 'BatchToSpaceND') fail('reads a convolution on a SpaceToBatchND (only BatchToSpaceND may)');
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
      const shapeAttr = (out: string) => {
        const s = shapeOf(out);
        return s ? { shape: s } : {};
      };
      const emit = (op: string, inputs: string[], attrs: Record<string, unknown> = {}, output = n.name) => {
        // a fused conv's pre-activation has the shape of its output
        nodes.push({ op, name: n.name, inputs, output, attrs, ...(output.endsWith('#pre') ? shapeAttr(n.name) : output.includes('#') ? {} : shapeAttr(output)) });
      };
      const scalarConst = (name: string, v: number) => {
        consts.set(name, { shape: [], data: Float32Array.of(v) });
        return name;
      };
      switch (n.op) {
        case 'Conv2D':
        case 'DepthwiseConv2dNative':
        case '_FusedConv2D':
        case 'FusedDepthwiseConv2dNative': {
          nhwc();
          const dw = n.op.includes('Depthwise');
          const w = constOf(ins[1], 'the filter');
          let x = ins[0];
          let attrs: Record<string, unknown> = { strides: hw(ints(a.strides)), dilations: hw(ints(a.dilations)), padding: padding() };
          const stb = toBatch.get(x);
          if (stb) {
            // atrous convolution: pad, then a conv dilated by the block size, VALID (see the file comment)
            const [sh, sw] = attrs.strides as [number, number];
            const [dh, dw2] = attrs.dilations as [number, number];
            if (sh !== 1 || sw !== 1 || dh !== 1 || dw2 !== 1) fail('a strided or dilated convolution on a SpaceToBatchND');
            const [bh, bw] = stb.block;
            const same = attrs.padding === 'same';
            const [kh, kw] = w.shape;
            const p = [...stb.pads];
            if (same) {
              p[0] += bh * Math.floor((kh - 1) / 2);
              p[1] += bh * Math.ceil((kh - 1) / 2);
              p[2] += bw * Math.floor((kw - 1) / 2);
              p[3] += bw * Math.ceil((kw - 1) / 2);
            }
            x = stb.x;
            if (p.some((v) => v !== 0)) {
              const out = `${n.name}#atrous_pad`;
              emit('pad', [x], { paddings: [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]] }, out);
              x = out;
            }
            attrs = { strides: [1, 1], dilations: [bh, bw], padding: 'valid' };
            batched.set(n.name, { block: stb.block });
          }
          const inputs = [x, ins[1]];
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
          const out = act ? `${n.name}#pre` : n.name;
          emit(dw ? 'depthwise' : 'conv2d', inputs, attrs, out);
          if (act) emit(act, [out]);
          break;
        }
        case 'Shape':
          // a Shape the fold could not make a constant
          fail(foldShape ? 'the shape of its input is not known' : 'the input has no fixed height and width: pass --input-size WxH (the graph computes with its shape)');
          break;
        case 'SpaceToBatchND': {
          const block = intsOf(ins[1], 'the block shape');
          const pads = intsOf(ins[2], 'the paddings');
          if (block.length !== 2) fail(`block shape [${block}] (only height and width)`);
          toBatch.set(n.name, { x: ins[0], block: [block[0], block[1]], pads: [pads[0], pads[1], pads[2], pads[3]] });
          break;
        }
        case 'BatchToSpaceND': {
          const src = batched.get(ins[0]);
          if (!src) fail('does not read a convolution on a SpaceToBatchND');
          const block = intsOf(ins[1], 'the block shape');
          if (block[0] !== src!.block[0] || block[1] !== src!.block[1]) fail(`block shape [${block}] differs from its SpaceToBatchND's [${src!.block}]`);
          const c = intsOf(ins[2], 'the crops');
          if (c.some((v) => v !== 0)) emit('crop', [ins[0]], { cropping: [[c[0], c[1]], [c[2], c[3]]] });
          else alias.set(n.name, ins[0]);
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
        case 'Square':
          emit('mul', [ins[0], ins[0]]);
          break;
        case 'Sub': {
          // a - b = a + (-1) * b
          const [x, y] = ins;
          if (consts.has(y)) {
            const c = consts.get(y)!;
            consts.set(`${n.name}#neg`, { shape: c.shape, data: c.data.map((v) => -v) });
            emit('add', [x, `${n.name}#neg`]);
          } else {
            emit('mul', [y, scalarConst(`${n.name}#minus1`, -1)], {}, `${n.name}#neg`);
            emit('add', [x, `${n.name}#neg`]);
          }
          break;
        }
        case 'RealDiv':
        case 'Div': {
          const c = consts.get(ins[1]) ?? fail('the divisor must be a constant');
          consts.set(`${n.name}#recip`, { shape: c.shape, data: c.data.map((v) => 1 / v) });
          emit('mul', [ins[0], `${n.name}#recip`]);
          break;
        }
        case 'Minimum':
        case 'Maximum': {
          const ci = ins.findIndex((t) => consts.has(t));
          const c = ci >= 0 ? consts.get(ins[ci])! : null;
          if (!c || c.data.length !== 1 || isConst(ins[1 - ci])) fail('only with a scalar constant');
          emit(n.op === 'Minimum' ? 'minimum' : 'maximum', [ins[1 - ci]], { value: c!.data[0] });
          break;
        }
        case 'Relu':
        case 'Relu6':
        case 'Sigmoid':
        case 'Softmax':
        case 'Tanh':
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
        case 'Split':
        case 'SplitV': {
          const [x, dimT] = n.op === 'Split' ? [ins[1], ins[0]] : [ins[0], ins[2]];
          const xs = shapeOf(x) ?? fail('the input\'s shape is not known');
          const dim = intsOf(dimT, 'the axis')[0];
          const axis = dim < 0 ? dim + xs.length : dim;
          if (axis !== xs.length - 1 || xs[axis] < 0) fail(`split along axis ${dim} (only channels)`);
          const k = Number(a.num_split?.i ?? 1);
          let sizes = n.op === 'Split' ? Array(k).fill(xs[axis] / k) : intsOf(ins[1], 'the sizes');
          const known = sizes.filter((v) => v >= 0).reduce((p, q) => p + q, 0);
          sizes = sizes.map((v) => (v >= 0 ? v : xs[axis] - known));
          let begin = 0;
          sizes.forEach((size, p) => {
            emit('slice', [x], { axis: 3, begin, size }, p === 0 ? n.name : `${n.name}:${p}`);
            begin += size;
          });
          break;
        }
        case 'Slice': {
          const xs = shapeOf(ins[0]) ?? fail('the input\'s shape is not known');
          const begin = intsOf(ins[1], 'the begin');
          const size = intsOf(ins[2], 'the size').map((v, i) => (v < 0 ? xs[i] - begin[i] : v));
          if (xs.length !== 4 || xs.some((d) => d < 0)) fail(`input shape [${xs}]`);
          const cut = xs.map((d, i) => [begin[i], d - begin[i] - size[i]]);
          const cutAt = cut.map(([b, e]) => b !== 0 || e !== 0);
          if (cutAt[0]) fail('a slice of the batch');
          if (!cutAt.some((c) => c)) alias.set(n.name, ins[0]);
          else if (cutAt[3] && (cutAt[1] || cutAt[2])) fail('a slice of both channels and height/width');
          else if (cutAt[3]) emit('slice', [ins[0]], { axis: 3, begin: begin[3], size: size[3] });
          else emit('crop', [ins[0]], { cropping: [cut[1], cut[2]] });
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

    const output = chooseOutput(file, json, fold, opts.outputNode ?? null, nodes);
    let out = output;
    while (alias.has(out)) out = alias.get(out)!;
    const imageShape = fixed ? fileDims : dims;
    return { format: 'tfjs-graph', source: file, input: { name: ph.name, shape: imageShape }, output: out, nodes, consts, computed };
  } finally {
    fold.dispose();
    tf.dispose([...weights.values()]);
  }
}

/** The tensor the model returns: `want` (a signature output or a tensor name), else the only output. */
function chooseOutput(file: string, json: ModelJson, fold: ReturnType<typeof foldGraph>, want: string | null, nodes: IrNode[]): string {
  const sig = json.signature?.outputs ?? {};
  const sigNames = Object.keys(sig).map((k) => k.replace(/:0$/, ''));
  const viaSig = (k: string) => (sig[k]?.name ?? sig[`${k}:0`]?.name ?? k).replace(/:0$/, '');
  let key: string;
  if (want !== null) {
    key = sigNames.includes(want.replace(/:0$/, '')) ? viaSig(want.replace(/:0$/, '')) : want.replace(/:0$/, '');
  } else if (sigNames.length === 1) {
    key = viaSig(Object.keys(sig)[0].replace(/:0$/, ''));
  } else if (sigNames.length > 1) {
    throw new Error(`${file}: the graph has ${sigNames.length} outputs (${sigNames.join(', ')}): choose one with --output-node NAME`);
  } else {
    const read = new Set(nodes.flatMap((n) => n.inputs));
    const ends = nodes.filter((n) => !read.has(n.output));
    if (ends.length !== 1) throw new Error(`${file}: expected one output, found ${ends.length} (${ends.map((e) => e.name).join(', ')})`);
    return ends[0].output;
  }
  const v = fold.value(key);
  const named = want !== null ? `--output-node ${want}` : `the output ${key}`;
  if (!v) throw new Error(`${file}: ${named}: no such tensor in the graph (outputs: ${sigNames.join(', ') || 'none named'})`);
  if (v.kind === 'dead') throw new Error(`${file}: ${named}: it is on a branch the constant inputs do not take`);
  if (v.kind === 'static') throw new Error(`${file}: ${named}: it does not depend on the image (a constant)`);
  return v.key;
}
