/**
 * Low-level raster helpers for the transforms: affine warps with bilinear sampling and
 * border modes, separable blurs on float planes, and a small normal-deviate table.
 * Everything is typed-array loops over row-major HWC buffers (see src/util/image.ts),
 * because the whole pipeline must run at well over 100 img/s at 128x128 on one core.
 */
import type { GrayImage, RgbImage } from '../util/image';

/**
 * How pixels a warp uncovers are filled. `auto`: reflect left/right (scenery continues
 * plausibly) and replicate top/bottom (a body cut by the bottom edge continues downwards
 * instead of being mirrored into a second pair of shoulders, a head at the top is not
 * mirrored into a second head).
 */
export const BORDER_MODES = ['auto', 'reflect', 'replicate', 'constant'] as const;
export type BorderMode = (typeof BORDER_MODES)[number];
type AxisMode = Exclude<BorderMode, 'auto'>;

/**
 * Inverse affine map: for an output pixel centre (x + 0.5, y + 0.5) the source pixel centre is
 *   sx + 0.5 = a * (x + 0.5) + b * (y + 0.5) + c,   sy + 0.5 = d * (x + 0.5) + e * (y + 0.5) + f.
 */
export interface InverseAffine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

/** Maps an integer index into [0, n) by the border mode; -1 means "outside" (constant mode). */
function borderIndex(i: number, n: number, mode: AxisMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'constant') return -1;
  if (mode === 'replicate' || n === 1) return i < 0 ? 0 : n - 1;
  // reflect without repeating the edge pixel (OpenCV BORDER_REFLECT_101): -1 -> 1, n -> n - 2
  const period = 2 * n - 2;
  let j = i % period;
  if (j < 0) j += period;
  return j < n ? j : period - j;
}

/** True when every mask value is 0 or 255 (then warps threshold the mask back to binary). */
export function isBinaryMask(mask: GrayImage): boolean {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0 && d[i] !== 255) return false;
  return true;
}

/**
 * Warps an RGB image and (optionally) its mask with the same inverse affine map, so the
 * mask moves with the image exactly. Image: bilinear. Mask: bilinear, then thresholded at
 * 128 when `binaryMask` (soft mattes stay soft). Constant border fills the image with
 * `fill` and the mask with 0 (background).
 */
export function warpAffine(
  img: RgbImage,
  mask: GrayImage | null,
  m: InverseAffine,
  mode: BorderMode,
  fill: number,
  binaryMask: boolean,
): { image: RgbImage; mask: GrayImage | null } {
  const W = img.width;
  const H = img.height;
  const src = img.data;
  const msrc = mask ? mask.data : null;
  const out = new Uint8Array(W * H * 3);
  const mout = msrc ? new Uint8Array(W * H) : null;
  const modeX: AxisMode = mode === 'auto' ? 'reflect' : mode;
  const modeY: AxisMode = mode === 'auto' ? 'replicate' : mode;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++) {
      const xc = x + 0.5;
      const sx = m.a * xc + m.b * yc + m.c - 0.5;
      const sy = m.d * xc + m.e * yc + m.f - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = y * W + x;
      let ix0: number, ix1: number, iy0: number, iy1: number;
      if (x0 >= 0 && x0 + 1 < W && y0 >= 0 && y0 + 1 < H) {
        ix0 = x0;
        ix1 = x0 + 1;
        iy0 = y0;
        iy1 = y0 + 1;
      } else {
        ix0 = borderIndex(x0, W, modeX);
        ix1 = borderIndex(x0 + 1, W, modeX);
        iy0 = borderIndex(y0, H, modeY);
        iy1 = borderIndex(y0 + 1, H, modeY);
      }
      const w00 = (1 - fx) * (1 - fy);
      const w10 = fx * (1 - fy);
      const w01 = (1 - fx) * fy;
      const w11 = fx * fy;
      const p00 = ix0 >= 0 && iy0 >= 0 ? iy0 * W + ix0 : -1;
      const p10 = ix1 >= 0 && iy0 >= 0 ? iy0 * W + ix1 : -1;
      const p01 = ix0 >= 0 && iy1 >= 0 ? iy1 * W + ix0 : -1;
      const p11 = ix1 >= 0 && iy1 >= 0 ? iy1 * W + ix1 : -1;
      for (let c = 0; c < 3; c++) {
        const v =
          w00 * (p00 >= 0 ? src[p00 * 3 + c] : fill) +
          w10 * (p10 >= 0 ? src[p10 * 3 + c] : fill) +
          w01 * (p01 >= 0 ? src[p01 * 3 + c] : fill) +
          w11 * (p11 >= 0 ? src[p11 * 3 + c] : fill);
        out[o * 3 + c] = v + 0.5; // Uint8Array assignment truncates; values stay in 0..255
      }
      if (msrc && mout) {
        const v =
          w00 * (p00 >= 0 ? msrc[p00] : 0) +
          w10 * (p10 >= 0 ? msrc[p10] : 0) +
          w01 * (p01 >= 0 ? msrc[p01] : 0) +
          w11 * (p11 >= 0 ? msrc[p11] : 0);
        mout[o] = binaryMask ? (v >= 127.5 ? 255 : 0) : v + 0.5;
      }
    }
  }
  return { image: { width: W, height: H, data: out }, mask: mout ? { width: W, height: H, data: mout } : null };
}

