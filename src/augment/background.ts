/**
 * Background swap: cut the person out with its mask and composite it onto a random crop of
 * another background, so a model cannot learn "person = whatever is not this wall".
 *
 * The seam must not be a giveaway (a model learns seams fast), so the composite uses the
 * compositor's usual tricks:
 *  - a feathered alpha (the mask blurred by ~1 px at 128 px) instead of a hard cut;
 *  - colour matching: the person's per-channel mean/std is moved part of the way towards the
 *    new background's (Reinhard et al. 2001, "Color transfer between images", in RGB);
 *  - light wrap: blurred background light bleeds onto the person's rim (a standard
 *    compositing technique, e.g. Nuke's LightWrap node), strongest at the edge;
 *  - optional background defocus, since video-call backgrounds are rarely in sharp focus.
 * The mask is returned unchanged (the person has not moved).
 */
import { z } from '../config/schema';
import { proceduralBackground } from '../data/synth';
import type { Sample } from '../data/types';
import type { RgbImage } from '../util/image';
import type { Rng } from '../util/rng';
import { boxBlur, gaussianBlur, toBytes } from './raster';

/** The parameters of `backgroundSwap` (checked and listed by the transform registry). */
export const BACKGROUND_SWAP_PARAMS = z.object({
  feather: z.number().min(0).max(0.1).default(0.008).describe('edge softness: alpha blur sigma as a fraction of the shorter side'),
  lightWrap: z.number().min(0).max(1).default(0.3).describe('strength of background light bleeding onto the person rim (0 = off)'),
  lightWrapWidth: z.number().min(0).max(0.2).default(0.015).describe('light-wrap width as a fraction of the shorter side'),
  colorMatch: z
    .number()
    .min(0)
    .max(1)
    .default(0.4)
    .describe('how far the person colour cast (mean chroma; luma at 30%) and contrast move towards the background (0 = off)'),
  minCrop: z.number().min(0.05).max(1).default(0.4).describe('smallest background crop, as a fraction of the largest crop with the frame aspect'),
  defocus: z.number().min(0).max(0.1).default(0.01).describe('maximum background defocus blur sigma as a fraction of the shorter side'),
  choke: z
    .number()
    .min(0)
    .max(0.9)
    .default(0.25)
    .describe('pull the cut inward so coarse masks leave the old background behind (alpha = (blurred - choke) / (1 - choke))'),
  edgeClean: z.number().min(0).max(1).default(0.7).describe('edge decontamination: rim pixels take this much of the colour just inside the person'),
});
export type BackgroundSwapParams = z.output<typeof BACKGROUND_SWAP_PARAMS>;

export type ProceduralBackground = (rng: Rng, width: number, height: number) => RgbImage;

// ---------------------------------------------------------------------------------------
// Background sampling

const PYRAMIDS = new WeakMap<RgbImage, RgbImage[]>();

