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
import { IrGraph, simplify } from './ir';
import { readTflite } from './tflite';
import { tfliteReference } from './tflite_reference';
import { readTfjsGraph } from './tfjs_graph';

export { UnsupportedOpError } from './ir';
export type { IrGraph, IrNode, IrConst } from './ir';
export { rangeNormalization } from './build';
export type { InputRange, OutputKind } from './build';

/**
 * The importer's version: bump it whenever the same file and options import into a different
 * folder (new layers, other weight layouts, another meta). Cached imports are keyed by it
 * (src/models/import/packaged.ts), so an upgrade never reuses an import the old code made.
 */
export const IMPORTER_VERSION = 2;

export interface ImportOptions {
  inputSize?: [number, number] | null;
  inputRange?: InputRange | null;
  output?: OutputKind | null;
  maskFilter?: boolean;
  /** Widen the imported net this many times, keeping its function (src/models/widen.ts); 1 = as it is. */
  widen?: number;
  seed?: number;
}

/** The original model, run on 0..1 frames at its input size. */
export interface Reference {
  what: string;
  /** P(person) [B,H,W,1]. */
  probability(frames: tf.Tensor4D): tf.Tensor4D;
  /** Person logits [B,H,W,1], read before the model's final sigmoid / softmax. */
  logits(frames: tf.Tensor4D): tf.Tensor4D;
  /** [logits, probability] in one run of the original. */
  both(frames: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D];
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

/** Reads a .tflite or a graph model.json into the simplified IR. */
export function readGraph(spec: string): IrGraph {
  const file = fileOf(spec);
  const bytes = readModelFile(file);
  if (isTfliteFile(bytes)) return simplify(readTflite(bytes, file));
  if (Buffer.from(bytes.subarray(0, 256)).toString('utf8').replace(/^\uFEFF/, '').trimStart().startsWith('{')) return simplify(readTfjsGraph(file));
  throw new Error(`${file}: neither a TFLite file (no "TFL3" identifier) nor a TensorFlow.js model.json`);
}

export function importModel(spec: string, opts: ImportOptions = {}): Imported {
  registerCustomLayers();
  const graph = readGraph(spec);
  const stem = path.basename(fileOf(spec)).replace(/\.(tflite|json)$/i, '');
  const name = stem === 'model' ? path.basename(path.dirname(path.resolve(fileOf(spec)))) : stem;
  const bo: BuildOptions = {
    inputSize: opts.inputSize ?? null,
    inputRange: opts.inputRange ?? null,
    output: opts.output ?? null,
    maskFilter: !!opts.maskFilter,
    name,
    seed: opts.seed,
  };
  const built = buildImported(graph, bo);
  // absolute, so that createModel (registry.ts) can rebuild the architecture from it
  (built.meta.args.imported as Record<string, unknown>).source = path.resolve(fileOf(spec));
  return { ...built, graph, format: graph.format };
}

/** 0..1 frames -> the model's own input range. */
export function toRange(x: tf.Tensor4D, r: InputRange): tf.Tensor4D {
  if (r === '-1..1') return x.mul(2).sub(1);
  if (r === '0..255') return x.mul(255);
  return x;
}

/** Pre-activation output -> person logits. */
function toLogits(pre: tf.Tensor, kind: OutputKind): tf.Tensor4D {
  if (kind !== 'softmax1') return pre as tf.Tensor4D;
  return pre.slice([0, 0, 0, 1], [-1, -1, -1, 1]).sub(pre.slice([0, 0, 0, 0], [-1, -1, -1, 1])) as tf.Tensor4D;
}

function toProbability(out: tf.Tensor, kind: OutputKind, endsInSoftmax: boolean): tf.Tensor4D {
  if (kind === 'sigmoid') return out as tf.Tensor4D;
  if (kind === 'logits') return out.sigmoid() as tf.Tensor4D;
  const p = endsInSoftmax ? out : out.softmax();
  return p.slice([0, 0, 0, 1], [-1, -1, -1, 1]) as tf.Tensor4D;
}

/** The original model's output (as the file computes it) -> P(person) [B,H,W,1]. */
export function outputToProbability(out: tf.Tensor, imp: Imported): tf.Tensor4D {
  const last = imp.graph.nodes.find((n) => n.output === imp.graph.output);
  return toProbability(out, imp.output, last?.op === 'softmax');
}

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
      probability: (frames) => rows(frames, (x) => toProbability(ref.run(x), imp.output, softmax)),
      logits: (frames) => rows(frames, (x) => (imp.output === 'logits' ? ref.run(x) : toLogits(ref.run(x, true), imp.output)) as tf.Tensor4D),
      both: (frames) =>
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
  const json = readModelJson(file) as { modelTopology: { node: unknown[] }; format?: string; signature?: unknown };
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
  const fixedBatch = gm.inputs[0]?.shape?.[0] === 1;
  // the graph's own name for the input of its final Sigmoid / Softmax (the logits)
  const outName = gm.outputs[0].name.replace(/:0$/, '');
  const outNode = (json.modelTopology.node as { name: string; op: string; input?: string[] }[]).find((n) => n.name === outName);
  const preName = outNode && (outNode.op === 'Sigmoid' || outNode.op === 'Softmax') ? outNode.input![0] : outName;
  const each = (frames: tf.Tensor4D, node: string, f: (o: tf.Tensor) => tf.Tensor4D) =>
    tf.tidy(() => {
      const rows = fixedBatch ? tf.split(frames, frames.shape[0]) : [frames];
      const outs = rows.map((x) => f(gm.execute(toRange(x as tf.Tensor4D, imp.inputRange), node) as tf.Tensor));
      return (outs.length === 1 ? outs[0] : tf.concat(outs)) as tf.Tensor4D;
    });
  return {
    what: 'the graph model run by tfjs (tf.loadGraphModel)',
    probability: (frames) => each(frames, outName, (o) => toProbability(o, imp.output, softmax)),
    logits: (frames) => each(frames, imp.output === 'logits' ? outName : preName, (o) => toLogits(o, imp.output)),
    both: (frames) =>
      tf.tidy(() => {
        const rows = fixedBatch ? tf.split(frames, frames.shape[0]) : [frames];
        const pairs = rows.map((x) => {
          const pn = imp.output === 'logits' ? outName : preName;
          const res = gm.execute(toRange(x as tf.Tensor4D, imp.inputRange), pn === outName ? [outName] : [pn, outName]) as tf.Tensor[];
          const [pre, out] = res.length === 1 ? [res[0], res[0]] : res;
          return [toLogits(pre, imp.output), toProbability(out, imp.output, softmax)];
        });
        const cat = (k: 0 | 1) => (pairs.length === 1 ? pairs[0][k] : tf.concat(pairs.map((p) => p[k])));
        return [cat(0), cat(1)] as [tf.Tensor4D, tf.Tensor4D];
      }),
    dispose: () => gm.dispose(),
  };
}
