/**
 * `importModel`: a published segmenter (.tflite, or a TensorFlow.js graph model.json) -> a
 * trainable portraitseg model (tf.LayersModel + ModelMeta), plus an independent reference that
 * runs the original file, for the parity check (src/export/import-check.ts, run by verified.ts):
 *   TFLite:      tflite_reference.ts (op-by-op over the FlatBuffer, plain tf ops);
 *   graph model: tfjs' own tf.loadGraphModel.
 * Pipeline: reader (tflite.ts | tfjs_graph.ts) -> IrGraph -> ir.simplify -> build.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { isTfliteFile } from '../../util/tflite';
import { registerCustomLayers } from '../layers';
import { readModelJson, readRegularFile, readWeightShards } from '../model_files';
import type { ModelMeta } from '../types';
import { buildImported, BuildOptions, InputRange, OutputKind } from './build';
import { CLIP_LOGIT_EPS } from '../imported_layers';
import { IrGraph, simplify } from './ir';
import { findPreset } from './known';
import { readTflite } from './tflite';
import { tfliteReference } from './tflite_reference';
import { GraphReadOptions, graphSignature, readTfjsGraph } from './tfjs_graph';

export { UnsupportedOpError } from './ir';
export type { IrGraph, IrNode, IrConst } from './ir';
export { rangeNormalization } from './build';
export type { InputRange, OutputKind } from './build';

/**
 * The importer's version: bump it whenever the same file and options import into a different
 * folder (new layers, other weight layouts, another meta). Cached imports are keyed by it
 * (src/models/import/packaged.ts), so an upgrade never reuses an import the old code made.
 */
export const IMPORTER_VERSION = 3;

export interface ImportOptions {
  inputSize?: [number, number] | null;
  inputRange?: InputRange | null;
  output?: OutputKind | null;
  maskFilter?: boolean;
  /** Widen the imported net this many times, keeping its function (src/models/widen.ts); 1 = as it is. */
  widen?: number;
  seed?: number;
  /** Graph models: values of the inputs other than the image (e.g. RVM's r1i: 0); over a preset's (known.ts). */
  constInputs?: Record<string, number> | null;
  /** Graph models: the output to keep (a signature output or a tensor name); over a preset's. */
  outputNode?: string | null;
}

/** The original model, run on 0..1 frames at its input size. */
export interface Reference {
  what: string;
  /** P(person) [B,H,W,1]. Async: a graph model with control flow runs through tfjs' executeAsync. */
  probability(frames: tf.Tensor4D): Promise<tf.Tensor4D>;
  /** Person logits [B,H,W,1], read before the model's final sigmoid / softmax. */
  logits(frames: tf.Tensor4D): Promise<tf.Tensor4D>;
  /** [logits, probability] in one run of the original. */
  both(frames: tf.Tensor4D): Promise<[tf.Tensor4D, tf.Tensor4D]>;
  dispose(): void;
}

export interface Imported {
  model: tf.LayersModel;
  meta: ModelMeta;
  graph: IrGraph;
  format: 'tflite' | 'tfjs-graph';
  inputRange: InputRange;
  output: OutputKind;
  inputSize: [number, number];
  /** Graph models: the constant inputs and the output the import used (from options or a preset). */
  constInputs: Record<string, number>;
  outputNode: string | null;
  /** The known model the file was recognised as (known.ts), or null. */
  preset: string | null;
}

function fileOf(spec: string): string {
  if (!fs.existsSync(spec)) throw new Error(`model file not found: ${spec}`);
  if (fs.statSync(spec).isDirectory()) {
    const f = path.join(spec, 'model.json');
    if (!fs.existsSync(f)) throw new Error(`${spec}: a folder without model.json (expected a .tflite file or a TensorFlow.js graph model.json)`);
    return f;
  }
  return spec;
}

/**
 * A published model file is read whole (a .tflite, or a model.json whose shards are read apart):
 * larger files are refused before they are read. MediaPipe's selfie segmenter is 250 KB; the
 * largest segmenters published as .tflite are tens of MB.
 */
