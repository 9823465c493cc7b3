/**
 * Photometric transforms: they change the image only (the mask is passed through
 * untouched), so they apply to unlabeled samples the same way.
 */
import { z } from '../config/schema';
import type { Sample } from '../data/types';
import type { RgbImage } from '../util/image';
import type { Rng } from '../util/rng';
import { gaussianBlur, NORMAL_TABLE, toBytes, toFloat } from './raster';

/** Rec. 601 luma weights. */
const LUMA = [0.299, 0.587, 0.114] as const;

type Mat3 = [number, number, number, number, number, number, number, number, number];

function mul(a: Mat3, b: Mat3): Mat3 {
  const o = new Array<number>(9) as Mat3;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) o[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return o;
}

export interface ColorJitterAmounts {
  /** Multiplicative brightness factor (1 = unchanged). */
  brightness: number;
  /** Contrast factor around the mean luma (1 = unchanged). */
  contrast: number;
  /** Saturation factor (0 = grey, 1 = unchanged). */
  saturation: number;
  /** Hue rotation in turns (0.05 = 18 degrees). */
  hue: number;
  /** Colour temperature: > 0 warmer (more red, less blue). */
  temperature: number;
  /** Tint: > 0 greener. */
  tint: number;
}

/**
 * Applies white balance, brightness, contrast, saturation and hue as ONE 3x3 colour
 * matrix plus offset (they are all linear in RGB), in a single pass over the pixels.
 * Hue rotates the chroma plane of YIQ (the classic linear hue-rotation matrix).
 */
export function colorJitterImage(img: RgbImage, a: ColorJitterAmounts): RgbImage {
  const d = img.data;
  const n = img.width * img.height;
  // mean luma of the input, for contrast
  let sum = 0;
  for (let i = 0; i < n; i++) sum += LUMA[0] * d[i * 3] + LUMA[1] * d[i * 3 + 1] + LUMA[2] * d[i * 3 + 2];
  const meanLuma = n > 0 ? sum / n : 0;

  const wb: Mat3 = [1 + a.temperature, 0, 0, 0, 1 + a.tint, 0, 0, 0, 1 - a.temperature];
  const br: Mat3 = [a.brightness, 0, 0, 0, a.brightness, 0, 0, 0, a.brightness];
  // contrast: out = mean + k (in - mean) applied to luma-preserving grey axis -> k I + offset
  const ct: Mat3 = [a.contrast, 0, 0, 0, a.contrast, 0, 0, 0, a.contrast];
  const sv = a.saturation;
  const sat: Mat3 = [
    sv + (1 - sv) * LUMA[0], (1 - sv) * LUMA[1], (1 - sv) * LUMA[2],
    (1 - sv) * LUMA[0], sv + (1 - sv) * LUMA[1], (1 - sv) * LUMA[2],
    (1 - sv) * LUMA[0], (1 - sv) * LUMA[1], sv + (1 - sv) * LUMA[2],
  ];
  const th = a.hue * 2 * Math.PI;
  const toYiq: Mat3 = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312];
  const fromYiq: Mat3 = [1, 0.956, 0.621, 1, -0.272, -0.647, 1, -1.106, 1.703];
  const rot: Mat3 = [1, 0, 0, 0, Math.cos(th), -Math.sin(th), 0, Math.sin(th), Math.cos(th)];
  const hue = mul(fromYiq, mul(rot, toYiq));
  // order of application: wb, brightness, contrast, saturation, hue (matrices compose right to left)
  const preContrast = mul(br, wb);
  const M = mul(hue, mul(sat, mul(ct, preContrast)));
  // contrast offset: (1 - k) * mean luma of the image after wb + brightness, pushed through sat and hue
  // (both preserve grey, so the offset stays grey).
  const meanAfter = meanLuma * a.brightness; // wb changes the mean only slightly; brightness scales it
  const off = (1 - a.contrast) * meanAfter;

  const out = new Uint8Array(d.length);
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8] = M;
  for (let i = 0; i < d.length; i += 3) {
    const r = d[i];
    const g = d[i + 1];
    const b = d[i + 2];
    const R = m0 * r + m1 * g + m2 * b + off;
    const G = m3 * r + m4 * g + m5 * b + off;
    const B = m6 * r + m7 * g + m8 * b + off;
    out[i] = R <= 0 ? 0 : R >= 255 ? 255 : R + 0.5;
    out[i + 1] = G <= 0 ? 0 : G >= 255 ? 255 : G + 0.5;
    out[i + 2] = B <= 0 ? 0 : B >= 255 ? 255 : B + 0.5;
  }
  return { width: img.width, height: img.height, data: out };
}

