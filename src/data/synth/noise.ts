/**
 * Seeded noise for procedural portraits: 2-D value noise with fractal sums, and periodic wobbles
 * (tabulated sums of sines) for hair strands and outlines.
 */
import type { Rng } from '../../util/rng';

/** Seeded 2-D value noise on a 64x64 periodic lattice, smoothstep-interpolated, 0..1. */
export class Noise {
  private g: Float32Array;
  constructor(rng: Rng) {
    this.g = new Float32Array(64 * 64);
    for (let i = 0; i < this.g.length; i++) this.g[i] = rng.next();
  }
  at(x: number, y: number): number {
    const xf = Math.floor(x);
    const yf = Math.floor(y);
    let tx = x - xf;
    let ty = y - yf;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const x0 = xf & 63;
    const y0 = yf & 63;
    const x1 = (x0 + 1) & 63;
    const y1 = (y0 + 1) & 63;
    const g = this.g;
    const a = g[y0 * 64 + x0] + (g[y0 * 64 + x1] - g[y0 * 64 + x0]) * tx;
    const b = g[y1 * 64 + x0] + (g[y1 * 64 + x1] - g[y1 * 64 + x0]) * tx;
    return a + (b - a) * ty;
  }
  fbm(x: number, y: number, oct = 3): number {
    let s = 0;
    let amp = 0.5;
    let f = 1;
    let norm = 0;
    for (let o = 0; o < oct; o++) {
      s += amp * this.at(x * f + o * 17.3, y * f + o * 9.1);
      norm += amp;
      amp *= 0.5;
      f *= 2.03;
    }
    return s / norm;
  }
}

/** A random periodic wobble of an angle or a coordinate: sum of sines, amplitude ~1. */
export function wobble(rng: Rng, terms: number, fmin: number, fmax: number): (t: number) => number {
  const f: number[] = [];
  const ph: number[] = [];
  const a: number[] = [];
  for (let i = 0; i < terms; i++) {
    f.push(Math.round(rng.uniform(fmin, fmax)));
    ph.push(rng.uniform(0, Math.PI * 2));
    a.push(rng.uniform(0.3, 1) / (1 + i * 0.6));
  }
  const norm = a.reduce((p, q) => p + q, 0);
  // integer frequencies: 2*pi periodic, so a table of one period replaces the sines
  return periodicTable((t) => {
    let s = 0;
    for (let i = 0; i < terms; i++) s += a[i] * Math.sin(f[i] * t + ph[i]);
    return s / norm;
  });
}

export const TABLE_N = 2048;
export const TWO_PI = Math.PI * 2;

/** Tabulates a 2*pi-periodic function (linear interpolation between TABLE_N samples). */
export function periodicTable(fn: (t: number) => number): (t: number) => number {
  const tab = new Float32Array(TABLE_N + 1);
  for (let i = 0; i <= TABLE_N; i++) tab[i] = fn((i / TABLE_N) * TWO_PI);
  const k = TABLE_N / TWO_PI;
  return (t) => {
    let u = (t % TWO_PI) * k;
    if (u < 0) u += TABLE_N;
    const i = u | 0;
    return tab[i] + (tab[i + 1] - tab[i]) * (u - i);
  };
}
