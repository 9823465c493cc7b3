/**
 * The import check (src/models/import/verified.ts runs it on the reloaded import): the parity
 * rule of src/export/parity.ts between the imported net and the original file, on seeded
 * portrait frames at the net's input size,
 *   - against the file's independent reference (src/models/import: the TFLite file run op by op,
 *     or a graph model run by tfjs' own loadGraphModel), always;
 *   - for TFLite files, against TFLite's own interpreter (LiteRT.js, src/export/tflite-runtime.ts,
 *     an optional dependency) where it loads; where it does not, the result says so (`unchecked`),
 *     never that it passed.
 * The same check for `portraitseg import` and for the packaged imports of runs (packaged.ts).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { Imported, loadReference, outputToProbability, toRange } from '../models/import';
import type { ImportCheck } from '../models/import/verified';
import { ensureImported } from '../models/import/packaged';
import { runTflite, tfliteRuntimeUnavailable, TFLITE_RUNTIME } from './tflite-runtime';
import { assertParity, describeParity, Parity, ParityMeter, parityResult, parityTensor, parityTolerance, uncheckedParity } from './parity';

export const LITERT_AGAINST = "the TFLite file in LiteRT.js (TFLite's interpreter)";

const formatOf = (imp: Imported) => `${imp.format} import`;

/** Two seeded portrait frames at the net's input size. */
function frames(imp: Imported, seed: number): tf.Tensor4D {
  const [h, w] = imp.inputSize;
  return parityTensor(2, h, w, seed);
}

/** `net` (logits) against the file's reference; throws ParityError when it fails. */
export async function referenceParity(net: tf.LayersModel, imp: Imported, file: string, seed: number): Promise<Parity> {
  const ref = await loadReference(file, imp);
  const x = frames(imp, seed);
  try {
    const meter = new ParityMeter();
    // async: a graph model with control flow runs through tfjs' executeAsync (src/models/import)
    const [theirs, theirP] = await ref.both(x);
    try {
      tf.tidy(() => {
        const ours = net.predict(x) as tf.Tensor;
        if (ours.shape.join() !== theirs.shape.join()) throw new Error(`parity: shapes differ: ours [${ours.shape}], reference [${theirs.shape}]`);
        meter.add({ logits: theirs.dataSync(), prob: theirP.dataSync() }, { logits: ours.dataSync() }, x.shape);
      });
    } finally {
      tf.dispose([theirs, theirP]);
    }
    // A widened net (import --widen, Net2Net) computes the file's function with its weights split
    // over copies of each channel: a different float32 summation, like another runtime's kernels
    const widened = Number(imp.meta.args.widen ?? 1) > 1;
    return assertParity(parityResult(meter, { model: imp.meta.name, format: formatOf(imp), against: ref.what, tolerance: parityTolerance({ runtime: widened ? 'other' : 'tfjs' }) }));
  } finally {
    x.dispose();
    ref.dispose();
  }
}

/**
 * `net` (logits) against the TFLite file run by LiteRT.js, one frame at a time (TFLite inputs
 * have batch 1), within RUNTIME_TOLERANCE (another runtime's float32 kernels);
 * `unchecked` where LiteRT.js does not load. Throws ParityError when it fails.
 */
export async function litertParity(net: tf.LayersModel, imp: Imported, file: string, seed: number): Promise<Parity> {
  const rule = { model: imp.meta.name, format: formatOf(imp), against: LITERT_AGAINST, tolerance: parityTolerance({ runtime: 'other' }) };
  const why = await tfliteRuntimeUnavailable();
  if (why) return uncheckedParity(rule, `${why} (the optional dependency ${TFLITE_RUNTIME})`);
  const bytes = new Uint8Array(fs.readFileSync(file));
  const [h, w] = imp.inputSize;
  const x = frames(imp, seed);
  const n = h * w;
  const theirP = new Float32Array(x.shape[0] * n);
  const ours = new Float32Array(x.shape[0] * n);
  try {
    for (let b = 0; b < x.shape[0]; b++) {
      const row = x.slice([b, 0, 0, 0], [1, h, w, 3]);
      const input = tf.tidy(() => toRange(row, imp.inputRange));
      try {
        const [out] = await runTflite(bytes, [{ data: input.dataSync() as Float32Array, shape: [1, h, w, 3] }]);
        tf.tidy(() => {
          theirP.set(outputToProbability(tf.tensor(out.data, out.shape), imp).dataSync(), b * n);
          ours.set((net.predict(row) as tf.Tensor).dataSync(), b * n);
        });
      } finally {
        tf.dispose([row, input]);
      }
    }
  } finally {
    x.dispose();
  }
  const meter = new ParityMeter().add({ prob: theirP }, { logits: ours }, [x.shape[0], h, w, 3]);
  return assertParity(parityResult(meter, rule));
}

export interface ImportCheckResult {
  parity: Parity;
  line: string;
}

/** The check of every import: the reference, then LiteRT.js for TFLite files. */
export const checkImport: ImportCheck<ImportCheckResult> = async (net, imp, file, seed) => {
  const out = [await referenceParity(net, imp, file, seed)];
  if (imp.format === 'tflite') out.push(await litertParity(net, imp, file, seed));
  return out.map((parity) => ({ parity, line: describeParity(parity) }));
};

/**
 * A packaged name (mediapipe:selfie) or a .tflite path as a checked model folder: ensureImported
 * with checkImport (the file's reference, and LiteRT.js where it loads), as `portraitseg import`
 * checks it. Every command and recipe that takes such a spec calls this (models/ cannot import the
 * check, which sits in export/, so it is injected here once). Any other spec is returned unchanged.
 */
export function ensureImportedChecked(spec: string, opts: Omit<Parameters<typeof ensureImported>[1], 'check'>): Promise<string> {
  return ensureImported(spec, { ...opts, check: checkImport });
}
