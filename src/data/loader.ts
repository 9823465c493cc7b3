/**
 * The batch loader. `stream()` is an infinite, prefetched sequence of training batches that
 * is a pure function of (seed, batch index): item g = batch * batchSize + j belongs to epoch
 * e = floor(g / N) at position i = g mod N; epoch e's order is a shuffle with
 * makeRng(seed).fork('epoch' + e) and that item's augmentation rng is
 * makeRng(seed).fork('e' + e + '/i' + i). So `stream(k)` yields exactly the batches an
 * uninterrupted run yields from batch k, which is what the trainer's --resume relies on.
 */
import type { HostBatch, Sample, SampleRef } from './types';
import type { Rng } from '../util/rng';
import { makeRng } from '../util/rng';
import { DataError } from './errors';
import { loadSample, MaskMode } from './sample';
import type { SampleCache } from './cache';

export interface LoaderOptions {
  /** [height, width] of every sample in a batch. */
  frameSize: [number, number];
  batchSize: number;
  seed: number | string;
  /** A pure transform (src/augment pipeline); must keep the frame size. */
  augment?: (s: Sample, rng: Rng) => Sample;
  /** Runs the augmentation off the main thread instead (src/augment/pool.ts); same bytes as `augment` with the same pipeline. */
  augmentPool?: { run(s: Sample, seed: string): Promise<Sample> } | null;
  cache?: SampleCache | null;
  /** Batches decoded ahead of the consumer (default 4). */
  prefetch?: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  maskMode?: MaskMode;
  /** Throw on a file that fails to load instead of reporting it and using the next one. */
  strict?: boolean;
  log?: (line: string) => void;
}

export interface LoaderStats {
  samples: number;
  /** Milliseconds spent in decode (incl. cache) and in augment, summed over samples. */
  decodeMs: number;
  augmentMs: number;
  /** Refs that failed to load and were replaced. */
  failed: string[];
}

export class DataLoader {
  readonly refs: readonly SampleRef[];
  readonly opts: Required<Omit<LoaderOptions, 'augment' | 'augmentPool' | 'cache' | 'log'>> & Pick<LoaderOptions, 'augment' | 'augmentPool' | 'cache' | 'log'>;
  readonly stats: LoaderStats = { samples: 0, decodeMs: 0, augmentMs: 0, failed: [] };
  private orders = new Map<number, number[]>();
  private failed = new Set<number>();

  constructor(refs: readonly SampleRef[], opts: LoaderOptions) {
    if (refs.length === 0) throw new Error('DataLoader: no samples (the dataset is empty or every file was left out)');
    if (!(opts.batchSize >= 1)) throw new Error(`DataLoader: batchSize must be >= 1, got ${opts.batchSize}`);
    this.refs = refs;
    this.opts = { prefetch: 4, shuffle: true, maskMode: 'binary', strict: false, ...opts };
  }

  /** Batches in one pass over the data. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.refs.length / this.opts.batchSize);
  }

  /** The ref indices of epoch e, in the order they are served. */
  epochOrder(e: number): number[] {
    let o = this.orders.get(e);
    if (!o) {
      o = this.refs.map((_, i) => i);
      if (this.opts.shuffle) makeRng(this.opts.seed).fork(`epoch${e}`).shuffle(o);
      if (this.orders.size > 4) this.orders.delete(this.orders.keys().next().value as number);
      this.orders.set(e, o);
    }
    return o;
  }

  private async decode(idx: number): Promise<Sample> {
    const ref = this.refs[idx];
    const lo = { frameSize: this.opts.frameSize, maskMode: this.opts.maskMode };
    const t0 = performance.now();
    const s = this.opts.cache ? await this.opts.cache.get(ref, lo) : await loadSample(ref, lo);
    this.stats.decodeMs += performance.now() - t0;
    return s;
  }