/** The parameters of `colorJitter` (checked and listed by the transform registry). */
export const COLOR_JITTER_PARAMS = z.object({
  brightness: z.number().min(0).max(1).default(0.25).describe('brightness factor drawn in [1 - b, 1 + b]'),
  contrast: z.number().min(0).max(1).default(0.25).describe('contrast factor drawn in [1 - c, 1 + c]'),
  saturation: z.number().min(0).max(1).default(0.25).describe('saturation factor drawn in [1 - s, 1 + s]'),
  hue: z.number().min(0).max(0.5).default(0.04).describe('hue rotation drawn in [-h, h] turns'),
  whiteBalance: z.number().min(0).max(0.5).default(0.1).describe('colour temperature gain drawn in [-w, w] (red up / blue down), tint half that'),
});
export type ColorJitterParams = z.output<typeof COLOR_JITTER_PARAMS>;

export function colorJitter(s: Sample, rng: Rng, p: ColorJitterParams): Sample {
  const amounts: ColorJitterAmounts = {
    brightness: 1 + rng.uniform(-p.brightness, p.brightness),
    contrast: 1 + rng.uniform(-p.contrast, p.contrast),
    saturation: 1 + rng.uniform(-p.saturation, p.saturation),
    hue: rng.uniform(-p.hue, p.hue),
    temperature: rng.uniform(-p.whiteBalance, p.whiteBalance),
    tint: rng.uniform(-p.whiteBalance, p.whiteBalance) * 0.5,
  };
  return { id: s.id, image: colorJitterImage(s.image, amounts), mask: s.mask };
}

// ---------------------------------------------------------------------------------------
// Camera degradations

/** Standard JPEG quantisation tables (ITU T.81 Annex K), zig-zag not needed: row-major 8x8. */
const Q_LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68,
  109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const Q_CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** DCT-II basis, COS[u * 8 + x] = alpha(u) cos((2x + 1) u pi / 16). */
const COS = (() => {
  const t = new Float32Array(64);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) t[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return t;
})();

/** libjpeg's quality -> table scaling. */
function scaledTable(base: number[], quality: number): Float32Array {
  const q = Math.max(1, Math.min(100, Math.round(quality)));
  const sc = q < 50 ? 5000 / q : 200 - 2 * q;
  const t = new Float32Array(64);
  for (let i = 0; i < 64; i++) t[i] = Math.max(1, Math.min(255, Math.floor((base[i] * sc + 50) / 100)));
  return t;
}

/** In-place DCT quantise / dequantise / IDCT of every 8x8 block of a plane (edges replicated into partial blocks). */
function quantisePlane(plane: Float32Array, W: number, H: number, table: Float32Array): void {
  const blk = new Float32Array(64);
  const tmp = new Float32Array(64);
  for (let by = 0; by < H; by += 8) {
    for (let bx = 0; bx < W; bx += 8) {
      for (let y = 0; y < 8; y++) {
        const yy = Math.min(H - 1, by + y);
        for (let x = 0; x < 8; x++) blk[y * 8 + x] = plane[yy * W + Math.min(W - 1, bx + x)] - 128;
      }
      // forward DCT: rows then columns
      for (let y = 0; y < 8; y++)
        for (let u = 0; u < 8; u++) {
          let acc = 0;
          for (let x = 0; x < 8; x++) acc += COS[u * 8 + x] * blk[y * 8 + x];
          tmp[y * 8 + u] = acc;
        }
      for (let u = 0; u < 8; u++)
        for (let v = 0; v < 8; v++) {
          let acc = 0;
          for (let y = 0; y < 8; y++) acc += COS[v * 8 + y] * tmp[y * 8 + u];
          // quantise / dequantise
          const q = table[v * 8 + u];
          blk[v * 8 + u] = Math.round(acc / q) * q;
        }
      // inverse DCT: columns then rows
      for (let u = 0; u < 8; u++)
        for (let y = 0; y < 8; y++) {
          let acc = 0;
          for (let v = 0; v < 8; v++) acc += COS[v * 8 + y] * blk[v * 8 + u];
          tmp[y * 8 + u] = acc;
        }
      for (let y = 0; y < 8; y++) {
        const yy = by + y;
        if (yy >= H) break;
        for (let x = 0; x < 8; x++) {
          const xx = bx + x;
          if (xx >= W) break;
          let acc = 0;
          for (let u = 0; u < 8; u++) acc += COS[u * 8 + x] * tmp[y * 8 + u];
          plane[yy * W + xx] = acc + 128;
        }
      }
    }
  }
}

/**
 * JPEG compression artefacts, synchronously: RGB -> YCbCr, 4:2:0 chroma subsampling,
 * 8x8 DCT quantisation with the standard tables at `quality` (libjpeg scaling), and back.
 * This is the real codec's lossy path minus entropy coding, so blocking, ringing and
 * chroma bleeding look like the real thing while transforms stay synchronous.
 */
