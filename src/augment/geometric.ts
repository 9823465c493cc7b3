/**
 * Geometric transforms. Each one moves image and mask with the same map (mmsegmentation /
 * PaddleSeg practice, principle 7 in DEVELOPERS.md): the image is sampled bilinearly, the mask bilinearly
 * and then thresholded when it is binary (kept soft when it is an alpha matte).
 * The deterministic functions (`rotateSample`, `flipSample`, `scaleCropSample`) are exported
 * so tests can pin an exact angle / scale; the registry wraps them with random draws.
 */
import type { Sample } from '../data/types';
import { BorderMode, InverseAffine, isBinaryMask, warpAffine } from './raster';

function warpSample(s: Sample, m: InverseAffine, border: BorderMode, fill: number): Sample {
  const binary = s.mask ? isBinaryMask(s.mask) : false;
  const { image, mask } = warpAffine(s.image, s.mask, m, border, fill, binary);
  return { id: s.id, image, mask };
}

/**
 * Rotates by `degrees` counter-clockwise (as seen on screen) about the image centre; the
 * output keeps the input size, uncovered corners are filled by `border`.
 */
export function rotateSample(s: Sample, degrees: number, border: BorderMode = 'auto', fill = 0): Sample {
  if (degrees === 0) return s;
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cx = s.image.width / 2;
  const cy = s.image.height / 2;
  // forward (screen CCW with y down): dst = c + [[cos, sin], [-sin, cos]] (src - c); inverse is the transpose
  const m: InverseAffine = {
    a: cos,
    b: -sin,
    c: cx - cos * cx + sin * cy,
    d: sin,
    e: cos,
    f: cy - sin * cx - cos * cy,
  };
  return warpSample(s, m, border, fill);
}

/** Mirrors left-right (exact index mirror, no resampling). */
export function flipSample(s: Sample): Sample {
  const W = s.image.width;
  const H = s.image.height;
  const src = s.image.data;
  const out = new Uint8Array(src.length);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      const o = (row + x) * 3;
      const i = (row + W - 1 - x) * 3;
      out[o] = src[i];
      out[o + 1] = src[i + 1];
      out[o + 2] = src[i + 2];
    }
  }
  let mask = null;
  if (s.mask) {
    const md = s.mask.data;
    const mo = new Uint8Array(md.length);
    for (let y = 0; y < H; y++) {
      const row = y * W;
      for (let x = 0; x < W; x++) mo[row + x] = md[row + W - 1 - x];
    }
    mask = { width: W, height: H, data: mo };
  }
  return { id: s.id, image: { width: W, height: H, data: out }, mask };
}

/**
 * Zooms by `scale` about the centre (> 1 zooms in, < 1 zooms out and fills the border),
 * then shifts by (`shiftX`, `shiftY`) as fractions of the width / height (positive =
 * content moves right / down), and crops back to the input size.
 */
export function scaleCropSample(s: Sample, scale: number, shiftX: number, shiftY: number, border: BorderMode = 'auto', fill = 0): Sample {
  if (scale === 1 && shiftX === 0 && shiftY === 0) return s;
  const W = s.image.width;
  const H = s.image.height;
  const cx = W / 2;
  const cy = H / 2;
  const tx = shiftX * W;
  const ty = shiftY * H;
  // forward: dst = c + scale (src - c) + t  =>  src = c + (dst - c - t) / scale
  const inv = 1 / scale;
  const m: InverseAffine = { a: inv, b: 0, c: cx - (cx + tx) * inv, d: 0, e: inv, f: cy - (cy + ty) * inv };
  return warpSample(s, m, border, fill);
}
