/**
 * Export a portraitseg model, then prove it: every export reloads what it wrote and
 * compares it with the in-memory model on a fixed seeded input (timm's --check-forward).
 *
 * Parity rule, on seeded frames (smooth random blobs plus fine noise, so part of every frame is
 * uncertain and a P(person) comparison is not vacuous): max |P(person) diff| between the
 * reloaded export and the in-memory model, with P = sigmoid(logits), must be within `tolerance`
 * for float32 exports (default 1e-4, config export.tolerance; the import command's rule too)
 * and within QUANTIZED_PROB_TOLERANCE for quantised weights, which change on purpose. The
 * max |logits diff| where the model's |logits| < 10 is reported too: further out, float32
 * rounding of logits in the hundreds (seen in imported MediaPipe models) says nothing about
 * the mask. TFLite exports run in a real TFLite runtime (LiteRT.js, src/export/tflite-runtime.ts)
 * at their fixed frame size. Where no TFLite runtime loads, the file is still written and the
 * check is reported as not run (`unchecked`), never as passed.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';
import { registerCustomLayers } from '../models/layers';
import { Quantize, writeTfjs, fileHandler, META_FILE } from './tfjs';
import { exportOnnxBytes, runOnnx, ONNX_INPUT, ONNX_OUTPUT, ONNX_OPSET } from './onnx';
import type * as TfliteWriter from './tflite';
import { TFLITE_INPUT, TFLITE_OUTPUT, TFLITE_SIGNATURE } from './tflite-io';
import { runTflite, tfliteRuntimeUnavailable, TFLITE_RUNTIME } from './tflite-runtime';
import { writeFileAtomic } from '../util/fs';
import { ARTEFACTS, checkOutput, writeOutputDir } from '../util/out-paths';

export { writeTfjs, fileHandler, readMeta, quantizeWeight, toHalf, META_FILE } from './tfjs';
export type { Quantize } from './tfjs';
export { modelToOnnx, exportOnnxBytes, runOnnx, loadOrt, UnsupportedLayerError, ONNX_INPUT, ONNX_OUTPUT, ONNX_OPSET } from './onnx';
export { encodeModel } from './onnx-proto';
// the TFLite writer (and the schema bindings it loads) is required only when used: import
// modelToTflite / tfliteOperators from './tflite'
export { TFLITE_INPUT, TFLITE_OUTPUT } from './tflite-io';
export { runTflite, tfliteIo, tfliteRuntimeUnavailable, TfliteRuntimeUnavailableError } from './tflite-runtime';

export type ExportFormat = 'tfjs' | 'onnx' | 'tflite';

/** Max |P(person) difference| accepted for quantised weights (on the seeded check input). */
export const QUANTIZED_PROB_TOLERANCE: Record<Exclude<Quantize, 'none'>, number> = { float16: 0.01, uint8: 0.05 };

export interface ParityCheck {
  format: ExportFormat;
  quantize: Quantize;
  /** NHWC shapes the check ran on (the frame size, and an odd size for dynamic H, W). */
  shapes: number[][];
  /** Max |logits diff| where the in-memory model's |logits| < PARITY_LOGIT_RANGE (reported). */
  maxAbsLogits: number;
  /** Max |P(person) diff| (what is compared against the tolerance). */
  maxAbsProb: number;
  /** What is compared against the tolerance: always P(person) (kept in the record for readers). */
  metric: 'probability';
  tolerance: number;
  ok: boolean;
  /** Set when the check could not run (no TFLite runtime here): why. `ok` is then false. */
  unchecked?: string;
}

export interface ExportOptions {
  format: ExportFormat;
  quantize?: Quantize;
  out: string;
  /** Replace an earlier export in `out` (never anything else: src/util/out-paths.ts). */
  overwrite?: boolean;
  /** float32 logit tolerance (export.tolerance). */
  tolerance?: number;
  seed?: number;
}

export interface ExportResult {
  dir: string;
  files: string[];
  parity: ParityCheck;
}

/** Seeded check inputs: the model's frame size, plus an odd size for formats with dynamic H, W. */
/** A seeded frame [1, h, w, 3] in 0..1: 8x8 random blobs, bilinearly upsampled, plus +-0.05 noise. */
function seededFrame(h: number, w: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const coarse = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
    const fine = tf.randomUniform([1, h, w, 3], -0.05, 0.05, 'float32', seed + 1);
    return tf.image.resizeBilinear(coarse, [h, w]).add(fine).clipByValue(0, 1) as tf.Tensor4D;
  });
}

