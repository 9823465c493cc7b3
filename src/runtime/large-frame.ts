/**
 * Background blur and replacement of large frames (phone photos of 12-48 MP) at bounded
 * memory, in plain JS on typed arrays (no Node imports: the browser bundle uses it too).
 *
 * The tf path (./composite) holds several float32 tensors of the full frame at once
 * ([1,H,W,4] alone is 384 MB at 24 MP) and ran tfjs-wasm out of memory at 6000x4000. Here:
 * - the model runs on a copy of the frame downscaled (area average) to at most `maxPixels`
 *   (it resizes to its own inputSize anyway), and its mask is brought back bilinearly;
 * - the full-resolution work keeps one float per pixel (the mask) besides the input and
 *   output bytes: the feather is an in-place separable box filter, the background blur runs
 *   on the copy fastBlur downscales to anyway (built by sampling, never materialised at full
 *   size), and the final blend reads the low-resolution blur through on-the-fly bilinear
 *   upsampling.
 * The arithmetic follows ./composite step by step (same box sizes, same downscale factor,
 * tf's resizeBilinear with half-pixel centres, avgPool's valid-pixel averaging), so the two
 * paths agree to rounding; test/runtime/segmenter.test.ts compares them.
 */
import { DEFAULT_STRENGTH } from './composite';
import type { BlurOptions } from './composite';

export interface Bytes {
  width: number;
  height: number;
  /** row-major, 3 (RGB) or 4 (RGBA) bytes per pixel */
  data: Uint8Array | Uint8ClampedArray;
}

/** A one-channel float raster (mask probabilities in 0..1). */
export interface FloatGray {
  width: number;
  height: number;
  data: Float32Array;
}

/** Size that fits `maxPixels` (and `maxSize` [h, w] when given) keeping the aspect; never larger than the frame. */
export function fitSize(width: number, height: number, maxPixels: number, maxSize: [number, number] | null = null): [number, number] {
  let s = Math.min(1, Math.sqrt(maxPixels / (width * height)));
  if (maxSize) s = Math.min(s, maxSize[0] / height, maxSize[1] / width);
  return [Math.max(1, Math.floor(height * s)), Math.max(1, Math.floor(width * s))];
}

/**
 * Area-average downscale of RGB(A) bytes to [h, w], as float RGB in 0..1 ([h*w*3]): each
 * output pixel is the mean of the source pixels whose centres fall in its cell.
 */
export function downscaleToFloat(frame: Bytes, h: number, w: number): Float32Array {
  const { width: W, height: H, data } = frame;
  const c = data.length / (W * H);
  const out = new Float32Array(h * w * 3);
  const x0s = new Int32Array(w + 1);
  for (let j = 0; j <= w; j++) x0s[j] = Math.min(W, Math.floor((j * W) / w));
  const acc = new Float64Array(w * 3);
  for (let i = 0; i < h; i++) {
    const y0 = Math.floor((i * H) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((i + 1) * H) / h));
    acc.fill(0);
    for (let y = y0; y < y1; y++) {
      const row = y * W * c;
      for (let j = 0; j < w; j++) {
        const xa = x0s[j];
        const xb = Math.max(xa + 1, x0s[j + 1]);
        let r = 0;
        let g = 0;
        let b = 0;
        for (let x = xa, k = row + xa * c; x < xb; x++, k += c) {
          r += data[k];
          g += data[k + 1];
          b += data[k + 2];
        }
        acc[j * 3] += r;
        acc[j * 3 + 1] += g;
        acc[j * 3 + 2] += b;
      }
    }
    for (let j = 0; j < w; j++) {
      const n = (y1 - y0) * (Math.max(x0s[j] + 1, x0s[j + 1]) - x0s[j]) * 255;
      const o = (i * w + j) * 3;
      out[o] = acc[j * 3] / n;
      out[o + 1] = acc[j * 3 + 1] / n;
      out[o + 2] = acc[j * 3 + 2] / n;
    }
  }
  return out;
}

/** Source index pairs and weights of tf.image.resizeBilinear(alignCorners false, halfPixelCenters true) along one axis. */
function bilinearTaps(outN: number, inN: number): { lo: Int32Array; hi: Int32Array; frac: Float32Array } {
  const lo = new Int32Array(outN);
  const hi = new Int32Array(outN);
  const frac = new Float32Array(outN);
  const ratio = inN / outN;
  for (let i = 0; i < outN; i++) {
    const f = ratio * (i + 0.5) - 0.5;
    const a = Math.max(0, Math.floor(f));
    lo[i] = a;
    hi[i] = Math.min(inN - 1, Math.ceil(f));
    frac[i] = f - a;
  }
  return { lo, hi, frac };
}

