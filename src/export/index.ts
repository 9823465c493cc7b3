/**
 * Export a portraitseg model, then prove it: every export reloads what it wrote and
 * compares it with the in-memory model on seeded portrait frames (timm's --check-forward), by
 * the one parity rule of src/export/parity.ts (max |P(person) diff| within 1e-4 for tfjs, 1e-3
 * for onnx and tflite, which run in another runtime's kernels, or export.tolerance; the quantised
 * bounds for quantised weights). TFLite exports run in a real TFLite
 * runtime (LiteRT.js, src/export/tflite-runtime.ts) at their fixed frame size. Where no TFLite
 * runtime loads, the file is still written and the check is reported as not run (`unchecked`),
 * never as passed.
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
import { assertParity, Parity, ParityError, ParityMeter, parityFrames, parityResult, parityTolerance, uncheckedParity } from './parity';
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
export { describeParity, parityFailure, ParityError, parityFrames, PARITY_TOLERANCE, RUNTIME_TOLERANCE, parityTolerance, PARITY_LOGIT_RANGE, QUANTIZED_PROB_TOLERANCE } from './parity';
export type { Parity } from './parity';

export type ExportFormat = 'tfjs' | 'onnx' | 'tflite';

/** The parity record of an export (written to portraitseg.json as `export.parity`). */
export interface ParityCheck extends Parity {
  format: ExportFormat;
  quantize: Quantize;
  /** What is compared against the tolerance: always P(person) (kept in the record for readers). */
  metric: 'probability';
}

export interface ExportOptions {
  format: ExportFormat;
  quantize?: Quantize;
  out: string;
  /** Replace an earlier export in `out` (never anything else: src/util/out-paths.ts). */
  overwrite?: boolean;
  /** float32 tolerance on max |P(person) diff| (export.tolerance); default: the rule of parity.ts (1e-4 tfjs, 1e-3 onnx and tflite). */
  tolerance?: number | null;
  seed?: number;
}

export interface ExportResult {
  dir: string;
  files: string[];
  parity: ParityCheck;
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
 * Writes `model` in `format` to `out`, reloads it and checks parity (checkExport). The folder is
 * written whole (a temp folder beside `out`, renamed into place: src/util/out-paths.ts), so a kill
 * leaves the earlier export or the new one, never old model.json beside new shards; an earlier
 * export is replaced only with `overwrite`. Throws ParityError when the check fails: a new folder
 * stays for inspection (portraitseg.json records the figures), an earlier export is kept as it was.
 */
export async function exportModel(model: tf.LayersModel, meta: ModelMeta, opts: ExportOptions): Promise<ExportResult> {
  const quantize = opts.quantize ?? 'none';
  if (opts.format === 'onnx' && quantize !== 'none') throw new Error(`--quantize ${quantize} applies to --format tfjs only (the ONNX export is float32)`);
  if (opts.format === 'tflite' && quantize === 'uint8') throw new Error('--quantize uint8 is not available for --format tflite (use none or float16)');
  const out = checkOutput({ flag: '--out', path: opts.out, artefact: ARTEFACTS.export, overwrite: opts.overwrite });
  const res = await writeOutputDir(
    out.target,
    async (tmp) => {
      const files = await writeExportFiles(model, meta, opts.format, quantize, tmp);
      const record = (p: ParityCheck) => writeFileAtomic(path.join(tmp, META_FILE), JSON.stringify(exportMeta(meta, opts.format, quantize, p), null, 2) + '\n');
      try {
        const parity = await checkExport(model, meta, { ...opts, quantize, out: tmp });
        record(parity);
        return { files, parity, failed: null as ParityError | null };
      } catch (e) {
        if (!(e instanceof ParityError)) throw e;
        if (out.replaces) throw new ParityError(e.parity, `the earlier export in ${opts.out} is kept as it was`);
        record(e.parity as ParityCheck);
        return { files, parity: e.parity as ParityCheck, failed: e };
      }
    },
    { replace: out.replaces, flag: '--out' },
  );
  if (res.failed) throw new ParityError(res.failed.parity, `files left in ${opts.out} for inspection`);
  return { dir: opts.out, files: res.files, parity: res.parity };
}

/** Writes the export's model files into the folder `dir` (which exists); returns their names. */
async function writeExportFiles(model: tf.LayersModel, meta: ModelMeta, format: ExportFormat, quantize: Quantize, dir: string): Promise<string[]> {
  if (format === 'tfjs') {
    return (await writeTfjs(model, meta, dir, quantize, { export: { format: 'tfjs', quantize } })).files;
  }
  if (format === 'tflite') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { modelToTflite } = require('./tflite') as typeof TfliteWriter;
    const bytes = modelToTflite(model, {
      inputSize: meta.frameSize ?? meta.inputSize,
      quantize: quantize as 'none' | 'float16',
      description: `portraitseg ${meta.name}: image [1,H,W,3] RGB 0..1 -> logits [1,H,W,1]`,
      metadata: { portraitseg: JSON.stringify(exportMeta(meta, 'tflite', quantize, null)) },
      segmenter: { name: meta.name, description: 'portraitseg person segmentation', version: meta.version },
    });
    writeFileAtomic(path.join(dir, 'model.tflite'), bytes);
    return ['model.tflite', META_FILE];
  }
  const bytes = exportOnnxBytes(model, { portraitseg: JSON.stringify(exportMeta(meta, 'onnx', 'none', null)) });
  writeFileAtomic(path.join(dir, 'model.onnx'), bytes);
  return ['model.onnx', META_FILE];
}