  /** Loads the item at position i of epoch e; a failing file is reported and the next one used. */
  private async item(e: number, i: number, augment: boolean): Promise<Sample> {
    const order = this.epochOrder(e);
    const n = order.length;
    for (let k = 0; k < n; k++) {
      const idx = order[(i + k) % n];
      if (this.failed.has(idx)) continue;
      let s: Sample;
      try {
        s = await this.decode(idx);
      } catch (err) {
        if (this.opts.strict || !(err instanceof DataError)) throw err;
        // items of one batch load in parallel and may hit the same bad file: report it once
        if (!this.failed.has(idx)) {
          this.failed.add(idx);
          this.stats.failed.push(this.refs[idx].imagePath);
          this.opts.log?.(`skip ${err.message}`);
        }
        continue;
      }
      if (augment && this.opts.augmentPool) {
        const t0 = performance.now();
        s = await this.opts.augmentPool.run(s, makeRng(this.opts.seed).fork(`e${e}/i${i}`).seed);
        this.stats.augmentMs += performance.now() - t0;
      } else if (augment && this.opts.augment) {
        const t0 = performance.now();
        s = this.opts.augment(s, makeRng(this.opts.seed).fork(`e${e}/i${i}`));
        this.stats.augmentMs += performance.now() - t0;
      }
      this.stats.samples++;
      return s;
    }
    throw new DataError(this.refs[0].imagePath, 'every sample of the dataset failed to load');
  }

  private assemble(samples: Sample[]): HostBatch {
    const [h, w] = this.opts.frameSize;
    const b = samples.length;
    const px = h * w;
    const images = new Float32Array(b * px * 3);
    const masks = new Float32Array(b * px);
    const hasMask = new Uint8Array(b);
    const k = 1 / 255;
    samples.forEach((s, j) => {
      if (s.image.width !== w || s.image.height !== h || (s.mask && (s.mask.width !== w || s.mask.height !== h))) {
        throw new Error(`DataLoader: sample ${s.id} is ${s.image.width}x${s.image.height} after augmentation, expected ${w}x${h}`);
      }
      const src = s.image.data;
      const o = j * px * 3;
      for (let t = 0; t < px * 3; t++) images[o + t] = src[t] * k;
      if (s.mask) {
        hasMask[j] = 1;
        const m = s.mask.data;
        const om = j * px;
        for (let t = 0; t < px; t++) masks[om + t] = m[t] * k;
      }
    });
    return { size: b, height: h, width: w, images, masks, hasMask, ids: samples.map((s) => s.id) };
  }

  /** Training batch number `k` (deterministic; see the file comment). */
  async batch(k: number): Promise<HostBatch> {
    const n = this.refs.length;
    const bs = this.opts.batchSize;
    const items: Promise<Sample>[] = [];
    for (let j = 0; j < bs; j++) {
      const g = k * bs + j;
      items.push(this.item(Math.floor(g / n), g % n, true));
    }
    return this.assemble(await Promise.all(items));
  }

  /** Infinite prefetched training batches from batch `fromBatch` on. */
  async *stream(fromBatch = 0): AsyncIterableIterator<HostBatch> {
    const ahead = Math.max(1, this.opts.prefetch + 1);
    const pending: Promise<HostBatch>[] = [];
    let next = fromBatch;
    for (;;) {
      while (pending.length < ahead) {
        const p = this.batch(next++);
        p.catch(() => undefined); // surfaced when awaited below
        pending.push(p);
      }
      yield await pending.shift()!;
    }
  }

  /** One ordered pass without augmentation (validation); the last batch may be smaller. */
  async *once(batchSize = this.opts.batchSize): AsyncIterableIterator<HostBatch> {
    const n = this.refs.length;
    const load = async (start: number): Promise<HostBatch | null> => {
      const out: Sample[] = [];
      const got = await Promise.all(
        Array.from({ length: Math.min(batchSize, n - start) }, async (_, j) => {
          const idx = start + j;
          if (this.failed.has(idx)) return null;
          try {
            return await this.decode(idx);
          } catch (err) {
            if (this.opts.strict || !(err instanceof DataError)) throw err;
            // reported once, not on every validation pass
            this.failed.add(idx);
            this.stats.failed.push(this.refs[idx].imagePath);
            this.opts.log?.(`skip ${err.message}`);
            return null;
          }
        }),
      );
      for (const s of got) if (s) out.push(s);
      return out.length ? this.assemble(out) : null;
    };
    const pending: Promise<HostBatch | null>[] = [];
    let start = 0;
    const ahead = Math.max(1, this.opts.prefetch + 1);
    while (start < n || pending.length) {
      while (pending.length < ahead && start < n) {
        const p = load(start);
        p.catch(() => undefined);
        pending.push(p);
        start += batchSize;
      }
      const b = await pending.shift()!;
      if (b) yield b;
    }
  }
}