export function parityInputs(meta: ModelMeta, seed: number): tf.Tensor4D[] {
  const [h, w] = meta.frameSize ?? meta.inputSize;
  return [seededFrame(h, w, seed), seededFrame(h + 6, w + 10, seed + 2)];
}

/** Logits beyond this magnitude are saturated masks: their float rounding is not compared. */
export const PARITY_LOGIT_RANGE = 10;

function compare(ref: Float32Array, got: Float32Array): { logits: number; prob: number } {
  if (ref.length !== got.length) throw new Error(`parity check: output sizes differ (${ref.length} vs ${got.length})`);
  let logits = 0;
  let prob = 0;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i] - got[i]);
    // NaN anywhere fails the check (Math.max propagates it)
    if (Math.abs(ref[i]) < PARITY_LOGIT_RANGE || Number.isNaN(d)) logits = Math.max(logits, d);
    prob = Math.max(prob, Math.abs(sig(ref[i]) - sig(got[i])));
  }
  return { logits, prob };
}

function predictData(model: tf.LayersModel, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array).slice();
}

/** The record written as portraitseg.json beside an export. */
export function exportMeta(meta: ModelMeta, format: ExportFormat, quantize: Quantize, parity: ParityCheck | null): Record<string, unknown> {
  const [h, w] = meta.frameSize ?? meta.inputSize;
  const layout =
    format === 'onnx'
      ? { input: ONNX_INPUT, output: ONNX_OUTPUT, opset: ONNX_OPSET, layout: 'NHWC at the interface ([N,H,W,3] RGB 0..1 in, [N,H,W,1] logits out; N, H, W dynamic), NCHW inside' }
      : format === 'tflite'
        ? {
            input: TFLITE_INPUT,
            output: TFLITE_OUTPUT,
            signature: TFLITE_SIGNATURE,
            inputShape: [1, h, w, 3],
            outputShape: [1, h, w, 1],
            layout: `NHWC, fixed shape: [1,${h},${w},3] RGB 0..1 in (the frame size), [1,${h},${w},1] logits out; resize frames to ${h}x${w} before, and the mask back after`,
          }
        : { input: 'RGB 0..1 [N,H,W,3] (any H, W)', output: 'logits [N,H,W,1]; sigmoid gives P(person)' };
  return { ...meta, export: { format, quantize, ...layout, parity } };
}

/**
 * Writes `model` in `format` to `out`, reloads it and checks parity. The folder is written whole
 * (a temp folder beside `out`, renamed into place: src/util/out-paths.ts), so a kill leaves the
 * earlier export or the new one, never old model.json beside new shards; an earlier export is
 * replaced only with `overwrite`. Throws when the check fails: a new folder stays for
 * inspection, an earlier export is kept as it was (the message says by how much it failed).
 */
export async function exportModel(model: tf.LayersModel, meta: ModelMeta, opts: ExportOptions): Promise<ExportResult> {
  const quantize = opts.quantize ?? 'none';
  if (opts.format === 'onnx' && quantize !== 'none') throw new Error(`--quantize ${quantize} applies to --format tfjs only (the ONNX export is float32)`);
  if (opts.format === 'tflite' && quantize === 'uint8') throw new Error('--quantize uint8 is not available for --format tflite (use none or float16)');
  const out = checkOutput({ flag: '--out', path: opts.out, artefact: ARTEFACTS.export, overwrite: opts.overwrite });
  const res = await writeOutputDir(
    out.target,
    async (tmp) => {
      const r = await writeExport(model, meta, { ...opts, quantize }, tmp);
      if (!r.parity.ok && !r.parity.unchecked && out.replaces) {
        throw new Error(`export parity check failed: ${describeParity(r.parity)} (the earlier export in ${opts.out} is kept as it was)`);
      }
      return r;
    },
    { replace: out.replaces, flag: '--out' },
  );
  if (!res.parity.ok && !res.parity.unchecked) {
    throw new Error(`export parity check failed: ${describeParity(res.parity)} (files left in ${opts.out} for inspection)`);
  }
  return { ...res, dir: opts.out };
}