function halve(img: RgbImage): RgbImage {
  const w = Math.max(1, img.width >> 1);
  const h = Math.max(1, img.height >> 1);
  const out = new Uint8Array(w * h * 3);
  const s = img.data;
  const W = img.width;
  for (let y = 0; y < h; y++) {
    const y0 = Math.min(img.height - 1, 2 * y);
    const y1 = Math.min(img.height - 1, 2 * y + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.min(W - 1, 2 * x);
      const x1 = Math.min(W - 1, 2 * x + 1);
      for (let c = 0; c < 3; c++) {
        out[(y * w + x) * 3 + c] = (s[(y0 * W + x0) * 3 + c] + s[(y0 * W + x1) * 3 + c] + s[(y1 * W + x0) * 3 + c] + s[(y1 * W + x1) * 3 + c] + 2) >> 2;
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** Mip pyramid of a background (cached per image): downscaling by more than 2x samples a prefiltered level, so crops do not alias. */
function pyramid(img: RgbImage): RgbImage[] {
  let p = PYRAMIDS.get(img);
  if (!p) {
    p = [img];
    while (p.length < 8 && p[p.length - 1].width >= 16 && p[p.length - 1].height >= 16) p.push(halve(p[p.length - 1]));
    PYRAMIDS.set(img, p);
  }
  return p;
}

/**
 * Samples the crop (x0, y0, cw, ch) of `bg` (level-0 pixels) into a W x H float RGB buffer,
 * bilinearly from the pyramid level that keeps the step below 2 source pixels.
 */
export function sampleCrop(bg: RgbImage, x0: number, y0: number, cw: number, ch: number, W: number, H: number, flip: boolean): Float32Array {
  const levels = pyramid(bg);
  const step = Math.max(cw / W, ch / H);
  let L = 0;
  while (L + 1 < levels.length && step / 2 ** (L + 1) >= 1) L++;
  const img = levels[L];
  const k = 2 ** L;
  const sw = img.width;
  const sh = img.height;
  const src = img.data;
  const fxs = cw / W / k;
  const out = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    let sy = (y0 + (y + 0.5) * (ch / H)) / k - 0.5;
    sy = sy < 0 ? 0 : sy > sh - 1 ? sh - 1 : sy;
    const iy = Math.min(sh - 2, Math.floor(sy));
    const ty = sh === 1 ? 0 : sy - iy;
    for (let x = 0; x < W; x++) {
      const xo = flip ? W - 1 - x : x;
      let sx = x0 / k + (xo + 0.5) * fxs - 0.5;
      sx = sx < 0 ? 0 : sx > sw - 1 ? sw - 1 : sx;
      const ix = Math.min(sw - 2, Math.floor(sx));
      const tx = sw === 1 ? 0 : sx - ix;
      const i00 = (Math.max(0, iy) * sw + Math.max(0, ix)) * 3;
      const i10 = i00 + (sw > 1 ? 3 : 0);
      const i01 = i00 + (sh > 1 ? sw * 3 : 0);
      const i11 = i01 + (sw > 1 ? 3 : 0);
      const o = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = (1 - ty) * ((1 - tx) * src[i00 + c] + tx * src[i10 + c]) + ty * ((1 - tx) * src[i01 + c] + tx * src[i11 + c]);
      }
    }
  }
  return out;
}

/** A random crop of a random background, with the frame's aspect ratio, maybe mirrored. */
function randomBackground(rng: Rng, backgrounds: RgbImage[], W: number, H: number, minCrop: number, procedural: ProceduralBackground): Float32Array {
  if (backgrounds.length === 0) {
    const g = procedural(rng.fork('procedural'), W, H);
    const f = new Float32Array(g.data.length);
    for (let i = 0; i < f.length; i++) f[i] = g.data[i];
    return f;
  }
  const bg = rng.pick(backgrounds);
  const aspect = W / H;
  let maxW: number, maxH: number;
  if (bg.width / bg.height > aspect) {
    maxH = bg.height;
    maxW = bg.height * aspect;
  } else {
    maxW = bg.width;
    maxH = bg.width / aspect;
  }
  const sc = rng.uniform(Math.min(1, minCrop), 1);
  const cw = maxW * sc;
  const ch = maxH * sc;
  const x0 = rng.uniform(0, bg.width - cw);
  const y0 = rng.uniform(0, bg.height - ch);
  return sampleCrop(bg, x0, y0, cw, ch, W, H, rng.chance(0.5));
}

// ---------------------------------------------------------------------------------------
// Compositing

const LUMA_W = [0.299, 0.587, 0.114];

/** Per-channel mean and std of `img` weighted by `w` (null = uniform weights). */
function stats(img: Float32Array | Uint8Array, w: Float32Array | null): { mean: number[]; std: number[]; weight: number } {
  const n = img.length / 3;
  const s = [0, 0, 0];
  const s2 = [0, 0, 0];
  let tw = 0;
  for (let i = 0; i < n; i++) {
    const a = w ? w[i] : 1;
    if (a <= 0) continue;
    tw += a;
    for (let c = 0; c < 3; c++) {
      const v = img[i * 3 + c];
      s[c] += a * v;
      s2[c] += a * v * v;
    }
  }
  const mean = s.map((v) => (tw > 0 ? v / tw : 0));
  const std = s2.map((v, c) => (tw > 0 ? Math.sqrt(Math.max(0, v / tw - mean[c] * mean[c])) : 0));
  return { mean, std, weight: tw };
}

/**
 * Composites the person of `s` onto `bg` (float RGB, same size). Deterministic given `bg`;
 * exported for tests. Returns the new image; the caller keeps the mask.
 */
export function compositeOnto(s: Sample, bg: Float32Array, p: BackgroundSwapParams): RgbImage {
  const W = s.image.width;
  const H = s.image.height;
  const n = W * H;
  const short = Math.min(W, H);
  const mask = s.mask!.data;
  const alpha0 = new Float32Array(n);
  for (let i = 0; i < n; i++) alpha0[i] = mask[i] / 255;

  // colour matching (Reinhard-style mean/std transfer, partial)
  const person = new Float32Array(n * 3);
  const img = s.image.data;
  const ps = stats(img, alpha0);
  const bs = stats(bg, null);
  const gain = [1, 1, 1];
  const shift = [0, 0, 0];
  if (p.colorMatch > 0 && ps.weight > 0) {
    // Same light falls on person and scene, but a bright wall does not make a face bright:
    // move the chroma (colour cast) of the mean fully, its luma only a little, and scale the
    // contrast by the luma std ratio (one gain for all channels, so no new cast).
    const d = [0, 1, 2].map((c) => bs.mean[c] - ps.mean[c]);
    const dl = LUMA_W[0] * d[0] + LUMA_W[1] * d[1] + LUMA_W[2] * d[2];
    const lumaStd = (st: { std: number[] }) => LUMA_W[0] * st.std[0] + LUMA_W[1] * st.std[1] + LUMA_W[2] * st.std[2];
    const ratio = lumaStd(ps) > 1 ? lumaStd(bs) / lumaStd(ps) : 1;
    const g = Math.min(1.1, Math.max(0.9, 1 + p.colorMatch * 0.5 * (ratio - 1)));
    for (let c = 0; c < 3; c++) {
      gain[c] = g;
      shift[c] = Math.max(-20, Math.min(20, p.colorMatch * (0.3 * dl + (d[c] - dl))));
    }
  }
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const o = i * 3 + c;
      person[o] = ps.mean[c] + gain[c] * (img[o] - ps.mean[c]) + shift[c];
    }
  }

  // edge decontamination ("edge extend"): rim pixels of a hand-drawn mask mix person and old
  // background; replace them partly by the normalised-convolution average of pixels fully inside.
  if (p.edgeClean > 0) {
    const r = Math.max(1, Math.round(0.012 * short));
    const near = boxBlur(alpha0, W, H, 1, r, 1);
    const inner = new Float32Array(n);
    const weighted = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const w = Math.min(1, Math.max(0, (near[i] - 0.9) / 0.1));
      inner[i] = w;
      weighted[i * 3] = person[i * 3] * w;
      weighted[i * 3 + 1] = person[i * 3 + 1] * w;
      weighted[i * 3 + 2] = person[i * 3 + 2] * w;
    }
    const num = boxBlur(weighted, W, H, 3, 2 * r, 1);
    const den = boxBlur(inner, W, H, 1, 2 * r, 1);
    for (let i = 0; i < n; i++) {
      const rim = p.edgeClean * alpha0[i] * (1 - inner[i]);
      if (rim <= 0 || den[i] < 1e-3) continue;
      for (let c = 0; c < 3; c++) {
        const o = i * 3 + c;
        person[o] += rim * (num[o] / den[i] - person[o]);
      }
    }
  }

  // light wrap: blurred background light on the person's rim
  if (p.lightWrap > 0) {
    const r = Math.max(1, Math.round(p.lightWrapWidth * short));
    const bgWide = boxBlur(bg, W, H, 3, r, 2);
    const aWide = boxBlur(alpha0, W, H, 1, r, 2);
    for (let i = 0; i < n; i++) {
      // inside the person near the edge: alpha ~ 1, wide alpha ~ 0.5 -> weight ~ strength
      const w = p.lightWrap * Math.min(1, Math.max(0, 2 * alpha0[i] * (1 - aWide[i])));
      if (w <= 0) continue;
      for (let c = 0; c < 3; c++) {
        const o = i * 3 + c;
        // screen blend: adds light, never darkens the person below the background's glow
        const a = person[o] / 255;
        const b = bgWide[o] / 255;
        const screen = 255 * (1 - (1 - a) * (1 - b));
        const mixed = 0.5 * screen + 0.5 * bgWide[o];
        person[o] += w * (mixed - person[o]);
      }
    }
  }

  const alpha = p.feather > 0 ? gaussianBlur(alpha0, W, H, 1, p.feather * short) : alpha0.slice();
  if (p.choke > 0) {
    const k = 1 / (1 - p.choke);
    for (let i = 0; i < n; i++) alpha[i] = Math.max(0, (alpha[i] - p.choke) * k);
  }
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = alpha[i];
    for (let c = 0; c < 3; c++) {
      const o = i * 3 + c;
      out[o] = a * person[o] + (1 - a) * bg[o];
    }
  }
  return { width: W, height: H, data: toBytes(out) };
}

export function backgroundSwap(
  s: Sample,
  rng: Rng,
  p: BackgroundSwapParams,
  backgrounds: RgbImage[],
  procedural: ProceduralBackground = proceduralBackground,
): Sample {
  if (!s.mask) return s; // unlabeled: we do not know where the person is
  const W = s.image.width;
  const H = s.image.height;
  let bg = randomBackground(rng, backgrounds, W, H, p.minCrop, procedural);
  if (p.defocus > 0) {
    // two box passes of radius r have sigma ~ sqrt(2 r (r + 1) / 3) (Wells 1986); cheaper than a gaussian here
    const sigma = rng.uniform(0, p.defocus) * Math.min(W, H);
    const r = Math.round((Math.sqrt(1 + 6 * sigma * sigma) - 1) / 2);
    if (r >= 1) bg = boxBlur(bg, W, H, 3, r, 2);
  }
  return { id: s.id, image: compositeOnto(s, bg, p), mask: s.mask };
}

export { loadBackgrounds } from '../data/backgrounds';
