/**
 * The canvas procedural portraits are painted on (RGB and person coverage) and how a shape is
 * painted: analytic pixel coverage of a signed distance function.
 */
import type { RgbImage } from '../../util/image';

export type Sdf = (x: number, y: number) => number;
export type Shade = (x: number, y: number, out: Float32Array) => void;

export interface Canvas {
  w: number;
  h: number;
  /** RGB 0..255, float */
  rgb: Float32Array;
  /** person coverage 0..1 */
  alpha: Float32Array;
}

export const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
export const mix = (a: number, b: number, t: number) => a + (b - a) * t;

export type Box = [number, number, number, number]; // x0, y0, x1, y1

/**
 * Paints a shape: coverage = clamp(0.5 - d, 0, 1) per pixel centre (analytic anti-aliasing).
 * person: 1 adds to the person mask, 0 is background paint, -1 is an object in front of the person.
 */
export function fill(c: Canvas, bb: Box, sdf: Sdf, shade: Shade, person: 1 | 0 | -1, opacity = 1): void {
  const x0 = Math.max(0, Math.floor(bb[0]));
  const y0 = Math.max(0, Math.floor(bb[1]));
  const x1 = Math.min(c.w, Math.ceil(bb[2]));
  const y1 = Math.min(c.h, Math.ceil(bb[3]));
  const col = new Float32Array(3);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const d = sdf(x + 0.5, y + 0.5);
      if (d >= 0.5) {
        // sdf values are (about) distances: jump over pixels that cannot be covered
        if (d > 2.5) x += Math.floor((d - 1.5) * 0.7);
        continue;
      }
      const cov = (d <= -0.5 ? 1 : 0.5 - d) * opacity;
      shade(x + 0.5, y + 0.5, col);
      const i = y * c.w + x;
      const o = i * 3;
      c.rgb[o] += (col[0] - c.rgb[o]) * cov;
      c.rgb[o + 1] += (col[1] - c.rgb[o + 1]) * cov;
      c.rgb[o + 2] += (col[2] - c.rgb[o + 2]) * cov;
      if (person === 1) c.alpha[i] += (1 - c.alpha[i]) * cov;
      else if (person === -1) c.alpha[i] *= 1 - cov;
    }
  }
}

export function newCanvas(w: number, h: number): Canvas {
  return { w, h, rgb: new Float32Array(w * h * 3), alpha: new Float32Array(w * h) };
}

export function toRgb(c: Canvas): RgbImage {
  const data = new Uint8Array(c.w * c.h * 3);
  for (let i = 0; i < data.length; i++) data[i] = clamp(Math.round(c.rgb[i]), 0, 255);
  return { width: c.w, height: c.h, data };
}
