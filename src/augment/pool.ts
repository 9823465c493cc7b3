/**
 * AugmentPool: runs the augmentation pipeline in worker threads, so it overlaps with the
 * training step on the main thread instead of adding to it. Output is byte-identical to the
 * in-thread pipeline: each sample carries its own rng seed (see DataLoader).
 */
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { Sample } from '../data/types';
import type { TransformSpec } from '../config/config';

export interface AugmentPoolOptions {
  specs: TransformSpec[];
  /** Background photo folder for backgroundSwap; null = procedural backgrounds. */
  backgrounds: string | null;
  /** Worker threads; default max(1, cores - 1). */
  workers?: number;
}

interface Job {
  resolve: (s: Sample) => void;
  reject: (e: Error) => void;
}

export class AugmentPool {
  private workers: Worker[] = [];
  private ready: Promise<void>;
  private jobs = new Map<number, Job>();
  private load: number[] = [];
  private nextId = 0;
  private closed = false;

  constructor(opts: AugmentPoolOptions) {
    const n = Math.max(1, opts.workers ?? os.cpus().length - 1);
    const fromSource = __filename.endsWith('.ts');
    const file = path.join(__dirname, fromSource ? 'worker.ts' : 'worker.js');
    // From source (tests, tsx) the worker needs tsx's require hook too.
    const code = fromSource ? `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(file)});` : `require(${JSON.stringify(file)});`;
    const readies: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(code, { eval: true, workerData: { specs: opts.specs, backgrounds: opts.backgrounds } });
      this.load.push(0);
      readies.push(
        new Promise<void>((resolve, reject) => {
          w.on('message', (m: { ready?: boolean; fatal?: string; id?: number; sample?: Sample; error?: string }) => {
            if (m.ready) return resolve();
            if (m.fatal) return reject(new Error(`augment worker failed to start: ${m.fatal}`));
            const job = this.jobs.get(m.id!);
            if (!job) return;
            this.jobs.delete(m.id!);
            this.load[i]--;
            if (m.error) job.reject(new Error(m.error));
            else job.resolve(m.sample!);
          });
          w.on('error', (e: Error) => {
            reject(e);
            for (const j of this.jobs.values()) j.reject(e);
            this.jobs.clear();
          });
        }),
      );
      this.workers.push(w);
    }
    this.ready = Promise.all(readies).then(() => undefined);
    this.ready.catch(() => undefined);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Augments `s` with makeRng(seed) in the least busy worker. */
  async run(s: Sample, seed: string): Promise<Sample> {
    if (this.closed) throw new Error('AugmentPool: closed');
    await this.ready;
    let k = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[k]) k = i;
    const id = this.nextId++;
    this.load[k]++;
    return new Promise<Sample>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.workers[k].postMessage({ id, sample: s, seed });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