/** Writes the export into the folder `dir` (which exists) and checks it. */
async function writeExport(model: tf.LayersModel, meta: ModelMeta, opts: ExportOptions & { quantize: Quantize }, dir: string): Promise<ExportResult> {
  const quantize = opts.quantize;
  const tolerance = opts.tolerance ?? 1e-4;
  const seed = opts.seed ?? 1234;
  // TFLite models have a fixed input shape: check them at the frame size only
  const all = parityInputs(meta, seed);
  const inputs = opts.format === 'tflite' ? all.slice(0, 1) : all;
  tf.dispose(all.slice(inputs.length));
  let unchecked: string | undefined;
  try {
    const refs = inputs.map((x) => predictData(model, x));
    let files: string[];
    let worst = { logits: 0, prob: 0 };
    const merge = (d: { logits: number; prob: number }) => (worst = { logits: Math.max(worst.logits, d.logits), prob: Math.max(worst.prob, d.prob) });
    if (opts.format === 'tfjs') {
      const res = await writeTfjs(model, meta, dir, quantize, { export: { format: 'tfjs', quantize } });
      files = res.files;
      registerCustomLayers();
      const back = await tf.loadLayersModel(fileHandler(path.join(dir, 'model.json')));
      try {
        inputs.forEach((x, i) => merge(compare(refs[i], predictData(back, x))));
      } finally {
        back.dispose();
      }
    } else if (opts.format === 'tflite') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { modelToTflite } = require('./tflite') as typeof TfliteWriter;
      const bytes = modelToTflite(model, {
        inputSize: meta.frameSize ?? meta.inputSize,
        quantize: quantize as 'none' | 'float16',
        description: `portraitseg ${meta.name}: image [1,H,W,3] RGB 0..1 -> logits [1,H,W,1]`,
        metadata: { portraitseg: JSON.stringify(exportMeta(meta, 'tflite', quantize, null)) },
        segmenter: { name: meta.name, description: 'portraitseg person segmentation', version: meta.version },
      });
      const file = path.join(dir, 'model.tflite');
      writeFileAtomic(file, bytes);
      files = ['model.tflite', META_FILE];
      unchecked = (await tfliteRuntimeUnavailable()) ?? undefined;
      if (!unchecked) {
        const back = new Uint8Array(fs.readFileSync(file));
        for (let i = 0; i < inputs.length; i++) {
          const [got] = await runTflite(back, [{ data: inputs[i].dataSync() as Float32Array, shape: inputs[i].shape }]);
          merge(compare(refs[i], got.data));
        }
      }
    } else {
      const bytes = exportOnnxBytes(model, { portraitseg: JSON.stringify(exportMeta(meta, 'onnx', 'none', null)) });
      const file = path.join(dir, 'model.onnx');
      writeFileAtomic(file, bytes);
      files = ['model.onnx', META_FILE];
      for (let i = 0; i < inputs.length; i++) {
        const got = await runOnnx(fs.readFileSync(file), inputs[i].dataSync() as Float32Array, inputs[i].shape);
        merge(compare(refs[i], got.data));
      }
    }
    const bound = quantize === 'none' ? tolerance : QUANTIZED_PROB_TOLERANCE[quantize];
    const parity: ParityCheck = {
      format: opts.format,
      quantize,
      shapes: inputs.map((x) => x.shape),
      maxAbsLogits: worst.logits,
      maxAbsProb: worst.prob,
      metric: 'probability',
      tolerance: bound,
      ok: !unchecked && worst.prob <= bound && !Number.isNaN(worst.logits),
    };
    if (unchecked) parity.unchecked = `${unchecked} (the TFLite runtime used for the check is the optional dependency ${TFLITE_RUNTIME})`;
    const metaFile = path.join(dir, META_FILE);
    writeFileAtomic(metaFile, JSON.stringify(exportMeta(meta, opts.format, quantize, parity), null, 2) + '\n');
    return { dir, files, parity };
  } finally {
    tf.dispose(inputs);
  }
}

/** One line for the CLI: what was compared, on what, and the result. */
export function describeParity(p: ParityCheck): string {
  const shapes = p.shapes.map((s) => s.join('x')).join(' and ');
  const what = `parity ${p.format}${p.quantize !== 'none' ? ` ${p.quantize}` : ''}`;
  if (p.unchecked) return `${what} NOT CHECKED: ${p.unchecked}`;
  return (
    `${what} on seeded inputs ${shapes}: max |P(person) diff| ${p.maxAbsProb.toExponential(2)} ` +
    `(tolerance ${p.tolerance}, max |logits diff| ${p.maxAbsLogits.toExponential(2)} where |logits| < ${PARITY_LOGIT_RANGE}) ${p.ok ? 'OK' : 'FAILED'}`
  );
}