export const MAX_MODEL_FILE_BYTES = 256 * 1024 * 1024;

/** The bytes of a model file: a regular file (not a FIFO or a device) of at most MAX_MODEL_FILE_BYTES. */
function readModelFile(file: string): Uint8Array {
  return new Uint8Array(readRegularFile(file, MAX_MODEL_FILE_BYTES, 'model file'));
}

/** What a model file's first bytes say it is; throws for neither. */
function kindOf(file: string, bytes: Uint8Array): 'tflite' | 'tfjs-graph' {
  if (isTfliteFile(bytes)) return 'tflite';
  if (Buffer.from(bytes.subarray(0, 256)).toString('utf8').replace(/^\uFEFF/, '').trimStart().startsWith('{')) return 'tfjs-graph';
  throw new Error(`${file}: neither a TFLite file (no "TFL3" identifier) nor a TensorFlow.js model.json`);
}

/** The IR of a model file already read: a .tflite (no `opts`) or a graph model.json. */
function graphOf(file: string, bytes: Uint8Array, opts: GraphReadOptions): IrGraph {
  if (kindOf(file, bytes) === 'tfjs-graph') return simplify(readTfjsGraph(file, opts));
  if (Object.keys(opts.constInputs ?? {}).length || opts.outputNode) throw new Error(`${file}: constant inputs and an output node apply to TensorFlow.js graph models only`);
  return simplify(readTflite(bytes, file));
}

/**
 * Reads a .tflite or a graph model.json into the simplified IR. Graph models take `opts`
 * (constant inputs, the output, the size to fold shapes at); TFLite files take none.
 */
export function readGraph(spec: string, opts: GraphReadOptions = {}): IrGraph {
  const file = fileOf(spec);
  return graphOf(file, readModelFile(file), opts);
}

/** What a graph model needs beyond the user's options: a preset's constant inputs and output (known.ts). */
function graphDefaults(file: string, tflite: boolean, opts: ImportOptions): { constInputs: Record<string, number>; outputNode: string | null; output: OutputKind | null; preset: string | null } {
  const preset = tflite ? null : findPreset(graphSignature(file));
  return {
    constInputs: { ...(preset?.constInputs ?? {}), ...(opts.constInputs ?? {}) },
    outputNode: opts.outputNode ?? preset?.outputNode ?? null,
    output: opts.output ?? preset?.output ?? null,
    preset: preset?.name ?? null,
  };
}

export function importModel(spec: string, opts: ImportOptions = {}): Imported {
  registerCustomLayers();
  const file = fileOf(spec);
  const bytes = readModelFile(file);
  const d = graphDefaults(file, kindOf(file, bytes) === 'tflite', opts);
  const graph = graphOf(file, bytes, { inputSize: opts.inputSize ?? null, constInputs: d.constInputs, outputNode: d.outputNode });
  const stem = path.basename(file).replace(/\.(tflite|json)$/i, '');
  const name = stem === 'model' ? path.basename(path.dirname(path.resolve(file))) : stem;
  const bo: BuildOptions = {
    inputSize: opts.inputSize ?? null,
    inputRange: opts.inputRange ?? null,
    output: d.output,
    maskFilter: !!opts.maskFilter,
    name,
    seed: opts.seed,
  };
  const built = buildImported(graph, bo);
  // absolute, so that createModel (registry.ts) can rebuild the architecture from it
  const rec = built.meta.args.imported as Record<string, unknown>;
  rec.source = path.resolve(file);
  // what a rebuild (registry.ts) needs to make the same net again
  if (Object.keys(d.constInputs).length) rec.constInputs = d.constInputs;
  if (d.outputNode) rec.outputNode = d.outputNode;
  return { ...built, graph, format: graph.format, constInputs: d.constInputs, outputNode: d.outputNode, preset: d.preset };
}

/** 0..1 frames -> the model's own input range. */
export function toRange(x: tf.Tensor4D, r: InputRange): tf.Tensor4D {
  if (r === '-1..1') return x.mul(2).sub(1);
  if (r === '0..255') return x.mul(255);
  return x;
}

