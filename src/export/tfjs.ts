/**
 * TensorFlow.js export: model.json + binary weight shards in the tfjs "layers-model"
 * format (what tf.loadLayersModel reads over http:// in the browser and from our file
 * loader in Node), with optional weight quantisation in tfjs' own manifest format
 * (`quantization: {dtype: 'float16'}` or `{dtype: 'uint8', scale, min}` on each weight
 * entry), which tf.io.decodeWeights turns back into float32 at load time.
 *
 * Reference: tfjs-converter's write_weights.py / quantization.py (same manifest fields,
 * same 4 MB shard size). uint8 is affine: v ~= q * scale + min, q in 0..255, per tensor.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';
import { toHalf } from '../util/half';
import { writeFileAtomic } from '../util/fs';
import { readModelArtifacts } from '../models/io';
export { toHalf } from '../util/half';

export type Quantize = 'none' | 'float16' | 'uint8';

export const SHARD_BYTES = 4 * 1024 * 1024;
export const META_FILE = 'portraitseg.json';

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: 'float16' } | { dtype: 'uint8'; scale: number; min: number };
}


/** Quantises one float32 weight; returns its bytes and manifest quantization entry. */
export function quantizeWeight(values: Float32Array, q: Quantize): { bytes: Uint8Array; quantization?: ManifestEntry['quantization'] } {
  if (q === 'none') return { bytes: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) };
  if (q === 'float16') {
    const h = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) h[i] = toHalf(values[i]);
    return { bytes: new Uint8Array(h.buffer), quantization: { dtype: 'float16' } };
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min)) min = max = 0;
  const scale = max > min ? (max - min) / 255 : 1;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((values[i] - min) / scale)));
  return { bytes: out, quantization: { dtype: 'uint8', scale, min } };
}

function weightBuffer(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (!data) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

export interface TfjsExportResult {
  files: string[];
  bytes: number;
}

/**
 * Writes model.json, group1-shardNofM.bin and portraitseg.json into `dir`.
 * Each file is written to a temp name and renamed; model.json last, so a reader never
 * sees a model.json whose shards are missing.
 */
export async function writeTfjs(model: tf.LayersModel, meta: ModelMeta | Record<string, unknown>, dir: string, quantize: Quantize = 'none', extraMeta: Record<string, unknown> = {}): Promise<TfjsExportResult> {
  fs.mkdirSync(dir, { recursive: true });
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts as unknown as tf.io.ModelArtifacts;
  const specs = a.weightSpecs ?? [];
  const buf = weightBuffer(a.weightData);
  const entries: ManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((p, d) => p * d, 1);
    const bytesPer = spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : spec.dtype === 'bool' ? 1 : 4;
    const raw = buf.slice(offset, offset + n * bytesPer);
    offset += n * bytesPer;
    if (spec.dtype === 'float32') {
      const { bytes, quantization } = quantizeWeight(new Float32Array(raw), quantize);
      parts.push(bytes);
      entries.push({ name: spec.name, shape: spec.shape, dtype: 'float32', ...(quantization ? { quantization } : {}) });
    } else {
      parts.push(new Uint8Array(raw));
      entries.push({ name: spec.name, shape: spec.shape, dtype: spec.dtype });
    }
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const nShards = Math.max(1, Math.ceil(total / SHARD_BYTES));
  const paths: string[] = [];
  for (let i = 0; i < nShards; i++) {
    const name = `group1-shard${i + 1}of${nShards}.bin`;
    writeFileAtomic(path.join(dir, name), all.subarray(i * SHARD_BYTES, Math.min(total, (i + 1) * SHARD_BYTES)));
    paths.push(name);
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: `portraitseg export (quantize: ${quantize})`,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths, weights: entries }],
  };
  writeFileAtomic(path.join(dir, META_FILE), JSON.stringify({ ...meta, ...extraMeta }, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  return { files: ['model.json', ...paths, META_FILE], bytes: total };
}

/**
 * An IOHandler that reads a tfjs model.json and its shards from the local file system: the model
 * I/O reader (src/models/io.ts), which checks the shard sizes against the manifest first.
 */
export function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return { load: async () => readModelArtifacts(modelJsonPath) };
}

/** Reads portraitseg.json beside a model.json (null when absent). */
export function readMeta(dirOrModelJson: string): ModelMeta | null {
  const dir = dirOrModelJson.endsWith('.json') ? path.dirname(dirOrModelJson) : dirOrModelJson;
  const f = path.join(dir, META_FILE);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as ModelMeta) : null;
}