/** Bilinear resize of a one-channel float raster (tf's half-pixel-centre formula). */
export function resizeGrayBilinear(src: FloatGray, height: number, width: number): Float32Array {
  const out = new Float32Array(height * width);
  const ty = bilinearTaps(height, src.height);
  const tx = bilinearTaps(width, src.width);
  const d = src.data;
  const sw = src.width;
  for (let i = 0; i < height; i++) {
    const top = ty.lo[i] * sw;
    const bot = ty.hi[i] * sw;
    const fy = ty.frac[i];
    for (let j = 0; j < width; j++) {
      const l = tx.lo[j];
      const r = tx.hi[j];
      const fx = tx.frac[j];
      const t = d[top + l] + (d[top + r] - d[top + l]) * fx;
      const b = d[bot + l] + (d[bot + r] - d[bot + l]) * fx;
      out[i * width + j] = t + (b - t) * fy;
    }
  }
  return out;
}

/**
 * In-place mean over a (2r+1) window along one axis of `channels`-interleaved data, valid
 * samples only (tf.avgPool 'same'). `line` walks `n` samples `stride` apart from `start`.
 */
function boxLine(a: Float32Array, start: number, n: number, stride: number, r: number, tmp: Float64Array): void {
  // prefix sums: tmp[k] = sum of the first k samples
  tmp[0] = 0;
  for (let k = 0, p = start; k < n; k++, p += stride) tmp[k + 1] = tmp[k] + a[p];
  for (let k = 0, p = start; k < n; k++, p += stride) {
    const lo = Math.max(0, k - r);
    const hi = Math.min(n - 1, k + r);
    a[p] = (tmp[hi + 1] - tmp[lo]) / (hi - lo + 1);
  }
}

/** Separable (2r+1)^2 box mean in place on [h, w, channels] float data (valid pixels only, like ./composite boxBlur). */
export function boxBlurInPlace(a: Float32Array, h: number, w: number, channels: number, r: number): void {
  if (r < 1) return;
  const tmp = new Float64Array(Math.max(h, w) + 1);
  for (let y = 0; y < h; y++) for (let c = 0; c < channels; c++) boxLine(a, y * w * channels + c, w, channels, r, tmp);
  for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) boxLine(a, x * channels + c, h, w * channels, r, tmp);
}

/** The full-resolution feathered mask: bilinear upsampling of the small mask, then ./composite featherMask. */
export function fullMask(small: FloatGray, height: number, width: number, edgeFeather: number): Float32Array {
  const m = small.width === width && small.height === height ? Float32Array.from(small.data) : resizeGrayBilinear(small, height, width);
  boxBlurInPlace(m, height, width, 1, Math.max(0, Math.round(edgeFeather)));
  return m;
}

/**
 * ./composite blurComposite on bytes: frame RGB(A) bytes, `m` the feathered full-resolution
 * mask ([H*W] in 0..1). Returns RGB bytes.
 */