export function jpegArtefacts(img: RgbImage, quality: number): RgbImage {
  const W = img.width;
  const H = img.height;
  const d = img.data;
  const n = W * H;
  const Y = new Float32Array(n);
  const cw = (W + 1) >> 1;
  const chh = (H + 1) >> 1;
  const Cb = new Float32Array(cw * chh);
  const Cr = new Float32Array(cw * chh);
  const cnt = new Float32Array(cw * chh);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const r = d[i * 3];
      const g = d[i * 3 + 1];
      const b = d[i * 3 + 2];
      Y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      const ci = (y >> 1) * cw + (x >> 1);
      Cb[ci] += -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
      Cr[ci] += 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
      cnt[ci] += 1;
    }
  }
  for (let i = 0; i < cnt.length; i++) {
    Cb[i] /= cnt[i];
    Cr[i] /= cnt[i];
  }
  quantisePlane(Y, W, H, scaledTable(Q_LUMA, quality));
  const qc = scaledTable(Q_CHROMA, quality);
  quantisePlane(Cb, cw, chh, qc);
  quantisePlane(Cr, cw, chh, qc);
  const out = new Uint8Array(d.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const ci = (y >> 1) * cw + (x >> 1);
      const yy = Y[i];
      const cb = Cb[ci] - 128;
      const cr = Cr[ci] - 128;
      const r = yy + 1.402 * cr;
      const g = yy - 0.344136 * cb - 0.714136 * cr;
      const b = yy + 1.772 * cb;
      out[i * 3] = r <= 0 ? 0 : r >= 255 ? 255 : r + 0.5;
      out[i * 3 + 1] = g <= 0 ? 0 : g >= 255 ? 255 : g + 0.5;
      out[i * 3 + 2] = b <= 0 ? 0 : b >= 255 ? 255 : b + 0.5;
    }
  }
  return { width: W, height: H, data: out };
}

/** The parameters of `cameraNoise` (checked and listed by the transform registry). */
export const CAMERA_NOISE_PARAMS = z.object({
  noise: z.number().min(0).max(0.5).default(0.04).describe('largest sensor-noise std as a fraction of full scale'),
  blur: z.number().min(0).max(10).default(1.0).describe('largest blur sigma in pixels (applied half the time)'),
  jpeg: z.number().min(0).max(1).default(0.3).describe('probability of JPEG artefacts (quality 15..60)'),
  lowLight: z.number().min(0).max(1).default(0.2).describe('probability of a low-light frame (darker, warmer, noisier)'),
});
export type CameraNoiseParams = z.output<typeof CAMERA_NOISE_PARAMS>;

/**
 * A cheap webcam model, in the order light meets the camera: low light (exposure drop
 * with a gamma lift, which also raises the noise gain), optics blur, sensor noise
 * (signal-dependent, poisson-like: std grows with sqrt(intensity) on top of a read-noise
 * floor), then JPEG compression.
 */
export function cameraNoise(s: Sample, rng: Rng, p: CameraNoiseParams): Sample {
  const W = s.image.width;
  const H = s.image.height;
  let f = toFloat(s.image.data);
  let gain = 1;
  if (p.lowLight > 0 && rng.chance(p.lowLight)) {
    const exposure = rng.uniform(0.3, 0.65);
    const warm = rng.uniform(0, 0.08); // dim indoor light is usually warm
    gain = 1 / Math.sqrt(exposure);
    for (let i = 0; i < f.length; i += 3) {
      f[i] = 255 * Math.pow((f[i] / 255) * exposure, 0.9) * (1 + warm);
      f[i + 1] = 255 * Math.pow((f[i + 1] / 255) * exposure, 0.9);
      f[i + 2] = 255 * Math.pow((f[i + 2] / 255) * exposure, 0.9) * (1 - warm);
    }
  }
  if (p.blur > 0 && rng.chance(0.5)) f = gaussianBlur(f, W, H, 3, rng.uniform(0.3, Math.max(0.3, p.blur)));
  const sigma = p.noise > 0 ? rng.uniform(0, p.noise) * 255 * gain : 0;
  if (sigma > 0.25) {
    // std per intensity level from a 256-entry table; one uniform gives two 12-bit table indices
    const T = NORMAL_TABLE; // 4096 entries
    const readFloor = 0.3;
    const sdLut = new Float32Array(256);
    for (let v = 0; v < 256; v++) sdLut[v] = sigma * Math.sqrt(readFloor + (1 - readFloor) * (v / 255));
    const len = f.length;
    for (let i = 0; i < len; i += 2) {
      const u = (rng.next() * 16777216) | 0; // 24 random bits
      const a = f[i];
      f[i] = a + sdLut[a <= 0 ? 0 : a >= 255 ? 255 : a | 0] * T[u >>> 12];
      if (i + 1 < len) {
        const b = f[i + 1];
        f[i + 1] = b + sdLut[b <= 0 ? 0 : b >= 255 ? 255 : b | 0] * T[u & 4095];
      }
    }
  }
  let image: RgbImage = { width: W, height: H, data: toBytes(f) };
  if (p.jpeg > 0 && rng.chance(p.jpeg)) image = jpegArtefacts(image, rng.int(15, 60));
  return { id: s.id, image, mask: s.mask };
}
