/**
 * Writes a synthetic dataset folder (images/, masks/, unlabeled/images/).
 */
import * as path from 'path';
import type { GrayImage } from '../../util/image';
import { writeJpeg, writePng } from '../../util/image';
import { makeRng } from '../../util/rng';
import { loadBackgrounds } from '../backgrounds';
import { synthSample } from './sample';

export interface WriteSynthOptions {
  count: number;
  seed: number | string;
  width: number;
  height: number;
  /** Folder of background photos (jpg/png); null or absent = procedural backgrounds. */
  backgrounds?: string | null;
  /** Also write this many unlabeled images under unlabeled/images/. */
  unlabeled?: number;
  /** Called after each written sample with (done, total). */
  progress?: (done: number, total: number) => void;
}

export interface SynthDatasetInfo {
  dir: string;
  count: number;
  unlabeled: number;
  /** Mean person coverage (mask > 127) over the labeled samples. */
  meanCoverage: number;
}


/** Writes images/NNNN.jpg + masks/NNNN.png (and unlabeled/images/NNNN.jpg). Sample k uses makeRng(seed).fork(k). */
export async function writeSynthDataset(outDir: string, opts: WriteSynthOptions): Promise<SynthDatasetInfo> {
  const bgs = opts.backgrounds ? await loadBackgrounds(opts.backgrounds, 640) : [];
  const root = makeRng(opts.seed);
  const unl = opts.unlabeled ?? 0;
  const total = opts.count + unl;
  const digits = Math.max(4, String(Math.max(opts.count, unl)).length);
  let cov = 0;
  // encoding runs on libuv threads: keep a few writes in flight while the next sample is drawn
  const inflight = new Set<Promise<void>>();
  let done = 0;
  const write = async (p: Promise<unknown>) => {
    const q: Promise<void> = p.then(() => {
      inflight.delete(q);
      opts.progress?.(++done, total);
    });
    inflight.add(q);
    if (inflight.size >= 6) await Promise.race(inflight);
  };
  for (let k = 0; k < opts.count; k++) {
    const s = synthSample(root.fork(k), { width: opts.width, height: opts.height, backgrounds: bgs });
    const name = String(k).padStart(digits, '0');
    cov += coverage(s.mask!);
    await write(Promise.all([writeJpeg(path.join(outDir, 'images', `${name}.jpg`), s.image, 92), writePng(path.join(outDir, 'masks', `${name}.png`), s.mask!.data, opts.width, opts.height, 1)]));
  }
  for (let k = 0; k < unl; k++) {
    const s = synthSample(root.fork(`u${k}`), { width: opts.width, height: opts.height, backgrounds: bgs });
    await write(writeJpeg(path.join(outDir, 'unlabeled', 'images', `${String(k).padStart(digits, '0')}.jpg`), s.image, 92));
  }
  await Promise.all(inflight);
  return { dir: outDir, count: opts.count, unlabeled: unl, meanCoverage: opts.count ? cov / opts.count : 0 };
}

/** Fraction of pixels with mask > 127. */
export function coverage(m: GrayImage): number {
  let on = 0;
  for (let i = 0; i < m.data.length; i++) if (m.data[i] > 127) on++;
  return on / m.data.length;
}
