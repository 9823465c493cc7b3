/**
 * Checkpoints (principle 6 in DEVELOPERS.md): self-describing and never half-written. The folder layout lives in
 * src/models/folders.ts, model files (model.json, weights.bin, portraitseg.json) in src/models/io.ts.
 *
 * A checkpoint folder: a model folder plus state.json (step, images seen, best score, resolved
 *                      config, optimizer description, data position) and optimizer.bin
 *                      (optimizer slots) [+ extra.bin: extra trainable variables, e.g. distillation adapters]
 *                      [+ train-weights.bin: with weight averaging (train.ema), model.json holds the
 *                      averaged weights, the ones validated and used, and this file the raw training
 *                      weights that --resume continues from].
 *
 * A checkpoint is never written with non-finite weights.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';
import { copyDirAtomic, loadModelFiles, writeDirAtomic, writeFileSynced, writeModelFiles } from '../models/io';
import { CHECKPOINT_FILES, RUN_FILES, recoverDir, stepDirName } from '../models/folders';
import type { Optimizer, OptimizerState } from './optim';
import { setWeightValues, weightValues, WeightEma } from './ema';

// ---------------------------------------------------------------- checkpoints

export interface TrainState {
  /** Optimizer steps done (= batches consumed from the loader: the data position). */
  step: number;
  imagesSeen: number;
  bestScore: number | null;
  bestStep: number | null;
  /** Evaluations since the best one (early stopping). */
  evalsSinceBest: number;
  /** Validation score of the start (a fine-tune's init model, scored before step 1), if it was scored. */
  startScore?: number | null;
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
  writeFileSynced(file, new Uint8Array(out.buffer));
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
  writeFileSynced(path.join(dir, CHECKPOINT_FILES.state), JSON.stringify(file, null, 2) + '\n');
}

/** Writes one checkpoint folder atomically. */
export async function saveCheckpoint(dir: string, d: CheckpointData): Promise<void> {
  await checkFiniteState(d);
  await writeDirAtomic(dir, (tmp) => writeCheckpointFiles(tmp, d));
}

/** Raised instead of writing a checkpoint whose weights hold NaN or Inf. */
export class NonFiniteWeightsError extends Error {
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
    this.name = 'NonFiniteWeightsError';
  }
}

function firstNonFinite(v: ArrayLike<number>): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return i;
  return -1;
}

/** Every weight to be written (the model's, the averaged ones, extra variables) must be finite. */
async function checkFiniteState(d: CheckpointData): Promise<void> {
  const fail = (what: string) => {
    throw new NonFiniteWeightsError(`step ${d.state.step}: ${what} holds non-finite values (NaN/Inf): checkpoint not written, the previous one is kept (try a lower train.lr)`, d.state.step);
  };
  for (const w of d.model.weights) if (firstNonFinite(w.read().dataSync()) >= 0) fail(`weight ${w.originalName ?? w.name}`);
  if (d.ema) {
    const bad = await d.ema.withAveraged(() => d.model.weights.find((w) => firstNonFinite(w.read().dataSync()) >= 0));
    if (bad) fail(`averaged weight ${bad.originalName ?? bad.name}`);
  }
  for (const v of d.extraVars ?? []) if (firstNonFinite(v.dataSync()) >= 0) fail(`extra variable ${v.name}`);
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
  if (fs.existsSync(path.join(spec, CHECKPOINT_FILES.state))) return spec;
  const last = path.join(spec, RUN_FILES.last);
  recoverDir(last);
  if (fs.existsSync(path.join(last, 'state.json'))) return last;
  throw new Error(`--resume ${spec}: no checkpoint there (expected ${last}/state.json or ${spec}/state.json)`);
}

export async function loadCheckpoint(spec: string): Promise<LoadedCheckpoint> {
  const dir = resolveCheckpointDir(spec);
  const sf = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
  const { model, meta } = await loadModelFiles(path.join(dir, 'model.json'));
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
    return path.join(this.runDir, RUN_FILES.last);
  }
  get bestDir(): string {
    return path.join(this.runDir, RUN_FILES.best);
  }
  stepDir(step: number): string {
    return path.join(this.runDir, RUN_FILES.checkpoints, stepDirName(step));
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
    const dir = path.join(this.runDir, RUN_FILES.checkpoints);
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
