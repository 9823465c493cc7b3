/**
 * Data-parallel training step: the batch is split between this thread and N worker threads,
 * each with its own tfjs engine and wasm instance (so every kernel, not only XNNPACK's
 * convolutions, runs on its own core); gradients are averaged weighted by rows. A drop-in
 * `TrainStep` for src/train/loop.ts (`makeParallelTrainStep(...)` instead of `makeTrainStep()`).
 *
 * Workers rebuild the model from its registry name and args, receive the current weights
 * each step (a copy of the trainable variables: ~2 MB for the default teacher) and the
 * loss from a `LossSpec` (a module path + export name, since closures cannot cross threads).
 * Batch-norm moving statistics are updated only from this thread's rows.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { HostBatch } from '../data/types';
import { makeTrainStep, type LossFn, type StepInput, type StepOutput, type TrainStep } from './step';

/**
 * Where a worker finds the loss: `require(module)[exportName](options)` must return a LossFn (or a
 * promise of one, e.g. after loading a distillation teacher in the worker). `options` must survive
 * structured cloning.
 */
export interface LossSpec {
  module: string;
  exportName: string;
  options?: unknown;
}

export interface ParallelStepOptions {
  /** Worker threads besides this one (1 on a 2-core machine). */
  workers: number;
  /** Registry name and args of the model being trained (the workers rebuild it). */
  model: { name: string; args: Record<string, unknown> };
  loss: LossSpec;
  /** Backend for the workers: 'wasm' (default) or 'cpu'. */
  backend?: 'wasm' | 'cpu';
  /** The step this thread runs on its share (default: makeTrainStep() of ./step). */
  inner?: TrainStep;
}

export interface ParallelTrainStep extends TrainStep {
  /** Terminates the workers. */
  close(): Promise<void>;
}

interface WorkerReply {
  type: 'ready' | 'result' | 'error';
  message?: string;
  loss?: number;
  parts?: Record<string, number>;
  grads?: Float32Array[];
  shapes?: number[][];
}

/** Path of the worker script next to this module (.ts under tsx, .js in dist/). */
function workerScript(): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const file = path.join(__dirname, `parallel-worker${ext}`);
  return { file, execArgv: ext === '.ts' ? ['--require', 'tsx/cjs'] : [] };
}

class Peer {
  private pending: ((r: WorkerReply) => void) | null = null;
  private failure: Error | null = null;
  constructor(readonly worker: Worker) {
    worker.on('message', (r: WorkerReply) => {
      const p = this.pending;
      this.pending = null;
      p?.(r);
    });
    worker.on('error', (e: Error) => {
      this.failure = e;
      const p = this.pending;
      this.pending = null;
      p?.({ type: 'error', message: e.message });
    });
  }
  request(msg: unknown, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = (r) => (r.type === 'error' ? reject(new Error(`parallel worker: ${r.message}`)) : resolve(r));
      this.worker.postMessage(msg, transfer);
    });
  }
}

/** Rows [start, start+n) of a HostBatch as a standalone HostBatch (copies). */
export function sliceBatch(b: HostBatch, start: number, n: number): HostBatch {
  const px = b.height * b.width;
  return {
    size: n,
    height: b.height,
    width: b.width,
    images: b.images.slice(start * px * 3, (start + n) * px * 3),
    masks: b.masks.slice(start * px, (start + n) * px),
    hasMask: b.hasMask.slice(start, start + n),
    ids: b.ids.slice(start, start + n),
  };
}

/** Rows per participant: this thread first, as even as possible. */
export function splitRows(rows: number, parts: number): number[] {
  const base = Math.floor(rows / parts);
  const extra = rows % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

export async function makeParallelTrainStep(opts: ParallelStepOptions): Promise<ParallelTrainStep> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`makeParallelTrainStep: workers must be >= 1, got ${opts.workers}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const inner = opts.inner ?? makeTrainStep();
  const { file, execArgv } = workerScript();
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < opts.workers; i++) {
      const peer = new Peer(new Worker(file, { execArgv }));
      peers.push(peer);
      await peer.request({ type: 'init', backend: opts.backend ?? 'wasm', model: opts.model, loss: opts.loss });
    }
  } catch (e) {
    await Promise.all(peers.map((p) => p.worker.terminate()));
    throw e;
  }

  const step = (async (input: StepInput): Promise<StepOutput> => {
    const { batch } = input;
    const shares = splitRows(batch.size, peers.length + 1);
    const weights = input.vars.map((v) => v.dataSync() as Float32Array);
    // Start the workers first, then do this thread's share while they run.
    let start = shares[0];
    const remote = peers.map((p, i) => {
      const n = shares[i + 1];
      const part = n > 0 ? sliceBatch(batch, start, n) : null;
      start += n;
      if (!part) return Promise.resolve(null);
      const w = weights.map((a) => a.slice());
      return p.request({ type: 'step', weights: w, batch: part, microBatch: input.microBatch, step: input.step }, [
        ...w.map((a) => a.buffer as ArrayBuffer),
        part.images.buffer as ArrayBuffer,
        part.masks.buffer as ArrayBuffer,
      ]);
    });
    const own = await inner({ ...input, batch: sliceBatch(batch, 0, shares[0]) });
    const replies = await Promise.all(remote);
    const wOwn = shares[0] / batch.size;
    let loss = own.loss * wOwn;
    const parts: Record<string, number> = {};
    for (const [k, v] of Object.entries(own.parts)) parts[k] = v * wOwn;
    const grads = tf.tidy(() => {
      let acc = own.grads.map((g) => g.mul(wOwn));
      replies.forEach((r, i) => {
        if (!r) return;
        const w = shares[i + 1] / batch.size;
        loss += (r.loss ?? 0) * w;
        for (const [k, v] of Object.entries(r.parts ?? {})) parts[k] = (parts[k] ?? 0) + v * w;
        acc = acc.map((a, j) => a.add(tf.tensor(r.grads![j], input.vars[j].shape).mul(w)));
      });
      return acc;
    });
    tf.dispose(own.grads);
    return { loss, parts, grads };
  }) as ParallelTrainStep;
  step.close = async () => {
    await Promise.all(peers.map((p) => p.worker.terminate()));
  };
  return step;
}

export type { LossFn };
