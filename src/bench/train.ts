/**
 * `portraitseg bench train`: training throughput (img/s) per model, frame size and backend,
 * with peak memory and an optional per-kernel profile.
 *
 * One "step" is what the training loop does per batch: forward, sigmoid cross-entropy on
 * random masks, backward (src/train/loop.ts makeTrainStep, micro-batched as planned by
 * src/backend/memory.ts), Adam update (src/train/optim.ts, as the loop). Warm-up steps (kernel setup, XNNPACK operator
 * creation, heap growth) are not timed.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend, unregisterWasmTrainingKernels, registerWasmTrainingKernels } from '../backend';
import { planMicroBatch, wasmHeapBytes } from '../backend/memory';
import { createModel } from '../models/registry';
import type { HostBatch } from '../data/types';
import { LossFn, makeTrainStep, TrainStep } from '../train/loop';
import { makeParallelTrainStep, ParallelTrainStep } from '../backend/parallel';
import { makeRng, Rng } from '../util/rng';
import { createOptimizer, Optimizer } from '../train/optim';

/** 'wasm' = wasm + portraitseg kernels; 'wasm-stock' = tfjs' own wasm kernels only. */
/** 'wasm-parallel' = wasm + our kernels, batch split with one worker thread (src/backend/parallel.ts). */
export type BenchBackend = 'wasm' | 'wasm-parallel' | 'wasm-stock' | 'cpu' | 'tensorflow' | 'tensorflow-gpu';
export const BENCH_BACKENDS: BenchBackend[] = ['wasm', 'wasm-parallel', 'wasm-stock', 'cpu', 'tensorflow', 'tensorflow-gpu'];

/** The benchmark's loss (sigmoid cross-entropy), also loadable by parallel workers by name. */
export function benchLoss(): LossFn {
  return ({ model, images, masks }) => {
    const logits = model.apply(images, { training: true }) as tf.Tensor4D;
    return { total: tf.losses.sigmoidCrossEntropy(masks, logits) as tf.Scalar, parts: {} };
  };
}

export interface BenchTrainCase {
  model: string;
  size: number;
  batch: number;
  backend: BenchBackend;
  steps: number;
  warmup: number;
  profile: boolean;
  seed: number;
  /** null: planMicroBatch decides. */
  microBatch: number | null;
}

export interface KernelTime {
  kernel: string;
  ms: number;
  share: number;
  calls: number;
}

export interface BenchTrainResult {
  model: string;
  size: number;
  batch: number;
  backend: BenchBackend;
  /** Set when this configuration cannot train (the error, one line). */
  error: string | null;
  steps: number;
  microBatch: number | null;
  msPerStep: number | null;
  imgPerSec: number | null;
  /**
   * CPU time (user + system, all threads of this process) per step. On a shared machine
   * `batch / cpuSecondsPerStep` is the throughput the same work would reach with one free
   * core per thread used; compare it with imgPerSec to see how contended the run was.
   */
  cpuMsPerStep: number | null;
  loss: number | null;
  params: number | null;
  /** Largest wasm heap seen (bytes; wasm backends only). */
  peakWasmHeapBytes: number | null;
  /** Largest process RSS seen (bytes). */
  peakRssBytes: number;
  /** Per-kernel time of one profiled step, largest first (with --profile). */
  profile: KernelTime[] | null;
  /** The PyTorch twin run right after this case (with --twin), or why it could not run. */
  twin?: TwinResult | { error: string } | null;
  /** imgPerSec / twin imgPerSec. */
  twinRatio?: number | null;
}

async function activate(backend: BenchBackend): Promise<void> {
  if (backend === 'wasm' || backend === 'wasm-stock' || backend === 'wasm-parallel') {
    await selectBackend('wasm');
    if (backend === 'wasm-stock') unregisterWasmTrainingKernels();
    else registerWasmTrainingKernels();
  } else {
    await selectBackend(backend);
  }
}

/** Random frames and masks (the content does not change the arithmetic). */
function randomBatch(rng: Rng, n: number, size: number): HostBatch {
  const px = size * size;
  const images = new Float32Array(n * px * 3);
  for (let i = 0; i < images.length; i++) images[i] = rng.next();
  const masks = new Float32Array(n * px);
  for (let i = 0; i < masks.length; i++) masks[i] = rng.next() < 0.5 ? 0 : 1;
  return {
    ids: Array.from({ length: n }, (_, i) => `bench${i}`),
    size: n,
    height: size,
    width: size,
    images,
    masks,
    hasMask: new Uint8Array(n).fill(1),
  };
}

function oneLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/**
 * Aggregates tf.profile kernel records by kernel name. Records named `*__op` (e.g.
 * fusedConv2d__op) are op wrappers whose time already contains their inner kernel
 * (FusedConv2D): left out, so no time is counted twice.
 */
export function aggregate(kernels: { name: string; kernelTimeMs: number | { error: string } }[]): KernelTime[] {
  const by = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of kernels) {
    if (k.name.endsWith('__op')) continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    by.set(k.name, e);
    total += ms;
  }
  return [...by.entries()]
    .map(([kernel, e]) => ({ kernel, ms: +e.ms.toFixed(2), share: total > 0 ? +(e.ms / total).toFixed(4) : 0, calls: e.calls }))
    .sort((a, b) => b.ms - a.ms);
}

/** Runs one benchmark configuration. Never throws for "cannot train": returns `error`. */
export async function benchTrainCase(c: BenchTrainCase, log: (line: string) => void = () => {}): Promise<BenchTrainResult> {
  const result: BenchTrainResult = {
    model: c.model, size: c.size, batch: c.batch, backend: c.backend, error: null, steps: 0, microBatch: null,
    msPerStep: null, imgPerSec: null, cpuMsPerStep: null, loss: null, params: null, peakWasmHeapBytes: null, peakRssBytes: process.memoryUsage().rss, profile: null,
  };
  try {
    await activate(c.backend);
  } catch (e) {
    result.error = `backend unavailable: ${oneLine(e)}`;
    return result;
  }
  const isWasm = c.backend.startsWith('wasm');
  const sample = () => {
    result.peakRssBytes = Math.max(result.peakRssBytes, process.memoryUsage().rss);
    if (isWasm) result.peakWasmHeapBytes = Math.max(result.peakWasmHeapBytes ?? 0, wasmHeapBytes() ?? 0);
  };
  const tensorsBefore = tf.memory().numTensors;
  let built: ReturnType<typeof createModel> | null = null;
  let optimizer: Optimizer | null = null;
  let parallel: ParallelTrainStep | null = null;
  try {
    built = createModel(c.model, { inputSize: [c.size, c.size] }, { seed: c.seed });
    result.params = built.meta.params;
    const { model, meta } = built;
    const frame = meta.frameSize[0];
    const micro = c.microBatch ?? planMicroBatch({ meta, model, frameSize: meta.frameSize, batchSize: c.batch, backend: isWasm ? 'wasm' : c.backend });
    result.microBatch = micro;
    const rng = makeRng(c.seed);
    const batch = randomBatch(rng, c.batch, frame);
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    let step: TrainStep = makeTrainStep();
    if (c.backend === 'wasm-parallel') {
      parallel = await makeParallelTrainStep({ workers: 1, model: { name: c.model, args: meta.args }, loss: { module: __filename, exportName: 'benchLoss' } });
      step = parallel;
    }
    // The training loop's optimizer (src/train/optim.ts; fused on wasm), as train teacher uses it.
    optimizer = createOptimizer({ name: 'adam' });
    const lossFn = benchLoss();
    const runStep = async (i: number) => {
      const out = await step({ model, vars, batch, lossFn, microBatch: micro, step: i });
      optimizer!.apply(vars, out.grads, 1e-3);
      tf.dispose(out.grads);
      sample();
      return out.loss;
    };
    log(`bench train: ${c.model} ${frame}x${frame} batch ${c.batch} (micro ${micro}) on ${c.backend}: warm-up`);
    for (let i = 0; i < c.warmup; i++) await runStep(i);
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    let loss = 0;
    for (let i = 0; i < c.steps; i++) {
      loss = await runStep(c.warmup + i);
      const el = Number(process.hrtime.bigint() - t0) / 1e9;
      log(`bench train: ${c.model} ${frame} ${c.backend} step ${i + 1}/${c.steps} ${(((i + 1) * c.batch) / el).toFixed(2)} img/s loss ${loss.toFixed(4)}`);
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    result.cpuMsPerStep = c.steps > 0 ? +((cpu.user + cpu.system) / 1000 / c.steps).toFixed(1) : null;
    result.steps = c.steps;
    result.loss = loss;
    result.msPerStep = c.steps > 0 ? +((secs * 1000) / c.steps).toFixed(1) : null;
    result.imgPerSec = c.steps > 0 ? +((c.steps * c.batch) / secs).toFixed(2) : null;
    if (c.profile) {
      const info = await tf.profile(async () => {
        await runStep(c.warmup + c.steps);
      });
      result.profile = aggregate(info.kernels as never);
    }
  } catch (e) {
    result.error = oneLine(e);
  } finally {
    await parallel?.close();
    optimizer?.dispose();
    built?.model.dispose();
    // A failed step can leave tensors behind; drop whatever this case created.
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (leaked > 0 && !result.error) log(`bench train: warning: ${leaked} tensors left after ${c.model} on ${c.backend}`);
    if (c.backend === 'wasm-stock') registerWasmTrainingKernels();
  }
  return result;
}

/** The PyTorch twin's result for the same net, batch, size and threads (../shared/bench/torch_twins.py). */
export interface TwinResult {
  net: string;
  threads: number;
  /** batch * steps / total time of the timed steps (as our imgPerSec). */
  imgPerSec: number;
  /** batch / median step time. */
  imgPerSecMedian: number;
  cpuMsPerStep: number;
  torch: string;
}

/** The twin's name of one of our default nets; null for nets without a twin. */
export function twinNet(model: string): 'unet' | 'mnv2' | null {
  return model === 'unet_teacher_s' ? 'unet' : model === 'mnv2_student_s' ? 'mnv2' : null;
}

/** Threads of a bench backend (wasm: 1; wasm-parallel: this thread + 1 worker); null for others. */
export function twinThreads(backend: BenchBackend): number | null {
  return backend === 'wasm' ? 1 : backend === 'wasm-parallel' ? 2 : null;
}

/**
 * Runs the PyTorch twin once for the same configuration (`bench train --twin`), right after our
 * case, so the two alternate on a shared machine. Returns an error line when it cannot run.
 */
export function runTwin(o: { python: string; script: string; net: string; threads: number; batch: number; size: number; steps: number; warmup: number; seed: number }): TwinResult | { error: string } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const args = [o.script, 'bench', '--net', o.net, '--threads', String(o.threads), '--batch', String(o.batch), '--size', String(o.size), '--steps', String(o.steps), '--warmup', String(o.warmup), '--seed', String(o.seed)];
  const r = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
  if (r.error) return { error: `${o.python}: ${r.error.message}` };
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) return { error: `twin exited ${r.status}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}` };
  const j = JSON.parse(last) as { net: string; threads: number; img_s: number; img_s_mean: number; cpu_ms_step: number; torch: string };
  return { net: j.net, threads: j.threads, imgPerSec: j.img_s_mean, imgPerSecMedian: j.img_s, cpuMsPerStep: j.cpu_ms_step, torch: j.torch };
}

