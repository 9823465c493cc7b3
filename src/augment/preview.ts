/**
 * Augmentation preview: a grid of (original | augmented) pairs with the mask outline drawn
 * on both, so a person can check at a glance that masks follow the image and that
 * background swaps look natural.
 */
import type { Config } from '../config/config';
import { openDataset } from '../data/dataset';
import { DataError } from '../data/errors';
import { loadSample } from '../data/sample';
import { synthSample } from '../data/synth';
import type { Sample } from '../data/types';
import { writePng, type GrayImage, type RgbImage } from '../util/image';
import { makeRng, type Rng } from '../util/rng';
import { loadBackgrounds } from './background';
import { buildPipeline, type Transform } from './registry';

export interface PreviewOptions {
  /** The pipeline to preview (e.g. buildPipeline(cfg.augment.train, ctx)). */
  transform: Transform;
  /** Sample i is augmented with rng.fork(i), so the grid is reproducible. */
  rng: Rng;
  /** Pairs per grid row (default: about square). */
  columns?: number;
  /** Outline colour (default bright green). */
  outline?: [number, number, number];
  /** Gap between cells in pixels (default 4). */
  gap?: number;
}

/** Copy of `img` with the boundary of `mask` (>= 128 vs < 128) drawn in `color`; thicker on large images. */
export function drawOutline(img: RgbImage, mask: GrayImage | null, color: [number, number, number]): RgbImage {
  const out = new Uint8Array(img.data);
  if (!mask) return { width: img.width, height: img.height, data: out };
  const W = img.width;
  const H = img.height;
  const m = mask.data;
  const both = Math.min(W, H) >= 160; // draw on both sides of the edge: 2 px line
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const inside = m[i] >= 128;
      if (!inside && !both) continue;
      let edge = false;
      if (x > 0 && m[i - 1] >= 128 !== inside) edge = true;
      else if (x < W - 1 && m[i + 1] >= 128 !== inside) edge = true;
      else if (y > 0 && m[i - W] >= 128 !== inside) edge = true;
      else if (y < H - 1 && m[i + W] >= 128 !== inside) edge = true;
      if (edge) {
        out[i * 3] = color[0];
        out[i * 3 + 1] = color[1];
        out[i * 3 + 2] = color[2];
      }
    }
  }
  return { width: W, height: H, data: out };
}

function blit(dst: RgbImage, src: RgbImage, ox: number, oy: number): void {
  for (let y = 0; y < src.height; y++) {
    const dy = oy + y;
    if (dy < 0 || dy >= dst.height) continue;
    const w = Math.min(src.width, dst.width - ox);
    if (w <= 0) continue;
    dst.data.set(src.data.subarray(y * src.width * 3, (y * src.width + w) * 3), (dy * dst.width + ox) * 3);
  }
}

/**
 * Renders the preview grid. Each cell is the original sample and, to its right, the
 * augmented one, both with their mask outlines. Returns the grid as one RGB image.
 */
export function renderPreview(samples: Sample[], opts: PreviewOptions): RgbImage {
  if (samples.length === 0) throw new Error('renderPreview: no samples');
  const gap = opts.gap ?? 4;
  const color = opts.outline ?? [0, 255, 0];
  const cellW = Math.max(...samples.map((s) => s.image.width));
  const cellH = Math.max(...samples.map((s) => s.image.height));
  const pairW = 2 * cellW + gap;
  const cols = Math.max(1, Math.min(samples.length, opts.columns ?? Math.ceil(Math.sqrt(samples.length * 1.5))));
  const rows = Math.ceil(samples.length / cols);
  const W = cols * pairW + (cols + 1) * gap * 2;
  const H = rows * cellH + (rows + 1) * gap * 2;
  const grid: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(32) };
  samples.forEach((s, i) => {
    const aug = opts.transform(s, opts.rng.fork(i));
    const ox = gap * 2 + (i % cols) * (pairW + gap * 2);
    const oy = gap * 2 + Math.floor(i / cols) * (cellH + gap * 2);
    blit(grid, drawOutline(s.image, s.mask, color), ox, oy);
    blit(grid, drawOutline(aug.image, aug.mask, color), ox + cellW + gap, oy);
  });
  return grid;
}

/** `count` samples of a dataset picked by seed, at the frame size; unreadable ones are named and skipped. */
async function loadSomeSamples(dataPath: string, count: number, frameSize: [number, number], maskMode: 'binary' | 'soft', seed: number, log: (l: string) => void): Promise<Sample[]> {
  const ds = await openDataset(dataPath, { log });
  const refs = makeRng(seed).fork('preview-pick').shuffle([...ds.refs]);
  const out: Sample[] = [];
  for (const ref of refs) {
    if (out.length >= count) break;
    try {
      out.push(await loadSample(ref, { frameSize, maskMode }));
    } catch (e) {
      log(`skipping ${ref.imagePath}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (out.length === 0) throw new DataError(dataPath, 'no sample could be loaded');
  return out;
}

/** Synthetic samples (src/data/synth) for when no dataset is given. */
function synthSamples(count: number, frameSize: [number, number], seed: number): Sample[] {
  const rng = makeRng(seed).fork('preview-synth');
  const [h, w] = frameSize;
  return Array.from({ length: count }, (_, i) => synthSample(rng.fork(i), w, h, `synth-${i}`));
}

/**
 * Background photos (cfg.data.backgrounds) and `count` frames at cfg.data.frameSize: from
 * cfg.data.path picked by cfg.seed, else synthetic. A dataset none of whose picks loads is a
 * DataError naming it.
 */
export async function previewInputs(cfg: Config, count: number, log: (l: string) => void = () => {}): Promise<{ backgrounds: RgbImage[]; samples: Sample[] }> {
  const backgrounds = cfg.data.backgrounds ? await loadBackgrounds(cfg.data.backgrounds, 512) : [];
  const samples = cfg.data.path
    ? await loadSomeSamples(cfg.data.path, count, cfg.data.frameSize, cfg.data.maskMode, cfg.seed, log)
    : synthSamples(count, cfg.data.frameSize, cfg.seed);
  return { backgrounds, samples };
}

/**
 * What `portraitseg augment preview` writes: `count` frames of the config's data through its
 * training pipeline (cfg.augment.train), seeded by cfg.seed, as one PNG grid at `out`.
 */
export async function writeAugmentPreview(cfg: Config, out: string, count: number, log: (l: string) => void = () => {}): Promise<{ samples: number; backgrounds: number; loadMs: number; renderMs: number }> {
  const t0 = Date.now();
  const { backgrounds, samples } = await previewInputs(cfg, count, log);
  const t1 = Date.now();
  const pipeline = buildPipeline(cfg.augment.train, { backgrounds });
  const grid = renderPreview(samples, { transform: pipeline, rng: makeRng(cfg.seed).fork('preview') });
  const t2 = Date.now();
  await writePng(out, grid.data, grid.width, grid.height, 3);
  return { samples: samples.length, backgrounds: backgrounds.length, loadMs: t1 - t0, renderMs: t2 - t1 };
}
