/**
 * One synthetic portrait: background, one or two people, sometimes an object in front, then the
 * camera (colour cast, exposure, sensor noise).
 */
import type { RgbImage } from '../../util/image';
import type { Rng } from '../../util/rng';
import type { Sample } from '../types';
import { fill, newCanvas } from './canvas';
import { Noise } from './noise';
import { box } from './geometry';
import { hsv, lit, randomColour, solid, texture } from './colour';
import type { Rgb } from './colour';
import { boxBlur, cropPhoto, paintBackground } from './backgrounds';
import { paintPerson } from './person';

export interface SynthOptions {
  width: number;
  height: number;
  /** Background photos to crop from; procedural backgrounds when absent or empty. */
  backgrounds?: RgbImage[];
}

/**
 * One synthetic portrait with its exact person mask. Also callable as
 * synthSample(rng, width, height, id?). The id defaults to 'synth'.
 */
export function synthSample(rng: Rng, opts: SynthOptions): Sample;
export function synthSample(rng: Rng, width: number, height: number, id?: string): Sample;
export function synthSample(rng: Rng, a: SynthOptions | number, b?: number, id = 'synth'): Sample {
  const opts: SynthOptions = typeof a === 'number' ? { width: a, height: b ?? a } : a;
  const { width: w, height: h } = opts;
  const c = newCanvas(w, h);
  const bgs = opts.backgrounds ?? [];
  if (bgs.length && rng.chance(0.85)) {
    cropPhoto(c, rng.fork('bgphoto'), rng.pick(bgs));
    if (rng.chance(0.4)) boxBlur(c.rgb, w, h, rng.int(1, Math.max(1, Math.round(Math.min(w, h) / 64))));
  } else paintBackground(c, rng.fork('bg'));
  const la = rng.uniform(0, Math.PI * 2);
  const light: [number, number] = [Math.cos(la), Math.sin(la)];
  // main subject: head size and place; portraits mostly centred, sometimes cut by an edge
  const ry = h * rng.uniform(0.09, 0.21);
  const edge = rng.chance(0.2);
  const hx = edge ? rng.pick([rng.uniform(-0.05, 0.15), rng.uniform(0.85, 1.05)]) * w : rng.uniform(0.28, 0.72) * w;
  const hy = rng.chance(0.1) ? rng.uniform(0.02, 0.15) * h : rng.uniform(0.22, 0.5) * h;
  if (rng.chance(0.2)) {
    // a second person, smaller and behind
    const ry2 = ry * rng.uniform(0.55, 0.95);
    const hx2 = (hx < w / 2 ? rng.uniform(0.62, 1.0) : rng.uniform(0, 0.38)) * w;
    paintPerson(c, rng.fork('p2'), { hx: hx2, hy: hy + rng.uniform(-0.1, 0.15) * h, ry: ry2, light });
  }
  paintPerson(c, rng.fork('p1'), { hx, hy, ry, light });
  if (rng.chance(0.15)) {
    // an object in front of the person: a desk edge, a mug or a laptop lid
    const noise = new Noise(rng.fork('fgnoise'));
    const col = randomColour(rng);
    const kind = rng.pick(['desk', 'mug', 'laptop'] as const);
    if (kind === 'desk') {
      const y0 = h * rng.uniform(0.82, 0.95);
      fill(c, [0, y0, w, h], box(w / 2, (y0 + h) / 2 + 2, w, (h - y0) / 2 + 2), texture(rng, noise, col, h), -1);
    } else if (kind === 'mug') {
      const mx = rng.uniform(0.1, 0.9) * w;
      const mr = h * rng.uniform(0.05, 0.09);
      fill(c, [mx - mr * 2, h - mr * 3, mx + mr * 2, h], box(mx, h - mr * 1.2, mr, mr * 1.4, mr * 0.2), lit(col, mx, h, mr, -1, 0, 0.4, noise, 0.05, 0.1), -1);
    } else {
      const lw = w * rng.uniform(0.3, 0.5);
      const lx = rng.uniform(0.2, 0.8) * w;
      fill(c, [lx - lw, h * 0.7, lx + lw, h], box(lx, h * 0.9, lw / 2, h * 0.15, 3), solid(hsv(0, 0, rng.uniform(0.3, 0.8))), -1);
    }
  }
  // camera: colour cast, exposure, noise
  const cast: Rgb = [rng.uniform(0.88, 1.12), rng.uniform(0.92, 1.08), rng.uniform(0.88, 1.12)];
  const gain = rng.uniform(0.75, 1.2);
  const sigma = rng.chance(0.6) ? rng.uniform(0, 6) : 0;
  // sensor noise: a table of 4096 normals from the seeded rng, indexed by a cheap LCG (Box-Muller per pixel is slow)
  const nrng = rng.fork('sensor');
  const table = new Float32Array(4096);
  for (let i = 0; i < table.length; i++) table[i] = sigma * nrng.normal();
  let lcg = nrng.int(0, 0x7fffffff) | 0;
  // a clamped array rounds and clamps on assignment
  const clamped = new Uint8ClampedArray(w * h * 3);
  const k0 = cast[0] * gain;
  const k1 = cast[1] * gain;
  const k2 = cast[2] * gain;
  const rgb = c.rgb;
  for (let o = 0; o < w * h * 3; o += 3) {
    let n0 = 0;
    let n1 = 0;
    let n2 = 0;
    if (sigma) {
      lcg = (Math.imul(lcg, 1664525) + 1013904223) | 0;
      const luma = table[(lcg >>> 20) & 4095];
      n0 = luma + 0.3 * table[(lcg >>> 8) & 4095];
      n1 = luma;
      n2 = luma + 0.3 * table[(lcg >>> 2) & 4095];
    }
    clamped[o] = rgb[o] * k0 + n0;
    clamped[o + 1] = rgb[o + 1] * k1 + n1;
    clamped[o + 2] = rgb[o + 2] * k2 + n2;
  }
  const data = new Uint8Array(clamped.buffer);
  const maskC = new Uint8ClampedArray(w * h);
  for (let i = 0; i < maskC.length; i++) maskC[i] = c.alpha[i] * 255;
  const mask = new Uint8Array(maskC.buffer);
  return { id, image: { width: w, height: h, data }, mask: { width: w, height: h, data: mask } };
}
