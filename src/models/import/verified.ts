/**
 * The checked import: importModel -> an atomically written model folder -> reloaded from disk
 * -> compared with the original file by an ImportCheck. Used by `portraitseg import` and by the
 * runs that name a packaged MediaPipe model or a .tflite file (`mediapipe:selfie`, packaged.ts),
 * both with the same check, src/export/import-check.ts (the parity rule and its portrait frames,
 * the file's reference and LiteRT.js): it is passed in because it lives above this layer.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../io';
import type { ModelMeta } from '../types';
import { fileInputSize } from './build';
import { widenModel } from '../widen';
import { importModel, Imported, ImportOptions } from './index';

/**
 * Compares `net` (the reloaded import's logits, on tfjs' cpu backend) with the original `file`
 * at `imp.inputSize`; returns one result per check run, each with its printed line, and throws
 * when one fails.
 */
export type ImportCheck<R extends { line: string }> = (net: tf.LayersModel, imp: Imported, file: string, seed: number) => Promise<R[]>;

export interface VerifiedImport<R extends { line: string }> {
  meta: ModelMeta;
  format: Imported['format'];
  /** What the check returned, in its order. */
  checks: R[];
  /** One line per check. */
  lines: string[];
  out: string;
}

/** The import widened by opts.widen (function-preserving: the parity check below holds it to the file). */
async function widened(imp: Imported, opts: ImportOptions & { seed: number }): Promise<Imported> {
  if (!opts.widen || opts.widen === 1) return imp;
  const w = await widenModel(imp.model, imp.meta, opts.widen, opts.seed);
  imp.model.dispose();
  return { ...imp, model: w.model, meta: w.meta };
}

/**
 * Imports `file` into the new folder `out` (which must not exist or be empty) and checks it.
 * On failure nothing is left at `out`. `seal` may add files to the checked folder before it is
 * renamed into place (the import cache's content hashes). With opts.inputSize other than the file's, the file
 * cannot run at that size: the check runs on a net built at the file's size given the reloaded
 * weights (the same weights in the same order; the fixed resize targets scale, build.ts).
 */
export async function importVerified<R extends { line: string }>(
  file: string,
  out: string,
  opts: ImportOptions & { seed: number },
  check: ImportCheck<R>,
  seal?: (dir: string) => void,
): Promise<VerifiedImport<R> & { imported: Imported }> {
  const imp = await widened(importModel(file, opts), opts);
  const { meta } = imp;
  const dest = out.replace(/[\\/]+$/, '');
  const tmp = `${dest}.import-tmp-${process.pid}`;
  await saveModel(tmp, imp.model, meta);
  imp.model.dispose();
  // The check runs on tfjs' cpu backend (plain float32 kernels): it is about the conversion. On wasm,
  // XNNPACK's own summation order alone moves P by up to ~1e-4 on MediaPipe's selfie net, whose
  // logits reach +-900 (measured: the same imported model on cpu vs wasm differs by 1.1e-4).
  const backend = tf.getBackend();
  await tf.setBackend('cpu');
  const reloaded = await loadModel(tmp);
  const fileSize = fileInputSize(imp.graph);
  const resized = !!fileSize && (fileSize[0] !== imp.inputSize[0] || fileSize[1] !== imp.inputSize[1]);
  let atFile: Imported | null = null;
  try {
    let net = reloaded.model;
    let checkSize = imp.inputSize;
    if (resized) {
      atFile = await widened(importModel(file, { ...opts, inputSize: null }), opts);
      atFile.model.setWeights(reloaded.model.getWeights());
      net = atFile.model;
      checkSize = atFile.inputSize;
    }
    if (opts.maskFilter) {
      // the filter starts untrained: compare the net's own logits, its first input
      const gf = net.getLayer('logits');
      net = tf.model({ inputs: net.inputs, outputs: (gf.input as tf.SymbolicTensor[])[0] });
    }
    const checks = await check(net, atFile ?? imp, file, opts.seed);
    const lines = checks.map((c) => c.line);
    if (resized && lines.length) lines[0] += ` (at the file's ${checkSize[1]}x${checkSize[0]}: the net built at ${imp.inputSize[1]}x${imp.inputSize[0]} has the same weights, its fixed resize targets scaled)`;
    seal?.(tmp);
    fs.renameSync(tmp, dest);
    return { meta, format: imp.format, checks, lines, out: dest, imported: imp };
  } finally {
    reloaded.model.dispose();
    atFile?.model.dispose();
    if (fs.existsSync(tmp)) fs.rmSync(tmp, { recursive: true, force: true });
    await tf.setBackend(backend);
  }
}
