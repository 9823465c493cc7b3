/**
 * Loader throughput (images/s) through the real DataLoader: decode (sharp, libuv threads) +
 * resize + augmentation (src/augment pipeline, on the main thread) + batch assembly, at
 * several frame sizes, with a cold cache (decoding image files, filling the disk cache), a
 * warm disk cache (a new process-level cache reading the entries back) and a warm memory
 * cache (the same cache again).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { TransformSpec } from '../config/config';
import type { Sample, SampleRef } from '../data/types';
import type { Rng } from '../util/rng';
import { DataLoader } from '../data/loader';
import { SampleCache } from '../data/cache';

export type Phase = 'cold' | 'warm-disk' | 'warm-memory';

export interface BenchDataCase {
  size: number;
  phase: Phase;
  augment: boolean;
  /** Augmentation worker threads (0 = on the main thread). */
  workers: number;
  images: number;
  seconds: number;
  imagesPerSec: number;
  /** Summed per-sample decode time (incl. cache) / images: parallel on libuv threads, so it can exceed 1000/imagesPerSec. */
  decodeMsPerImage: number;
  /** Augmentation time per image (main thread). */
  augmentMsPerImage: number;
}

export interface BenchDataOptions {
  refs: SampleRef[];
  sizes: number[];
  images: number;
  batchSize: number;
  prefetch: number;
  seed: number;
  augment: ((s: Sample, rng: Rng) => Sample) | null;
  /** Also measure warm-memory with augmentation in this pool. */
  pool?: { size: number; run(s: Sample, seed: string): Promise<Sample> } | null;
  log?: (line: string) => void;
}

async function pass(refs: SampleRef[], size: number, o: BenchDataOptions, cache: SampleCache | null, augment: boolean, phase: Phase, usePool = false): Promise<BenchDataCase> {
  const pool = usePool && augment ? o.pool ?? null : null;
  const dl = new DataLoader(refs, {
    frameSize: [size, size],
    batchSize: o.batchSize,
    seed: o.seed,
    prefetch: o.prefetch,
    cache,
    augment: augment && o.augment && !pool ? o.augment : undefined,
    augmentPool: pool,
    log: o.log,
  });
  const batches = Math.ceil(o.images / o.batchSize);
  const t0 = performance.now();
  const it = dl.stream();
  for (let b = 0; b < batches; b++) await it.next();
  const seconds = (performance.now() - t0) / 1000;
  await it.return?.();
  const images = batches * o.batchSize;
  return {
    size,
    phase,
    augment: augment && (!!o.augment || !!pool),
    workers: pool ? pool.size : 0,
    images,
    seconds,
    imagesPerSec: images / seconds,
    decodeMsPerImage: dl.stats.decodeMs / Math.max(1, dl.stats.samples),
    augmentMsPerImage: dl.stats.augmentMs / Math.max(1, dl.stats.samples),
  };
}

/** Runs every (size, phase) case. Uses the first `images` refs so the warm passes see the same files. */
export async function benchData(o: BenchDataOptions): Promise<BenchDataCase[]> {
  const refs = o.refs.slice(0, o.images);
  const out: BenchDataCase[] = [];
  for (const size of o.sizes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-benchdata-'));
    try {
      const say = (c: BenchDataCase) => {
        out.push(c);
        o.log?.(formatCase(c));
      };
      say(await pass(refs, size, o, new SampleCache({ dir: null, memoryMB: 0 }), false, 'cold'));
      say(await pass(refs, size, o, new SampleCache({ dir, memoryMB: 0 }), true, 'cold'));
      const warm = new SampleCache({ dir, memoryMB: 4096 });
      say(await pass(refs, size, o, warm, true, 'warm-disk'));
      say(await pass(refs, size, o, warm, true, 'warm-memory'));
      if (o.pool) say(await pass(refs, size, o, warm, true, 'warm-memory', true));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

export function formatCase(c: BenchDataCase): string {
  return `${String(c.size).padStart(4)}px  ${c.phase.padEnd(11)}  ${(c.augment ? `decode+augment${c.workers ? ` (${c.workers} workers)` : ''}` : 'decode only').padEnd(26)}  ${c.imagesPerSec.toFixed(1).padStart(7)} img/s  decode ${c.decodeMsPerImage.toFixed(1).padStart(6)} ms/img  augment ${c.augmentMsPerImage.toFixed(1).padStart(6)} ms/img`;
}

export function formatTable(cases: BenchDataCase[]): string {
  const head = '| size | cache | work | img/s | decode latency ms/img | augment ms/img (workers: latency incl. queue) |\n|---|---|---|---|---|---|';
  const rows = cases.map((c) => `| ${c.size} | ${c.phase} | ${c.augment ? `decode + augment${c.workers ? ` in ${c.workers} worker threads` : ''}` : 'decode only'} | ${c.imagesPerSec.toFixed(1)} | ${c.decodeMsPerImage.toFixed(1)} | ${c.augmentMsPerImage.toFixed(1)} |`);
  return [head, ...rows].join('\n');
}

export type { TransformSpec };
