/**
 * Model files and checkpoints (STYLE.md §6): self-describing and never half-written.
 *
 * A model folder:      model.json (tfjs layers topology + weights manifest), weights.bin,
 *                      portraitseg.json (ModelMeta).
 * A checkpoint folder: a model folder plus state.json (step, images seen, best score, resolved
 *                      config, optimizer description, data position) and optimizer.bin
 *                      (optimizer slots) [+ extra.bin: extra trainable variables, e.g. distillation adapters]
 *                      [+ train-weights.bin: with weight averaging (train.ema), model.json holds the
 *                      averaged weights, the ones validated and used, and this file the raw training
 *                      weights that --resume continues from].
 * A run folder:        config.json, metrics.jsonl, curves.png, last/, best/, checkpoints/step-NNNNNNNN/.
 *
 * Every folder is written under a temporary name and renamed into place. tfjs-node's file://
 * handler is not available here, so the tf.io handlers below read and write files themselves.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';
import type { Optimizer, OptimizerState } from './optim';
import { setWeightValues, weightValues, WeightEma } from './ema';

export const META_FILE = 'portraitseg.json';

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
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(weights));
    const modelJson = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  });
}

/** Reads a model.json (layers or graph model) and all its weight shards into ModelArtifacts. */
export function readModelArtifacts(modelJsonPath: string): tf.io.ModelArtifacts {
  if (!fs.existsSync(modelJsonPath)) throw new Error(`model file not found: ${modelJsonPath}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`${modelJsonPath}: not valid JSON: ${(e as Error).message}`);
  }
  if (!json.modelTopology) throw new Error(`${modelJsonPath}: no "modelTopology": not a TensorFlow.js model.json`);
  const manifest = (json.weightsManifest ?? []) as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  const dir = path.dirname(modelJsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const f = path.join(dir, p);
      if (!fs.existsSync(f)) throw new Error(`${modelJsonPath}: weight shard missing: ${f}`);
      buffers.push(fs.readFileSync(f));
    }
  }
  const all = Buffer.concat(buffers);
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    userDefinedMetadata: json.userDefinedMetadata as Record<string, unknown> | undefined,
    signature: json.signature as Record<string, unknown> | undefined,
    modelInitializer: json.modelInitializer as Record<string, unknown> | undefined,
  } as tf.io.ModelArtifacts;
}

/** Registers our custom layers (mask filter, normalise, resize) before deserialising a model. */
export function registerModelLayers(): void {
  try {
    // Loaded lazily so that src/train does not pull the whole model zoo in when not needed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const models = require('../models');
    if (typeof models.registerCustomLayers === 'function') models.registerCustomLayers();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
  }
}

// ---------------------------------------------------------------- atomic folders

let tmpCounter = 0;

/** Writes a folder atomically: `fill(tmpDir)` then rename to `dir` (replacing an existing one). */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${tmpCounter++}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  replaceDir(tmp, dir);
}

/** Renames `src` to `dst`; an existing `dst` is moved aside first and removed after. */
function replaceDir(src: string, dst: string): void {
  if (fs.existsSync(dst)) {
    const old = path.join(path.dirname(path.resolve(dst)), `.${path.basename(dst)}.old-${process.pid}-${tmpCounter++}`);
    fs.renameSync(dst, old);
    fs.renameSync(src, dst);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(src, dst);
  }
}

function copyDirAtomic(src: string, dst: string): void {
  const parent = path.dirname(path.resolve(dst));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dst)}.tmp-${process.pid}-${tmpCounter++}`);
  fs.cpSync(src, tmp, { recursive: true });
  replaceDir(tmp, dst);
}

// ---------------------------------------------------------------- model folders

async function writeModelFiles(dir: string, model: tf.LayersModel, meta: ModelMeta): Promise<void> {
  await model.save(fileSaveHandler(dir));
  fs.writeFileSync(path.join(dir, META_FILE), JSON.stringify(meta, null, 2) + '\n');
}

/** Saves a model folder (model.json, weights.bin, portraitseg.json) atomically. */
export async function saveModel(dir: string, model: tf.LayersModel, meta: ModelMeta): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeModelFiles(tmp, model, meta));
}

function readMeta(dir: string, modelJson: string): ModelMeta {
  const f = path.join(dir, META_FILE);
  if (fs.existsSync(f)) return JSON.parse(fs.readFileSync(f, 'utf8')) as ModelMeta;
  const art = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const m = art.userDefinedMetadata?.portraitseg;
  if (m) return m as ModelMeta;
  throw new Error(`${modelJson}: no ${META_FILE} beside it: not a portraitseg model (for other TensorFlow.js models use --input-size/--input-range/--output)`);
}

