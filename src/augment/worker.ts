/**
 * Worker-thread side of AugmentPool: builds the augment pipeline once from its (JSON) specs
 * and background folder, then augments samples posted to it. Randomness comes from the
 * rng seed string sent with each sample, so results equal the in-thread pipeline's.
 */
import { parentPort, workerData } from 'worker_threads';
import { loadBackgrounds } from './background';
import { buildPipeline } from './registry';
import type { Sample } from '../data/types';
import { makeRng } from '../util/rng';
import type { TransformSpec } from '../config/config';

interface Init {
  specs: TransformSpec[];
  backgrounds: string | null;
}

async function main(): Promise<void> {
  const init = workerData as Init;
  const backgrounds = init.backgrounds ? await loadBackgrounds(init.backgrounds) : [];
  const pipeline = buildPipeline(init.specs, { backgrounds });
  parentPort!.on('message', (m: { id: number; sample: Sample; seed: string }) => {
    try {
      const out = pipeline(m.sample, makeRng(m.seed));
      // transfer the result's buffers when they are whole (not slices of a shared pool)
      const whole = (d: Uint8Array) => d.byteOffset === 0 && d.byteLength === d.buffer.byteLength;
      const bufs = [out.image.data, ...(out.mask ? [out.mask.data] : [])];
      const transfer = bufs.every(whole) && new Set(bufs.map((d) => d.buffer)).size === bufs.length ? bufs.map((d) => d.buffer as ArrayBuffer) : [];
      parentPort!.postMessage({ id: m.id, sample: out }, transfer);
    } catch (e) {
      parentPort!.postMessage({ id: m.id, error: (e as Error).message });
    }
  });
  parentPort!.postMessage({ ready: true });
}

main().catch((e) => parentPort!.postMessage({ fatal: (e as Error).message }));