export function formatTable(results: BenchTrainResult[]): string {
  const withTwin = results.some((r) => r.twin != null);
  const twinHead = withTwin ? ' twin img/s | ratio | twin CPU ms/step |' : '';
  const lines = [`| model | frame | batch (micro) | backend | img/s | ms/step | CPU ms/step |${twinHead} peak wasm heap | peak RSS | note |`, `|---|---|---|---|---|---|---|${withTwin ? '---|---|---|' : ''}---|---|---|`];
  const mb = (b: number | null) => (b == null ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  for (const r of results) {
    const t = r.twin && !('error' in r.twin) ? r.twin : null;
    const twinCols = withTwin ? ` ${t ? t.imgPerSec : '-'} | ${r.twinRatio != null ? `${r.twinRatio.toFixed(2)}x` : '-'} | ${t ? t.cpuMsPerStep : '-'} |` : '';
    const note = r.error ? `cannot train: ${r.error.slice(0, 120)}` : r.twin && 'error' in r.twin ? `twin: ${r.twin.error.slice(0, 120)}` : '';
    lines.push(
      `| ${r.model} | ${r.size} | ${r.batch} (${r.microBatch ?? '-'}) | ${r.backend} | ${r.imgPerSec ?? '-'} | ${r.msPerStep ?? '-'} | ${r.cpuMsPerStep ?? '-'} |${twinCols} ${mb(r.peakWasmHeapBytes)} | ${mb(r.peakRssBytes)} | ${note} |`,
    );
  }
  return lines.join('\n');
}

export function formatProfile(r: BenchTrainResult, top = 15): string {
  if (!r.profile) return '';
  const lines = [`profile: ${r.model} ${r.size} ${r.backend} (one step)`];
  for (const k of r.profile.slice(0, top)) lines.push(`  ${k.kernel.padEnd(36)} ${k.ms.toFixed(1).padStart(9)} ms ${(k.share * 100).toFixed(1).padStart(5)}%  x${k.calls}`);
  return lines.join('\n');
}