async function loadModelFolderFiles(modelJson: string): Promise<{ model: tf.LayersModel; meta: ModelMeta }> {
  const meta = readMeta(path.dirname(modelJson), modelJson);
  registerModelLayers();
  const model = await tf.loadLayersModel(tf.io.fromMemory(readModelArtifacts(modelJson)));
  return { model, meta };
}

/**
 * The checkpoint folder a spec points at: a run folder (its best/, else last/), a checkpoint or
 * model folder, or a model.json. Throws a one-line error naming the spec otherwise.
 */
export function resolveModelJson(spec: string): string {
  if (!fs.existsSync(spec)) throw new Error(`model not found: ${spec}`);
  if (fs.statSync(spec).isFile()) return spec;
  for (const sub of ['best', 'last', '.']) {
    const f = path.join(spec, sub, 'model.json');
    if (fs.existsSync(f)) return f;
  }
  throw new Error(`${spec}: no model.json in it, nor in ${spec}/best or ${spec}/last: expected a run folder, a checkpoint folder or a model.json`);
}

/** Loads a portraitseg model from a run folder (best, else last), a checkpoint folder, or a model.json with portraitseg.json beside it. */
export async function loadModel(spec: string): Promise<{ model: tf.LayersModel; meta: ModelMeta; path: string }> {
  const modelJson = resolveModelJson(spec);
  const { model, meta } = await loadModelFolderFiles(modelJson);
  return { model, meta, path: path.dirname(modelJson) };
}

// ---------------------------------------------------------------- checkpoints

export interface TrainState {
  /** Optimizer steps done (= batches consumed from the loader: the data position). */
  step: number;
  imagesSeen: number;
  bestScore: number | null;
  bestStep: number | null;
  /** Evaluations since the best one (early stopping). */
  evalsSinceBest: number;
  /** The latest validation (shown in progress lines after a resume). */
  lastEval?: { step: number; imagesSeen: number; miou: number } | null;
}

export interface CheckpointData {
  model: tf.LayersModel;
  meta: ModelMeta;
  optimizer?: Optimizer | null;
  state: TrainState;
  /** The resolved config of the run. */
  config?: unknown;
  /** Extra trainable variables saved in order (e.g. distillation adapters). */
  extraVars?: tf.Variable[];
  /** Anything else the caller wants back on resume (JSON). */
  extra?: Record<string, unknown>;
  /** Weight averaging: the model files get the averaged weights, train-weights.bin the raw ones. */
  ema?: WeightEma | null;
}

interface StateFile {
  version: 1;
  state: TrainState;
  config: unknown;
  extra: Record<string, unknown>;
  optimizer: { name: string; t: number; slots: { key: string; shape: number[] }[] } | null;
  extraVars: { shape: number[] }[];
  /** Present when model.json holds averaged weights (the raw ones are in train-weights.bin). */
  ema?: { decay: number; weights: { name: string; shape: number[] }[] } | null;
  savedAt: string;
}

function writeFloatBlob(file: string, arrays: Float32Array[]): void {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  fs.writeFileSync(file, Buffer.from(out.buffer));
}

function readFloatBlob(file: string, sizes: number[]): Float32Array[] {
  const buf = fs.readFileSync(file);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const need = sizes.reduce((a, b) => a + b, 0);
  if (all.length !== need) throw new Error(`${file}: has ${all.length} floats, state.json describes ${need}`);
  const out: Float32Array[] = [];
  let off = 0;
  for (const n of sizes) {
    out.push(all.slice(off, off + n));
    off += n;
  }
  return out;
}

async function writeCheckpointFiles(dir: string, d: CheckpointData): Promise<void> {
  let ema: StateFile['ema'] = null;
  if (d.ema) {
    const ew = d.ema;
    writeFloatBlob(path.join(dir, 'train-weights.bin'), weightValues(d.model));
    await ew.withAveraged(() => writeModelFiles(dir, d.model, d.meta));
    ema = { decay: ew.decay, weights: d.model.weights.map((w) => ({ name: w.name, shape: w.shape.map(Number) })) };
  } else {
    await writeModelFiles(dir, d.model, d.meta);
  }
  let opt: StateFile['optimizer'] = null;
  if (d.optimizer) {
    const st = d.optimizer.getState();
    const keys = Object.keys(st.slots);
    opt = { name: st.name, t: st.t, slots: keys.map((key) => ({ key, shape: st.slots[key].shape })) };
    writeFloatBlob(path.join(dir, 'optimizer.bin'), keys.map((k) => st.slots[k].values));
  }
  const extraVars = d.extraVars ?? [];
  if (extraVars.length) writeFloatBlob(path.join(dir, 'extra.bin'), extraVars.map((v) => v.dataSync() as Float32Array));
  const file: StateFile = {
    version: 1,
    state: d.state,
    config: d.config ?? null,
    extra: d.extra ?? {},
    optimizer: opt,
    extraVars: extraVars.map((v) => ({ shape: v.shape.slice() })),
    ema,
    savedAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(file, null, 2) + '\n');
}

