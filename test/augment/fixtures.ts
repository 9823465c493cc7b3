/** Tiny generated fixtures for the augmentation tests (no files from ../shared). */
import type { Sample } from '../../src/data/types';
import type { GrayImage, RgbImage } from '../../src/util/image';

/**
 * W x H sample whose person is the rectangle [x0, x1) x [y0, y1): the mask is 255 there and
 * the image's red channel is 255 there (0 elsewhere), so for any geometric transform
 * `red >= 128` must equal `mask >= 128` exactly (same weights, same rounding).
 * Green and blue carry a gradient so flips and rotations are not symmetric.
 */
export function squareSample(W = 32, H = 32, x0 = 4, x1 = 12, y0 = 6, y1 = 14): Sample {
  const img = new Uint8Array(W * H * 3);
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const inside = x >= x0 && x < x1 && y >= y0 && y < y1;
      img[i * 3] = inside ? 255 : 0;
      img[i * 3 + 1] = (x * 255) / (W - 1);
      img[i * 3 + 2] = (y * 255) / (H - 1);
      m[i] = inside ? 255 : 0;
    }
  }
  return { id: 'square', image: { width: W, height: H, data: img }, mask: { width: W, height: H, data: m } };
}

/** A "portrait": a skin/cloth blob (head + shoulders) on a flat blue wall, binary mask. */
export function portraitSample(W = 48, H = 64): Sample {
  const img = new Uint8Array(W * H * 3);
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const head = (x - W / 2) ** 2 / (W * 0.2) ** 2 + (y - H * 0.35) ** 2 / (H * 0.18) ** 2 < 1;
      const body = y > H * 0.6 && Math.abs(x - W / 2) < W * 0.4;
      const person = head || body;
      m[i] = person ? 255 : 0;
      const c = head ? [200, 150, 120] : body ? [60, 90, 150] : [20, 30, 230];
      // a little texture so std is not zero
      const t = ((x * 7 + y * 13) % 11) - 5;
      img[i * 3] = c[0] + t;
      img[i * 3 + 1] = c[1] + t;
      img[i * 3 + 2] = c[2] + t;
    }
  }
  return { id: 'portrait', image: { width: W, height: H, data: img }, mask: { width: W, height: H, data: m } };
}

/** A green, textured background photo stand-in. */
export function greenBackground(W = 96, H = 80): RgbImage {
  const d = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) {
    const t = (i * 31) % 40;
    d[i * 3] = 40 + t;
    d[i * 3 + 1] = 170 + t;
    d[i * 3 + 2] = 50 + t;
  }
  return { width: W, height: H, data: d };
}

export function cloneSample(s: Sample): Sample {
  return {
    id: s.id,
    image: { ...s.image, data: new Uint8Array(s.image.data) },
    mask: s.mask ? { ...s.mask, data: new Uint8Array(s.mask.data) } : null,
  };
}

/** Bounding box [x0, x1) x [y0, y1) of pixels where `pred` holds. */
export function bbox(W: number, H: number, pred: (i: number) => boolean): [number, number, number, number] {
  let x0 = W, x1 = 0, y0 = H, y1 = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (pred(y * W + x)) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x + 1);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y + 1);
      }
    }
  }
  return [x0, x1, y0, y1];
}

export function count(m: GrayImage, pred: (v: number) => boolean): number {
  let n = 0;
  for (const v of m.data) if (pred(v)) n++;
  return n;
}