/** logit(clip(p, eps, 1 - eps)), what ClipLogit computes. */
function clipLogit(p: tf.Tensor): tf.Tensor4D {
  const q = p.clipByValue(CLIP_LOGIT_EPS, 1 - CLIP_LOGIT_EPS);
  return q.log().sub(q.neg().log1p()) as tf.Tensor4D;
}

/** Pre-activation output -> person logits (clip01: the pre-clip value). */
function toLogits(pre: tf.Tensor, kind: OutputKind): tf.Tensor4D {
  if (kind === 'clip01') return clipLogit(pre);
  if (kind !== 'softmax1') return pre as tf.Tensor4D;
  return pre.slice([0, 0, 0, 1], [-1, -1, -1, 1]).sub(pre.slice([0, 0, 0, 0], [-1, -1, -1, 1])) as tf.Tensor4D;
}

function toProbability(out: tf.Tensor, kind: OutputKind, endsInSoftmax: boolean): tf.Tensor4D {
  if (kind === 'sigmoid') return out as tf.Tensor4D;
  if (kind === 'clip01') return out.clipByValue(0, 1) as tf.Tensor4D;
  if (kind === 'logits') return out.sigmoid() as tf.Tensor4D;
  const p = endsInSoftmax ? out : out.softmax();
  return p.slice([0, 0, 0, 1], [-1, -1, -1, 1]) as tf.Tensor4D;
}

/** The original model's output (as the file computes it) -> P(person) [B,H,W,1]. */
export function outputToProbability(out: tf.Tensor, imp: Imported): tf.Tensor4D {
  const last = imp.graph.nodes.find((n) => n.output === imp.graph.output);
  return toProbability(out, imp.output, last?.op === 'softmax');
}

