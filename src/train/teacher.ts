/**
 * `train teacher`: the supervised recipe on the one loop. Validates everything it can before any
 * work (model args, augmentation list, data paths), writes the resolved config into the run
 * folder, splits the data (seeded) unless a validation set is given, trains with the standard
 * callbacks, and resumes bit-for-bit from a run folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { ConfigError } from '../config/schema';
import { saveConfig } from '../config/load';
import type { HostBatch, SampleRef } from '../data/types';
import { openDataset, resolveSpec } from '../data/dataset';
import { DataError } from '../data/errors';
import { splitRefs } from '../data/split';
import { DataLoader } from '../data/loader';
import { SampleCache } from '../data/cache';
import { buildPipeline, validateAugment } from '../augment/registry';
import { loadBackgrounds } from '../augment/background';
import { createModel, resolveModelArgs } from '../models/registry';
import type { ModelMeta } from '../models/types';
import { selectBackend } from '../backend';
import { makeParallelTrainStep } from '../backend/parallel';
import { evaluateBatches } from '../eval/evaluate';
import { Callback, train, TrainResult, ValResult } from './loop';
import { makeSegLossFn } from './losses';
import { createOptimizer, warmupCosine } from './optim';
import { loadCheckpoint, LoadedCheckpoint } from './checkpoint';
import { createEma, setWeightValues } from './ema';
import { PYTORCH_REFERENCE } from './curves';
import { checkpointer, curvesPlot, earlyStopping, metricsJsonl, progressLogger } from './callbacks';

export class TrainSetupError extends ConfigError {}

/** Data errors found while setting up (before training) are user mistakes: one line, exit 2. */
export function asSetupError<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DataError) throw new TrainSetupError(`${key}: ${e.message}`);
    throw e;
  }
}

export interface TeacherOptions {
  config: Config;
  /** Run folder; default runs/teacher-<model>-<time>. */
  out?: string | null;
  /** Run folder (or checkpoint folder) to continue. */
  resume?: string | null;
  log?: (line: string) => void;
  /** Abort (Ctrl-C); the CLI wires SIGINT to it. */
  signal?: AbortSignal;
}