/**
 * The export check: loads the export in `opts.out` (tfjs: tf.loadLayersModel; ONNX:
 * onnxruntime; TFLite: LiteRT.js) and compares it with `model` on seeded portrait frames at the
 * model's frame size, plus an odd size for formats with dynamic H, W (TFLite's input is fixed).
 * Throws ParityError when it fails; returns the record (with `unchecked` when no TFLite runtime
 * loads here).
 */
export async function checkExport(model: tf.LayersModel, meta: ModelMeta, opts: ExportOptions): Promise<ParityCheck> {
  const quantize = opts.quantize ?? 'none';
  const seed = opts.seed ?? 1234;
  const base = { model: meta.name, format: opts.format, quantize, metric: 'probability' as const };
  const rule = { ...base, against: 'the in-memory model', tolerance: parityTolerance({ quantize, runtime: opts.format === 'tfjs' ? 'tfjs' : 'other', float32: opts.tolerance }) };
  const [h, w] = meta.frameSize ?? meta.inputSize;
  const sizes: [number, number][] = opts.format === 'tflite' ? [[h, w]] : [[h, w], [h + 6, w + 10]];
  let run: (x: Float32Array, shape: number[]) => Promise<Float32Array>;
  let done = () => {};
  if (opts.format === 'tfjs') {
    registerCustomLayers();
    const back = await tf.loadLayersModel(fileHandler(path.join(opts.out, 'model.json')));
    run = async (x, shape) => predictData(back, x, shape);
    done = () => back.dispose();
  } else if (opts.format === 'tflite') {
    const why = await tfliteRuntimeUnavailable();
    if (why) return { ...uncheckedParity(rule, `${why} (the TFLite runtime used for the check is the optional dependency ${TFLITE_RUNTIME})`), ...base };
    const bytes = new Uint8Array(fs.readFileSync(path.join(opts.out, 'model.tflite')));
    run = async (x, shape) => (await runTflite(bytes, [{ data: x, shape }]))[0].data;
  } else {
    const bytes = fs.readFileSync(path.join(opts.out, 'model.onnx'));
    run = async (x, shape) => (await runOnnx(bytes, x, shape)).data;
  }
  const meter = new ParityMeter();
  try {
    for (const [i, [fh, fw]] of sizes.entries()) {
      const shape = [1, fh, fw, 3];
      const x = parityFrames(1, fh, fw, seed + i);
      meter.add({ logits: predictData(model, x, shape) }, { logits: await run(x, shape) }, shape);
    }
  } finally {
    done();
  }
  return assertParity({ ...parityResult(meter, rule), ...base });
}

function predictData(model: tf.LayersModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor4d(x, shape as [number, number, number, number])) as tf.Tensor).dataSync() as Float32Array).slice();
}