/** 1-D gaussian kernel with radius ceil(2.5 sigma) (the cut tails hold < 1.3% of the mass), normalised. */
function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + r] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * Separable gaussian blur of an interleaved float buffer with `ch` channels (edges
 * replicated). Returns a new buffer; sigma <= 0.05 returns a copy.
 * Rows are convolved through an edge-padded copy and columns row-by-row, so the inner loops
 * run over contiguous memory without bounds checks.
 */
export function gaussianBlur(src: Float32Array, W: number, H: number, ch: number, sigma: number): Float32Array {
  if (sigma <= 0.05) return src.slice();
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) >> 1;
  const taps = k.length;
  const rowLen = W * ch;
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const pad = new Float32Array((W + 2 * r) * ch);
  for (let y = 0; y < H; y++) {
    const base = y * rowLen;
    // padded row: [edge x r][row][edge x r]
    for (let i = 0; i < r; i++) {
      for (let c = 0; c < ch; c++) {
        pad[i * ch + c] = src[base + c];
        pad[(r + W + i) * ch + c] = src[base + (W - 1) * ch + c];
      }
    }
    pad.set(src.subarray(base, base + rowLen), r * ch);
    for (let j = 0; j < rowLen; j++) {
      let acc = 0;
      for (let t = 0; t < taps; t++) acc += k[t] * pad[j + t * ch];
      tmp[base + j] = acc;
    }
  }
  for (let y = 0; y < H; y++) {
    const ob = y * rowLen;
    for (let t = 0; t < taps; t++) {
      let yy = y + t - r;
      yy = yy < 0 ? 0 : yy >= H ? H - 1 : yy;
      const ib = yy * rowLen;
      const w = k[t];
      for (let j = 0; j < rowLen; j++) out[ob + j] += w * tmp[ib + j];
    }
  }
  return out;
}

/**
 * Box blur (running sums, cost independent of the radius) of an interleaved float buffer,
 * edges replicated. Repeated passes approach a gaussian (Wells 1986: n passes of radius r
 * give sigma ~ r * sqrt(n / 3)). Column sums are kept per row so memory is walked in order.
 */
export function boxBlur(src: Float32Array, W: number, H: number, ch: number, radius: number, passes = 2): Float32Array {
  const cur = src.slice();
  if (radius < 1) return cur;
  const r = Math.round(radius);
  const norm = 1 / (2 * r + 1);
  const rowLen = W * ch;
  const tmp = new Float32Array(src.length);
  const acc = new Float64Array(rowLen);
  const pad = new Float32Array((W + 2 * r) * ch);
  for (let p = 0; p < passes; p++) {
    // horizontal: cur -> tmp, through an edge-padded copy of the row (no bounds checks inside)
    for (let y = 0; y < H; y++) {
      const row = y * rowLen;
      for (let i = 0; i < r; i++) {
        for (let c = 0; c < ch; c++) {
          pad[i * ch + c] = cur[row + c];
          pad[(r + W + i) * ch + c] = cur[row + (W - 1) * ch + c];
        }
      }
      pad.set(cur.subarray(row, row + rowLen), r * ch);
      for (let c = 0; c < ch; c++) {
        let a = 0;
        for (let i = 0; i < 2 * r + 1; i++) a += pad[i * ch + c];
        // output x uses pad[x .. x + 2r]; slide by adding pad[x + 2r + 1] and dropping pad[x]
        let j = row + c;
        let hi = (2 * r + 1) * ch + c;
        let lo = c;
        for (let x = 0; x < W; x++) {
          tmp[j] = a * norm;
          if (x + 1 < W) a += pad[hi] - pad[lo];
          j += ch;
          hi += ch;
          lo += ch;
        }
      }
    }
    // vertical: tmp -> cur, a running sum of rows
    acc.fill(0);
    for (let i = -r; i <= r; i++) {
      const rb = (i < 0 ? 0 : i >= H ? H - 1 : i) * rowLen;
      for (let j = 0; j < rowLen; j++) acc[j] += tmp[rb + j];
    }
    for (let y = 0; y < H; y++) {
      const ob = y * rowLen;
      for (let j = 0; j < rowLen; j++) cur[ob + j] = acc[j] * norm;
      const add = y + r + 1;
      const sub = y - r;
      const ab = (add >= H ? H - 1 : add) * rowLen;
      const sb = (sub < 0 ? 0 : sub) * rowLen;
      for (let j = 0; j < rowLen; j++) acc[j] += tmp[ab + j] - tmp[sb + j];
    }
  }
  return cur;
}

export function toFloat(data: Uint8Array): Float32Array {
  const f = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) f[i] = data[i];
  return f;
}

/** Rounds and clamps a float buffer in 0..255 units to bytes. */
export function toBytes(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i];
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v + 0.5;
  }
  return out;
}

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
function probit(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * 4096 evenly spaced normal quantiles: per-pixel noise draws one uniform and looks up a
 * deviate, instead of Box-Muller's log/cos (a few times faster, same distribution up to
 * the table's resolution, which is far below 8-bit quantisation).
 */
export const NORMAL_TABLE: Float32Array = (() => {
  const n = 4096;
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = probit((i + 0.5) / n);
  return t;
})();
