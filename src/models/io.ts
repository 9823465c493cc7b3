/**
 * Model I/O: load, save and resolve a portraitseg model folder (principle 6 in DEVELOPERS.md), used by training,
 * eval, export and the runtime alike (so none of them imports the training code).
 *
 * A model folder: model.json (tfjs layers topology + weights manifest), weights.bin,
 * portraitseg.json (ModelMeta). Checkpoint and run folders (src/models/folders.ts) hold one.
 *
 * Every folder is written under a temporary name, its files fsynced, then renamed into place.
 * tfjs-node's file:// handler is not available here, so the tf.io handlers below read and write
 * files themselves. Loading checks what it reads: portraitseg.json against the ModelMeta contract,
 * and the weights (and one forward pass) for non-finite values, with one line naming the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, validate } from '../config/schema';
import { registerCustomLayers } from './layers';
import { MODEL_META, ModelMeta } from './types';
import { MODEL_FILES, resolveModelJson } from './folders';
import { MAX_MODEL_JSON_BYTES, ModelFileError, readModelJson, readRegularFile, readWeightShards } from './model_files';

export { resolveModelJson } from './folders';
export { ModelFileError } from './model_files';

export const META_FILE = MODEL_FILES.meta;

// ---------------------------------------------------------------- durable files

/** Writes a file and fsyncs it, so a rename after it never exposes a short file after a crash. */
export function writeFileSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* some file systems refuse fsync on a folder; the files themselves are synced */
  }
}

// ---------------------------------------------------------------- io handlers

function toArrayBuffer(data: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (!data) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  return out.buffer;
}

/** A tf.io save handler writing model.json + weights.bin into `dir` (which must exist). */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    const weights = toArrayBuffer(artifacts.weightData as ArrayBuffer | ArrayBuffer[]);
    writeFileSynced(path.join(dir, MODEL_FILES.weights), new Uint8Array(weights));
    const modelJson = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    writeFileSynced(path.join(dir, MODEL_FILES.modelJson), JSON.stringify(modelJson));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  });
}

/**
 * Reads a model.json (layers or graph model) and all its weight shards into ModelArtifacts; the
 * shards are checked first (inside the folder, regular files, sizes as the manifest says:
 * src/models/model_files.ts).
 */
export function readModelArtifacts(modelJsonPath: string): tf.io.ModelArtifacts {
  if (!fs.existsSync(modelJsonPath)) throw new ModelFileError(`model file not found: ${modelJsonPath}`);
  const json = readModelJson(modelJsonPath);
  if (!json.modelTopology) throw new ModelFileError(`${modelJsonPath}: no "modelTopology": not a TensorFlow.js model.json`);
  const { specs, data } = readWeightShards(modelJsonPath, json);
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: json.userDefinedMetadata as Record<string, unknown> | undefined,
    signature: json.signature as Record<string, unknown> | undefined,
    modelInitializer: json.modelInitializer as Record<string, unknown> | undefined,
  } as tf.io.ModelArtifacts;
}

/** Registers our custom layers (mask filter, normalise, resize) before deserialising a model. */
export function registerModelLayers(): void {
  registerCustomLayers();
}

// ---------------------------------------------------------------- atomic folders

let tmpCounter = 0;

/** Temp names beside `dir`: `.NAME.tmp-PID-N` (being written) and `.NAME.old-PID-N` (being replaced). */
export function tempName(dir: string, kind: 'tmp' | 'old'): string {
  return path.join(path.dirname(path.resolve(dir)), `.${path.basename(dir)}.${kind}-${process.pid}-${tmpCounter++}`);
}

/** Writes a folder atomically: `fill(tmpDir)` then rename to `dir` (replacing an existing one). */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  const tmp = tempName(dir, 'tmp');
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    fsyncDir(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  replaceDir(tmp, dir);
}

/**
 * Renames `src` to `dst`; an existing `dst` is moved aside first and removed after. A crash between
 * the two renames leaves both copies under their temp names: src/models/folders.ts recoverDir()
 * puts one back.
 */
export function replaceDir(src: string, dst: string): void {
  if (fs.existsSync(dst)) {
    const old = tempName(dst, 'old');
    fs.renameSync(dst, old);
    fs.renameSync(src, dst);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(src, dst);
  }
  fsyncDir(path.dirname(path.resolve(dst)));
}

