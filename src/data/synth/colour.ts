/**
 * Colours and surface shading of procedural portraits: skin and hair palettes, random colours,
 * textures and lit surfaces.
 */
import type { Rng } from '../../util/rng';
import { clamp, mix } from './canvas';
import type { Shade } from './canvas';
import { Noise } from './noise';

export type Rgb = [number, number, number];

export function hsv(h: number, s: number, v: number): Rgb {
  h = ((h % 1) + 1) % 1;
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const m = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6];
  return [m[0] * 255, m[1] * 255, m[2] * 255];
}

export const SKIN: Rgb[] = [
  [255, 226, 204],
  [241, 194, 167],
  [224, 172, 135],
  [198, 134, 96],
  [161, 102, 70],
  [120, 76, 50],
  [84, 54, 38],
  [58, 38, 28],
];

export function skinTone(rng: Rng): Rgb {
  const t = rng.uniform(0, SKIN.length - 1);
  const i = Math.floor(t);
  const f = t - i;
  const a = SKIN[i];
  const b = SKIN[Math.min(i + 1, SKIN.length - 1)];
  const j = () => rng.uniform(-8, 8);
  return [mix(a[0], b[0], f) + j(), mix(a[1], b[1], f) + j(), mix(a[2], b[2], f) + j()];
}

export const HAIR: Rgb[] = [
  [18, 14, 12],
  [35, 25, 20],
  [60, 40, 28],
  [95, 64, 40],
  [140, 95, 55],
  [196, 162, 110],
  [150, 65, 30],
  [170, 170, 168],
];

export function hairColour(rng: Rng): Rgb {
  if (rng.chance(0.06)) return hsv(rng.next(), rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.85)); // dyed
  const c = rng.pick(HAIR);
  const k = rng.uniform(0.85, 1.15);
  return [c[0] * k * rng.uniform(0.96, 1.04), c[1] * k * rng.uniform(0.96, 1.04), c[2] * k * rng.uniform(0.96, 1.04)];
}

export function randomColour(rng: Rng): Rgb {
  const kind = rng.next();
  if (kind < 0.25) {
    const v = rng.uniform(0.08, 0.95);
    return hsv(0, 0, v); // black / grey / white
  }
  if (kind < 0.35) return skinTone(rng); // beige clothes: a hard case
  return hsv(rng.next(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 0.95));
}

/** Clothes / object texture shaders: solid with noise, stripes, checks, dots, knit noise. */
export function texture(rng: Rng, noise: Noise, base: Rgb, scale: number): Shade {
  const alt: Rgb = rng.chance(0.5) ? randomColour(rng) : [base[0] * 0.55, base[1] * 0.55, base[2] * 0.55];
  const kind = rng.pick(['solid', 'solid', 'stripes', 'checks', 'dots', 'noise'] as const);
  const period = Math.max(3, rng.uniform(0.05, 0.25) * scale);
  const ang = rng.pick([0, Math.PI / 2, rng.uniform(0, Math.PI)]);
  const ca = Math.cos(ang);
  const sa = Math.sin(ang);
  const duty = rng.uniform(0.25, 0.6);
  const nf = rng.uniform(0.02, 0.12);
  const fold = rng.uniform(0.05, 0.25);
  return (x, y, out) => {
    let t = 0;
    const u = (x * ca + y * sa) / period;
    const v = (-x * sa + y * ca) / period;
    switch (kind) {
      case 'stripes':
        t = u - Math.floor(u) < duty ? 1 : 0;
        break;
      case 'checks': {
        const a = u - Math.floor(u) < 0.5 ? 1 : 0;
        const b = v - Math.floor(v) < 0.5 ? 1 : 0;
        t = (a + b) * 0.5;
        break;
      }
      case 'dots': {
        const du = u - Math.floor(u) - 0.5;
        const dv = v - Math.floor(v) - 0.5;
        t = du * du + dv * dv < duty * 0.25 ? 1 : 0;
        break;
      }
      case 'noise':
        t = noise.fbm(x * nf * 3, y * nf * 3, 3) > 0.5 ? 1 : 0;
        break;
      default:
        t = 0;
    }
    const shade = 1 - fold * (noise.at(x * nf, y * nf * 0.5) - 0.5) * 2;
    out[0] = mix(base[0], alt[0], t) * shade;
    out[1] = mix(base[1], alt[1], t) * shade;
    out[2] = mix(base[2], alt[2], t) * shade;
  };
}

export function solid(c: Rgb): Shade {
  return (_x, _y, out) => {
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
  };
}

/** Lit colour: base times a directional light around (cx, cy) with radius r, plus noise. */
export function lit(base: Rgb, cx: number, cy: number, r: number, lx: number, ly: number, strength: number, noise: Noise, nAmp: number, nf: number): Shade {
  return (x, y, out) => {
    const dx = (x - cx) / r;
    const dy = (y - cy) / r;
    const l = 1 + strength * clamp(dx * lx + dy * ly, -1.2, 1.2) + nAmp * (noise.fbm(x * nf, y * nf, 2) - 0.5);
    out[0] = base[0] * l;
    out[1] = base[1] * l;
    out[2] = base[2] * l;
  };
}