/** Writes one checkpoint folder atomically. */
export async function saveCheckpoint(dir: string, d: CheckpointData): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeCheckpointFiles(tmp, d));
}

export interface LoadedCheckpoint {
  dir: string;
  model: tf.LayersModel;
  meta: ModelMeta;
  state: TrainState;
  config: unknown;
  extra: Record<string, unknown>;
  optimizerState: OptimizerState | null;
  extraValues: { shape: number[]; values: Float32Array }[];
  /**
   * Weight averaging state: `model` holds the raw training weights (resume continues from them),
   * `ema.values` the averaged ones (model.json); null when the run did not average.
   */
  ema: { decay: number; values: Float32Array[] } | null;
}

/** The checkpoint to resume from in a run folder (last/), or the folder itself when it is a checkpoint. */
export function resolveCheckpointDir(spec: string): string {
  if (fs.existsSync(path.join(spec, 'state.json'))) return spec;
  const last = path.join(spec, 'last');
  if (fs.existsSync(path.join(last, 'state.json'))) return last;
  throw new Error(`--resume ${spec}: no checkpoint there (expected ${last}/state.json or ${spec}/state.json)`);
}

export async function loadCheckpoint(spec: string): Promise<LoadedCheckpoint> {
  const dir = resolveCheckpointDir(spec);
  const sf = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
  const { model, meta } = await loadModelFolderFiles(path.join(dir, 'model.json'));
  let optimizerState: OptimizerState | null = null;
  if (sf.optimizer) {
    const sizes = sf.optimizer.slots.map((s) => s.shape.reduce((a, b) => a * b, 1));
    const vals = sf.optimizer.slots.length ? readFloatBlob(path.join(dir, 'optimizer.bin'), sizes) : [];
    const slots: OptimizerState['slots'] = {};
    sf.optimizer.slots.forEach((s, i) => (slots[s.key] = { shape: s.shape, values: vals[i] }));
    optimizerState = { name: sf.optimizer.name as OptimizerState['name'], t: sf.optimizer.t, slots };
  }
  let ema: LoadedCheckpoint['ema'] = null;
  if (sf.ema) {
    const sizes = sf.ema.weights.map((w) => w.shape.reduce((a, b) => a * b, 1));
    const raw = readFloatBlob(path.join(dir, 'train-weights.bin'), sizes);
    ema = { decay: sf.ema.decay, values: weightValues(model) };
    setWeightValues(model, raw);
  }
  const exSizes = (sf.extraVars ?? []).map((s) => s.shape.reduce((a, b) => a * b, 1));
  const exVals = exSizes.length ? readFloatBlob(path.join(dir, 'extra.bin'), exSizes) : [];
  return {
    dir,
    model,
    meta,
    state: sf.state,
    config: sf.config,
    extra: sf.extra ?? {},
    optimizerState,
    extraValues: exVals.map((values, i) => ({ shape: sf.extraVars[i].shape, values })),
    ema,
  };
}

/**
 * Keeps a run folder's checkpoints: `last/`, `best/` and the `keep` newest `checkpoints/step-N/`.
 */
export class CheckpointManager {
  constructor(
    readonly runDir: string,
    readonly keep: number,
  ) {}

  get lastDir(): string {
    return path.join(this.runDir, 'last');
  }
  get bestDir(): string {
    return path.join(this.runDir, 'best');
  }
  stepDir(step: number): string {
    return path.join(this.runDir, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
  }

  /** Saves `last` (and a numbered copy when keep > 0, and `best` when isBest). Returns the folder written. */
  async save(d: CheckpointData, opts: { isBest?: boolean } = {}): Promise<string> {
    let primary: string;
    if (this.keep > 0) {
      primary = this.stepDir(d.state.step);
      await saveCheckpoint(primary, d);
      copyDirAtomic(primary, this.lastDir);
      this.prune();
    } else {
      primary = this.lastDir;
      await saveCheckpoint(primary, d);
    }
    if (opts.isBest) copyDirAtomic(primary, this.bestDir);
    return primary;
  }

  /** Copies an existing checkpoint to best/ (used when a validation improves after the periodic save). */
  async saveBest(d: CheckpointData): Promise<void> {
    await saveCheckpoint(this.bestDir, d);
  }

  /** Numbered checkpoints, oldest first. */
  list(): string[] {
    const dir = path.join(this.runDir, 'checkpoints');
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((n) => /^step-\d+$/.test(n))
      .sort()
      .map((n) => path.join(dir, n));
  }

  private prune(): void {
    const all = this.list();
    for (const d of all.slice(0, Math.max(0, all.length - this.keep))) fs.rmSync(d, { recursive: true, force: true });
  }
}