/** Copies a folder into place atomically (temp copy, fsync, rename). */
export function copyDirAtomic(src: string, dst: string): void {
  fs.mkdirSync(path.dirname(path.resolve(dst)), { recursive: true });
  const tmp = tempName(dst, 'tmp');
  fs.cpSync(src, tmp, { recursive: true });
  for (const f of fs.readdirSync(tmp)) {
    const p = path.join(tmp, f);
    if (fs.statSync(p).isFile()) {
      const fd = fs.openSync(p, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
  }
  replaceDir(tmp, dst);
}

// ---------------------------------------------------------------- model folders

/** Writes model.json, weights.bin and portraitseg.json into an existing folder. */
export async function writeModelFiles(dir: string, model: tf.LayersModel, meta: ModelMeta): Promise<void> {
  await model.save(fileSaveHandler(dir));
  writeFileSynced(path.join(dir, META_FILE), JSON.stringify(meta, null, 2) + '\n');
}

/** Saves a model folder (model.json, weights.bin, portraitseg.json) atomically. */
export async function saveModel(dir: string, model: tf.LayersModel, meta: ModelMeta): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeModelFiles(tmp, model, meta));
}

/** Checks a parsed portraitseg.json against the ModelMeta contract; throws one line naming the file and the key. */
export function checkMeta(m: unknown, file: string): ModelMeta {
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new ModelFileError(`${file}: expected a JSON object (ModelMeta)`);
  let meta: ModelMeta;
  try {
    meta = validate(MODEL_META, m);
  } catch (e) {
    if (e instanceof ConfigError) throw new ModelFileError(`${file}: ${e.message}`);
    throw e;
  }
  // Models saved before the mask filter had a `space` filtered logits: say so, so that a rebuild
  // from args (worker threads) builds the same filter the saved layer config describes.
  if (meta.maskFilter?.enabled && meta.args.filterSpace === undefined) {
    meta.args = { ...meta.args, filterSpace: 'logits' };
    meta.maskFilter = { ...meta.maskFilter, space: 'logits' };
  }
  return meta;
}

/** The ModelMeta of a model.json: portraitseg.json beside it, else its userDefinedMetadata. */
export function readModelMeta(modelJson: string): ModelMeta {
  const f = path.join(path.dirname(modelJson), META_FILE);
  if (fs.existsSync(f)) {
    let raw: unknown;
    const text = readRegularFile(f, MAX_MODEL_JSON_BYTES, META_FILE).toString('utf8');
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ModelFileError(`${f}: not valid JSON: ${(e as Error).message}`);
    }
    return checkMeta(raw, f);
  }
  const art = readModelJson(modelJson) as { userDefinedMetadata?: { portraitseg?: unknown } };
  const m = art.userDefinedMetadata?.portraitseg;
  if (m) return checkMeta(m, `${modelJson} (userDefinedMetadata.portraitseg)`);
  throw new ModelFileError(`${modelJson}: no ${META_FILE} beside it: not a portraitseg model (for other TensorFlow.js models use --input-size/--input-range/--output)`);
}

/** Throws naming `file` when any weight of `model` holds NaN or Inf. */
export function checkFiniteWeights(model: tf.LayersModel, file: string): void {
  for (const w of model.weights) {
    const v = w.read().dataSync();
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new ModelFileError(`${file}: weight ${w.originalName ?? w.name} holds non-finite values (${v[i]}): the file is corrupt`);
    }
  }
}

/** One forward pass on a grey frame at the model's frame size: the output must be finite. */
export function checkFiniteForward(model: tf.LayersModel, meta: ModelMeta, file: string): void {
  const [h, w] = meta.frameSize;
  const bad = tf.tidy(() => {
    const y = model.predict(tf.fill([1, h, w, 3], 0.5)) as tf.Tensor;
    return y.isFinite().logicalNot().any().dataSync()[0] === 1;
  });
  if (bad) throw new ModelFileError(`${file}: the model's output on a grey frame is not finite: the weights are corrupt`);
}

async function loadModelFolderFiles(modelJson: string, opts: { check?: boolean } = {}): Promise<{ model: tf.LayersModel; meta: ModelMeta }> {
  const meta = readModelMeta(modelJson);
  registerModelLayers();
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(readModelArtifacts(modelJson)));
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${modelJson}: cannot be loaded as a TensorFlow.js layers model: ${(e as Error).message.split('\n')[0]}`);
  }
  if (opts.check !== false) {
    try {
      const weightsFile = path.join(path.dirname(modelJson), MODEL_FILES.weights);
      checkFiniteWeights(model, fs.existsSync(weightsFile) ? weightsFile : modelJson);
      checkFiniteForward(model, meta, modelJson);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return { model, meta };
}

/** Loads model.json + portraitseg.json of one folder (checked: meta contract, finite weights and output). */
export async function loadModelFiles(modelJson: string, opts: { check?: boolean } = {}): Promise<{ model: tf.LayersModel; meta: ModelMeta }> {
  return loadModelFolderFiles(modelJson, opts);
}

/** Loads a portraitseg model from a run folder (best, else last), a checkpoint folder, or a model.json with portraitseg.json beside it. */
export async function loadModel(spec: string): Promise<{ model: tf.LayersModel; meta: ModelMeta; path: string }> {
  const modelJson = resolveModelJson(spec);
  const { model, meta } = await loadModelFolderFiles(modelJson);
  return { model, meta, path: path.dirname(modelJson) };
}