export interface TeacherRun {
  runDir: string;
  result: TrainResult;
  meta: ModelMeta;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Checks done before any work: model args, augmentation, data and backgrounds paths, run folder. */
export function checkTeacherConfig(cfg: Config, o: { out?: string | null; resume?: string | null } = {}): void {
  if (!cfg.data.path) throw new TrainSetupError('no training data: give --data DIR (a folder, list file or datasets/*.json), or set data.path');
  asSetupError('data.path', () => resolveSpec(cfg.data.path!));
  if (cfg.data.val) asSetupError('data.val', () => resolveSpec(cfg.data.val!));
  resolveModelArgs(cfg.model.name, cfg.model.args);
  validateAugment(cfg.augment.train);
  if (cfg.data.backgrounds && !fs.existsSync(cfg.data.backgrounds)) throw new TrainSetupError(`data.backgrounds: folder not found: ${cfg.data.backgrounds}`);
  if (!o.resume && o.out && fs.existsSync(path.join(o.out, 'last'))) {
    throw new TrainSetupError(`run folder ${o.out} already holds a run: continue it with --resume ${o.out}, or choose another --out`);
  }
}

/** The resolved config saved in a run folder (for --resume). */
export function readRunConfig(runDir: string): Record<string, unknown> {
  const f = path.join(runDir, 'config.json');
  if (!fs.existsSync(f)) throw new TrainSetupError(`--resume ${runDir}: no config.json there (not a run folder)`);
  return JSON.parse(fs.readFileSync(f, 'utf8'));
}

export interface TrainData {
  train: SampleRef[];
  val: SampleRef[];
  /** Files left out, one line each (already logged). */
  bad: string[];
}

/** Opens the training set and the validation set (given, or a seeded valFraction split). */
export async function openTrainData(cfg: Config, log: (l: string) => void = () => {}): Promise<TrainData> {
  const bad: string[] = [];
  const report = (l: string) => {
    bad.push(l);
    log(l);
  };
  const ds = await openDataset(cfg.data.path!, { strict: cfg.data.strict, labeled: true, log: report }).catch((e) => asSetupError('data.path', () => {
    throw e;
  }));
  let trainRefs: SampleRef[];
  let valRefs: SampleRef[];
  if (cfg.data.val) {
    const v = await openDataset(cfg.data.val, { strict: cfg.data.strict, labeled: true, log: report }).catch((e) => asSetupError('data.val', () => {
      throw e;
    }));
    trainRefs = ds.refs;
    valRefs = v.refs;
  } else if (cfg.data.valFraction > 0) {
    const s = splitRefs(ds.refs, cfg.data.valFraction, cfg.seed);
    trainRefs = s.train;
    valRefs = s.val;
  } else {
    trainRefs = ds.refs;
    valRefs = [];
  }
  if (cfg.data.maxSamples) trainRefs = trainRefs.slice(0, cfg.data.maxSamples);
  if (trainRefs.length === 0) throw new TrainSetupError(`${cfg.data.path}: no training samples left after the validation split`);
  return { train: trainRefs, val: valRefs, bad };
}

/** Records the ids of the split in the run folder, so `eval --split val` uses exactly these. */
export function writeSplit(runDir: string, data: TrainData): void {
  const f = path.join(runDir, 'split.json');
  const tmp = `${f}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ train: data.train.map((r) => r.id), val: data.val.map((r) => r.id) }) + '\n');
  fs.renameSync(tmp, f);
}

/** Validation on the val split at the training frame size; batches are decoded once and kept. */
export function makeValFn(loader: DataLoader | null, cfg: Config): ((model: tf.LayersModel) => Promise<ValResult>) | undefined {
  if (!loader) return undefined;
  let cached: HostBatch[] | null = null;
  return async (model) => {
    if (!cached) {
      cached = [];
      for await (const b of loader.once()) cached.push(b);
    }
    const m = await evaluateBatches(model, cached, { threshold: cfg.eval.threshold, boundaryTolerance: cfg.eval.boundaryTolerance, worst: 0 });
    return { miou: m.miou, personIou: m.personIou, boundaryF: m.boundaryF, mae: m.mae };
  };
}

/** Micro-batch: the config's, else src/backend/memory.ts's plan, else the whole batch. */
export function resolveMicroBatch(cfg: Config, model: tf.LayersModel, meta: ModelMeta, log: (l: string) => void = () => {}): number {
  if (cfg.train.microBatch !== null) return cfg.train.microBatch;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mem = require('../backend/memory') as { planMicroBatch?: (p: unknown) => number };
    if (typeof mem.planMicroBatch === 'function') {
      const mb = mem.planMicroBatch({ model, meta, frameSize: meta.frameSize, batchSize: cfg.train.batchSize, backend: tf.getBackend() });
      if (mb < cfg.train.batchSize) log(`micro-batch ${mb} (planned from memory; gradients accumulated over ${Math.ceil(cfg.train.batchSize / mb)} passes)`);
      return mb;
    }
  } catch (e) {
    log(`micro-batch planning failed (${(e as Error).message.split('\n')[0]}); using the whole batch`);
  }
  return cfg.train.batchSize;
}

/**
 * Threads for the data-parallel training step (src/backend/parallel.ts): config `threads`, where
 * 0 = auto: two on a multi-core machine when training on wasm with batches of 8 or more and frames
 * up to 128x128 (on one core, or with small batches, the worker's start-up and weight copies cost more than they buy;
 * measured 1.57x for teacher and student at 128x128 batch 8, docs in the README's backend section).
 * The worker's batch-norm statistics are not merged back, so a run is reproducible for the same
 * `threads` value, not across values.
 */
export function resolveThreads(cfg: Config, backend: string, frameSize: [number, number], log: (l: string) => void = () => {}): number {
  if (cfg.threads === 1) return 1;
  if (backend !== 'wasm' && backend !== 'cpu') {
    if (cfg.threads > 1) log(`threads ${cfg.threads} ignored: the ${backend} backend parallelises by itself`);
    return 1;
  }
  if (cfg.threads > 1) return cfg.threads;
  const cores = os.cpus().length;
  // Auto stays at 128x128 frames and below: at 256x256 the main thread's wasm heap was seen
  // growing to 3.8 GiB over a long parallel bench (not understood yet; the heap cap is 4 GiB).
  if (backend !== 'wasm' || cores < 2 || cfg.train.batchSize < 8 || frameSize[0] * frameSize[1] > 128 * 128) return 1;
  log(`threads: 2 (data-parallel step over a worker thread; --set threads=1 to train on one)`);
  return 2;
}

/** The standard callbacks of a run folder. */
export function standardCallbacks(cfg: Config, runDir: string, log: (l: string) => void, extra?: () => Record<string, unknown>): Callback[] {
  const metrics = path.join(runDir, 'metrics.jsonl');
  const cbs: Callback[] = [
    progressLogger(cfg.train.logEvery, log),
    metricsJsonl(metrics, cfg.train.logEvery),
    checkpointer({ runDir, every: cfg.train.checkpointEvery, keep: cfg.train.keep, config: cfg, extra, log }),
    curvesPlot(path.join(runDir, 'curves.png'), metrics, `${cfg.model.name} | ${path.basename(runDir)}`, /picsart/i.test(cfg.data.path ?? '') ? PYTORCH_REFERENCE : null),
  ];
  if (cfg.train.earlyStopPatience) cbs.push(earlyStopping(cfg.train.earlyStopPatience, log));
  return cbs;
}

export async function trainTeacher(o: TeacherOptions): Promise<TeacherRun> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cfg = o.config;
  const runDir = o.resume ? path.resolve(o.resume) : path.resolve(o.out ?? path.join('runs', `teacher-${cfg.model.name}-${stamp()}`));
  checkTeacherConfig(cfg, { out: runDir, resume: o.resume });
  let ck: LoadedCheckpoint | null = null;
  if (o.resume) {
    ck = await loadCheckpoint(o.resume);
  }
  await selectBackend(cfg.backend, log);
  const data = await openTrainData(cfg, log);
  saveConfig(cfg, runDir);
  writeSplit(runDir, data);

  const { model, meta } = ck ? { model: ck.model, meta: ck.meta } : createModel(cfg.model.name, cfg.model.args, { seed: cfg.seed });
  const frameSize = meta.frameSize;
  log(`model ${meta.name}: ${(meta.params / 1e6).toFixed(3)} M params, frames ${frameSize[1]}x${frameSize[0]}${meta.maskFilter?.enabled ? ` (net ${meta.inputSize[1]}x${meta.inputSize[0]} + mask filter)` : ''}`);
  log(`data: ${data.train.length} training, ${data.val.length} validation samples${cfg.data.val ? '' : ` (seeded ${Math.round(cfg.data.valFraction * 100)}% split)`}`);

  const backgrounds = cfg.data.backgrounds ? await loadBackgrounds(cfg.data.backgrounds) : [];
  const augment = buildPipeline(cfg.augment.train, { backgrounds });
  const cache = new SampleCache({ dir: cfg.data.cacheDir });
  const loader = new DataLoader(data.train, {
    frameSize,
    batchSize: cfg.train.batchSize,
    seed: cfg.seed,
    augment,
    cache,
    prefetch: cfg.data.prefetch,
    maskMode: cfg.data.maskMode,
    strict: cfg.data.strict,
    log,
  });
  const valLoader = data.val.length
    ? new DataLoader(data.val, { frameSize, batchSize: cfg.train.batchSize, seed: cfg.seed, cache, prefetch: cfg.data.prefetch, shuffle: false, maskMode: cfg.data.maskMode, strict: cfg.data.strict, log })
    : null;

  const optimizer = createOptimizer({ name: cfg.train.optimizer, weightDecay: cfg.train.weightDecay });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (ck?.optimizerState) optimizer.setState(ck.optimizerState, vars);
  const microBatch = resolveMicroBatch(cfg, model, meta, log);
  const startStep = ck?.state.step ?? 0;
  if (ck) log(`resuming ${runDir} at step ${ck.state.step} (${ck.state.imagesSeen} images seen)`);
  const threads = resolveThreads(cfg, tf.getBackend(), meta.frameSize, log);
  const step = threads > 1
    ? await makeParallelTrainStep({
        workers: threads - 1,
        model: { name: meta.name, args: meta.args },
        loss: { module: require.resolve('./losses'), exportName: 'makeSegLossFn', options: cfg.train.loss },
        backend: tf.getBackend() === 'cpu' ? 'cpu' : 'wasm',
      })
    : undefined;

  const ema = createEma(cfg.train.ema, model, ck);
  const result = await train({
    model,
    meta,
    ema,
    batches: loader.stream(startStep),
    lossFn: makeSegLossFn(cfg.train.loss),
    optimizer,
    schedule: warmupCosine({ lr: cfg.train.lr, minLr: cfg.train.minLr, warmupImages: cfg.train.warmupImages, totalImages: cfg.train.images }),
    totalImages: cfg.train.images,
    batchSize: cfg.train.batchSize,
    microBatch,
    gradClip: cfg.train.gradClip,
    startState: ck?.state,
    callbacks: standardCallbacks(cfg, runDir, log),
    valFn: makeValFn(valLoader, cfg),
    evalEvery: cfg.train.evalEvery,
    signal: o.signal,
    step,
  }).finally(() => step?.close());
  // Leave the averaged weights in the returned model: they are the ones validated and saved.
  if (ema) setWeightValues(model, ema.values());
  ema?.dispose();
  optimizer.dispose();
  return { runDir, result, meta };
}

/**
 * Wires Ctrl-C to an AbortController: the first SIGINT stops after the current step (callbacks
 * save a checkpoint), a second one exits at once. Returns a function that removes the handler.
 */
export function abortOnSigint(ac: AbortController, log: (l: string) => void): () => void {
  let count = 0;
  let first = 0;
  const handler = () => {
    // Wrappers (npm, shells) may pass the terminal's one Ctrl-C on as a second SIGINT: only a
    // second press at least a second later quits without saving.
    if (count === 1 && Date.now() - first < 1000) return;
    count++;
    if (count === 1) {
      first = Date.now();
      log('Ctrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit without saving)');
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}