export function blurBytes(frame: Bytes, m: Float32Array, opts: BlurOptions = {}): Uint8Array {
  const strength = opts.strength ?? DEFAULT_STRENGTH;
  const { width: W, height: H, data } = frame;
  const c = data.length / (W * H);
  const out = new Uint8ClampedArray(W * H * 3);
  const k = 1 / 255;
  if (strength < 0.5) {
    // fastBlur is the identity: bg = frame*inv / max(inv, 1e-3)
    for (let i = 0, p = 0; i < W * H; i++, p += c) {
      const mv = m[i];
      const inv = 1 - mv;
      const s = inv / Math.max(inv, 1e-3);
      for (let ch = 0; ch < 3; ch++) {
        const f = data[p + ch] * k;
        out[i * 3 + ch] = Math.min(1, Math.max(0, f * mv + f * s * inv)) * 255;
      }
    }
    return new Uint8Array(out.buffer);
  }
  // the low-resolution [frame*(1-m), 1-m] fastBlur works on
  const down = Math.max(1, Math.floor(strength / 3));
  const h = Math.max(1, Math.round(H / down));
  const w = Math.max(1, Math.round(W / down));
  const low = new Float32Array(h * w * 4);
  const premul = (y: number, x: number, ch: number): number => {
    const i = y * W + x;
    const inv = 1 - m[i];
    return ch === 3 ? inv : data[i * c + ch] * k * inv;
  };
  if (down > 1) {
    const ty = bilinearTaps(h, H);
    const tx = bilinearTaps(w, W);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        for (let ch = 0; ch < 4; ch++) {
          const tl = premul(ty.lo[i], tx.lo[j], ch);
          const tr = premul(ty.lo[i], tx.hi[j], ch);
          const bl = premul(ty.hi[i], tx.lo[j], ch);
          const br = premul(ty.hi[i], tx.hi[j], ch);
          const t = tl + (tr - tl) * tx.frac[j];
          const b = bl + (br - bl) * tx.frac[j];
          low[(i * w + j) * 4 + ch] = t + (b - t) * ty.frac[i];
        }
      }
    }
  } else {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let ch = 0; ch < 4; ch++) low[(y * W + x) * 4 + ch] = premul(y, x, ch);
  }
  const r = Math.max(1, Math.round(strength / down / 2));
  for (let pass = 0; pass < 3; pass++) boxBlurInPlace(low, h, w, 4, r);
  // blend, upsampling the blurred [num, den] on the fly
  const ty = down > 1 ? bilinearTaps(H, h) : null;
  const tx = down > 1 ? bilinearTaps(W, w) : null;
  const nd = new Float64Array(4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (ty && tx) {
        const top = ty.lo[y] * w;
        const bot = ty.hi[y] * w;
        const l = tx.lo[x];
        const rr = tx.hi[x];
        const fx = tx.frac[x];
        const fy = ty.frac[y];
        for (let ch = 0; ch < 4; ch++) {
          const tl = low[(top + l) * 4 + ch];
          const tr = low[(top + rr) * 4 + ch];
          const bl = low[(bot + l) * 4 + ch];
          const br = low[(bot + rr) * 4 + ch];
          const t = tl + (tr - tl) * fx;
          const b = bl + (br - bl) * fx;
          nd[ch] = t + (b - t) * fy;
        }
      } else {
        for (let ch = 0; ch < 4; ch++) nd[ch] = low[(y * W + x) * 4 + ch];
      }
      const i = y * W + x;
      const mv = m[i];
      const inv = 1 - mv;
      const den = Math.max(nd[3], 1e-3);
      for (let ch = 0; ch < 3; ch++) {
        const f = data[i * c + ch] * k;
        out[i * 3 + ch] = Math.min(1, Math.max(0, f * mv + (nd[ch] / den) * inv)) * 255;
      }
    }
  }
  return new Uint8Array(out.buffer);
}

/** ./composite replaceComposite on bytes: the background (any size, RGB or RGBA) is stretched bilinearly to the frame's size on the fly. */
export function replaceBytes(frame: Bytes, m: Float32Array, background: Bytes): Uint8Array {
  const { width: W, height: H, data } = frame;
  const c = data.length / (W * H);
  const bw = background.width;
  const bh = background.height;
  const bd = background.data;
  const bc = bd.length / (bw * bh);
  const ty = bilinearTaps(H, bh);
  const tx = bilinearTaps(W, bw);
  const out = new Uint8ClampedArray(W * H * 3);
  const k = 1 / 255;
  for (let y = 0; y < H; y++) {
    const top = ty.lo[y] * bw;
    const bot = ty.hi[y] * bw;
    const fy = ty.frac[y];
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const mv = m[i];
      const l = tx.lo[x];
      const r = tx.hi[x];
      const fx = tx.frac[x];
      for (let ch = 0; ch < 3; ch++) {
        const tl = bd[(top + l) * bc + ch];
        const tr = bd[(top + r) * bc + ch];
        const bl = bd[(bot + l) * bc + ch];
        const br = bd[(bot + r) * bc + ch];
        const t = tl + (tr - tl) * fx;
        const b = bl + (br - bl) * fx;
        const bg = (t + (b - t) * fy) * k;
        out[i * 3 + ch] = Math.min(1, Math.max(0, data[i * c + ch] * k * mv + bg * (1 - mv))) * 255;
      }
    }
  }
  return new Uint8Array(out.buffer);
}

