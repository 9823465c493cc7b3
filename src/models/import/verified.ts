/**
 * The checked import: importModel -> an atomically written model folder -> reloaded from disk
 * -> compared with the original file (src/models/import's reference) on seeded frames. Used by
 * `portraitseg import` (which adds a check in a real TFLite runtime) and by the recipes, which
 * import the packaged MediaPipe models named in a config (`mediapipe:selfie`, see packaged.ts)
 * into the run folder the same way.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../io';
import type { ModelMeta } from '../types';
import { fileInputSize } from './build';
import { widenModel } from '../widen';
import { compareWithReference, describeImportParity, importModel, Imported, ImportOptions, ImportParity, loadReference } from './index';

/** A further check of the reloaded net against the file (e.g. in LiteRT.js): ok null = not checked. */
export type ExtraImportCheck = (net: tf.LayersModel, imp: Imported) => Promise<{ ok: boolean | null; line: string }>;

export interface VerifiedImport {
  meta: ModelMeta;
  format: Imported['format'];
  parity: ImportParity;
  /** One line per check. */
  lines: string[];
  extra: { ok: boolean | null; line: string } | null;
  out: string;
}

export class ImportParityError extends Error {}

/** The import widened by opts.widen (function-preserving: the parity check below holds it to the file). */
async function widened(imp: Imported, opts: ImportOptions & { seed: number }): Promise<Imported> {
  if (!opts.widen || opts.widen === 1) return imp;
  const w = await widenModel(imp.model, imp.meta, opts.widen, opts.seed);
  imp.model.dispose();
  return { ...imp, model: w.model, meta: w.meta };
}

/**
 * Imports `file` into the new folder `out` (which must not exist or be empty) and checks it.
 * On failure nothing is left at `out`. With opts.inputSize other than the file's, the file
 * cannot run at that size: the check runs on a net built at the file's size given the reloaded
 * weights (the same weights in the same order; the fixed resize targets scale, build.ts).
 */
export async function importVerified(file: string, out: string, opts: ImportOptions & { seed: number }, extra?: ExtraImportCheck): Promise<VerifiedImport & { imported: Imported }> {
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
  const ref = await loadReference(file, imp);
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
    const parity = await compareWithReference(net, ref, checkSize, { seed: opts.seed, batch: 2 });
    const lines = [describeImportParity(parity) + (resized ? ` (at the file's ${checkSize[1]}x${checkSize[0]}: the net built at ${imp.inputSize[1]}x${imp.inputSize[0]} has the same weights, its fixed resize targets scaled)` : '')];
    const more = extra ? await extra(net, atFile ?? imp) : null;
    if (more) lines.push(more.line);
    if (!parity.ok || (more && more.ok === false)) throw new ImportParityError(`import parity check failed: ${lines.join('; ')}`);
    fs.renameSync(tmp, dest);
    return { meta, format: imp.format, parity, lines, extra: more, out: dest, imported: imp };
  } finally {
    ref.dispose();
    reloaded.model.dispose();
    atFile?.model.dispose();
    if (fs.existsSync(tmp)) fs.rmSync(tmp, { recursive: true, force: true });
    await tf.setBackend(backend);
  }
}