/** Ops tfjs' GraphModel.execute refuses (control flow, dynamic shapes): executeAsync runs them. */
const CONTROL_FLOW_OPS = new Set(['Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'LoopCond', 'StatelessIf', 'If', 'StatelessWhile', 'While', 'Where', 'NonMaxSuppressionV2', 'NonMaxSuppressionV3', 'NonMaxSuppressionV4', 'NonMaxSuppressionV5', 'ListDiff']);

/** An independent runner of the original file (see the file comment). */
export async function loadReference(spec: string, imp: Imported): Promise<Reference> {
  const file = fileOf(spec);
  const last = imp.graph.nodes.find((n) => n.output === imp.graph.output);
  const softmax = last?.op === 'softmax';
  if (imp.format === 'tflite') {
    const ref = tfliteReference(readModelFile(file), file);
    // TFLite files have batch 1: one row at a time
    const rows = (frames: tf.Tensor4D, f: (x: tf.Tensor4D) => tf.Tensor4D) =>
      tf.tidy(() => tf.concat(tf.split(frames, frames.shape[0]).map((x) => f(toRange(x as tf.Tensor4D, imp.inputRange)))) as tf.Tensor4D);
    return {
      what: 'the TFLite file run op by op (portraitseg reference interpreter, plain tf ops)',
      probability: async (frames) => rows(frames, (x) => toProbability(ref.run(x), imp.output, softmax)),
      logits: async (frames) => rows(frames, (x) => (imp.output === 'logits' ? ref.run(x) : toLogits(ref.run(x, true), imp.output)) as tf.Tensor4D),
      both: async (frames) =>
        tf.tidy(() => {
          const pairs = tf.split(frames, frames.shape[0]).map((f) => {
            const [pre, out] = ref.runBoth(toRange(f as tf.Tensor4D, imp.inputRange));
            return [imp.output === 'logits' ? (out as tf.Tensor4D) : toLogits(pre, imp.output), toProbability(out, imp.output, softmax)];
          });
          return [tf.concat(pairs.map((p) => p[0])), tf.concat(pairs.map((p) => p[1]))] as [tf.Tensor4D, tf.Tensor4D];
        }),
      dispose: () => ref.dispose(),
    };
  }
  const json = readModelJson(file) as { modelTopology: { node: unknown[] }; format?: string; signature?: { outputs?: unknown } };
  const { specs, data } = readWeightShards(file, json as Record<string, unknown>);
  const gm = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      format: json.format,
      weightSpecs: specs,
      weightData: data,
      signature: json.signature,
    } as tf.io.ModelArtifacts),
  );
  const graphNodes = json.modelTopology.node as { name: string; op: string; input?: string[]; attr?: { dtype?: { type?: string } } }[];
  const image = imp.graph.input.name;
  const fixedBatch = (gm.inputs.find((i) => i.name.replace(/:0$/, '') === image) ?? gm.inputs[0])?.shape?.[0] === 1;
  // the file's own name for the output (a signature output's tensor, or the tensor named), and for
  // the input of its final Sigmoid / Softmax (the logits)
  const sigOut = (json.signature?.outputs ?? {}) as Record<string, { name?: string }>;
  const outName = (imp.outputNode ? (sigOut[imp.outputNode]?.name ?? imp.outputNode) : gm.outputs[0].name).replace(/:0$/, '');
  const outNode = graphNodes.find((n) => n.name === outName);
  const preName = outNode && (outNode.op === 'Sigmoid' || outNode.op === 'Softmax') ? outNode.input![0].replace(/:0$/, '') : outName;
  // every input but the image has its constant value, as in the import
  const constFeeds = () =>
    Object.fromEntries(
      Object.entries(imp.constInputs).map(([k, v]) => {
        const dt = graphNodes.find((n) => n.name === k)?.attr?.dtype?.type;
        return [k, tf.scalar(v, dt === 'DT_INT32' ? 'int32' : 'float32')];
      }),
    );
  /** [pre, out] of one run per row (one run for all rows when the batch is free); executeAsync: conds need it. */
  const run = async (frames: tf.Tensor4D, names: string[]): Promise<tf.Tensor[]> => {
    const rows = fixedBatch ? tf.split(frames, frames.shape[0]) : [frames.clone()];
    const per: tf.Tensor[][] = [];
    for (const row of rows) {
      const feeds = { ...constFeeds(), [image]: toRange(row as tf.Tensor4D, imp.inputRange) };
      // execute where it can (executeAsync warns on graphs without control flow), executeAsync where conds need it
      const res = dynamic ? await gm.executeAsync(feeds, names) : gm.execute(feeds, names);
      per.push(Array.isArray(res) ? res : [res]);
      tf.dispose([...Object.values(feeds), row]);
    }
    const out = names.map((_, k) => (per.length === 1 ? per[0][k] : tf.concat(per.map((p) => p[k]))));
    if (per.length > 1) tf.dispose(per.flat());
    return out;
  };
  const pn = imp.output === 'logits' ? outName : preName;
  const dynamic = graphNodes.some((n) => CONTROL_FLOW_OPS.has(n.op));
  return {
    what: `the graph model run by tfjs (tf.loadGraphModel)${Object.keys(imp.constInputs).length ? `, inputs ${Object.entries(imp.constInputs).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}${imp.outputNode ? `, output ${imp.outputNode}` : ''}`,
    probability: async (frames) => {
      const [o] = await run(frames, [outName]);
      const p = tf.tidy(() => toProbability(o, imp.output, outNode?.op === 'Softmax'));
      if (p !== o) o.dispose();
      return p;
    },
    logits: async (frames) => {
      const [o] = await run(frames, [pn]);
      const l = tf.tidy(() => toLogits(o, imp.output));
      if (l !== o) o.dispose();
      return l;
    },
    both: async (frames) => {
      const res = await run(frames, pn === outName ? [outName] : [pn, outName]);
      const [pre, out] = res.length === 1 ? [res[0], res[0]] : res;
      const pair = tf.tidy(() => [toLogits(pre, imp.output), toProbability(out, imp.output, outNode?.op === 'Softmax')] as [tf.Tensor4D, tf.Tensor4D]);
      tf.dispose(res.filter((t) => !pair.includes(t as tf.Tensor4D)));
      return pair;
    },
    dispose: () => gm.dispose(),
  };
}
