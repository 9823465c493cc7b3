/**
 * Procedural portrait data: people-like subjects (head, hair with stringy edges, ears, face
 * features, neck, shoulders, torso, arms sometimes raised, hands) in varied skin tones and
 * clothes textures, composited on procedural rooms / outdoor scenes / textures or on given
 * background photos. Shapes are signed-distance functions rendered with analytic pixel
 * coverage, so image edges are anti-aliased and the mask is the exact coverage of the person
 * (soft only along the 1-px boundary; the loader thresholds it at 0.5 in binary mode).
 *
 * Hard cases on purpose: partial crops at the frame edges, person-coloured objects in the
 * background (not in the mask), objects in front of the person (cut from the mask), a
 * second person, blurred and sharp backgrounds, colour casts and sensor noise.
 */
import * as path from 'path';
import type { GrayImage, RgbImage } from '../util/image';
import { writeJpeg, writePng } from '../util/image';
import type { Rng } from '../util/rng';
import { makeRng } from '../util/rng';
import type { Sample } from './types';
import { loadBackgrounds } from './backgrounds';

type Sdf = (x: number, y: number) => number;
type Shade = (x: number, y: number, out: Float32Array) => void;

interface Canvas {
  w: number;
  h: number;
  /** RGB 0..255, float */
  rgb: Float32Array;
  /** person coverage 0..1 */
  alpha: Float32Array;
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const mix = (a: number, b: number, t: number) => a + (b - a) * t;

// ---------- noise ----------

/** Seeded 2-D value noise on a 64x64 periodic lattice, smoothstep-interpolated, 0..1. */
class Noise {
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
function wobble(rng: Rng, terms: number, fmin: number, fmax: number): (t: number) => number {
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

const TABLE_N = 2048;
const TWO_PI = Math.PI * 2;

/** Tabulates a 2*pi-periodic function (linear interpolation between TABLE_N samples). */
function periodicTable(fn: (t: number) => number): (t: number) => number {
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

// ---------- signed distance primitives (pixels; negative inside) ----------

function ellipse(cx: number, cy: number, rx: number, ry: number, rot = 0): Sdf {
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const irx2 = 1 / (rx * rx);
  const iry2 = 1 / (ry * ry);
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    const lx = dx * c + dy * s;
    const ly = -dx * s + dy * c;
    const k = Math.sqrt(lx * lx * irx2 + ly * ly * iry2);
    const gx = lx * irx2;
    const gy = ly * iry2;
    const g = Math.sqrt(gx * gx + gy * gy);
    if (g < 1e-9) return -Math.min(rx, ry);
    return ((k - 1) * k) / g;
  };
}

/** Segment a-b with radius tapering from ra to rb. */
function capsule(ax: number, ay: number, bx: number, by: number, ra: number, rb = ra): Sdf {
  const vx = bx - ax;
  const vy = by - ay;
  const l2 = vx * vx + vy * vy || 1e-9;
  return (x, y) => {
    const t = clamp(((x - ax) * vx + (y - ay) * vy) / l2, 0, 1);
    const px = ax + vx * t - x;
    const py = ay + vy * t - y;
    return Math.sqrt(px * px + py * py) - (ra + (rb - ra) * t);
  };
}

function box(cx: number, cy: number, hw: number, hh: number, r = 0): Sdf {
  return (x, y) => {
    const qx = Math.abs(x - cx) - hw + r;
    const qy = Math.abs(y - cy) - hh + r;
    const ox = Math.max(qx, 0);
    const oy = Math.max(qy, 0);
    return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - r;
  };
}

const union = (...f: Sdf[]): Sdf => {
  if (f.length === 1) return f[0];
  if (f.length === 2) {
    const [a, b] = f;
    return (x, y) => Math.min(a(x, y), b(x, y));
  }
  return (x, y) => {
    let d = Infinity;
    for (let i = 0; i < f.length; i++) d = Math.min(d, f[i](x, y));
    return d;
  };
};
const intersect = (a: Sdf, b: Sdf): Sdf => (x, y) => Math.max(a(x, y), b(x, y));

/** A polyline of capsules (hair strands, fingers). */
function polyline(pts: number[][], r0: number, r1: number): Sdf {
  const segs: Sdf[] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const ta = i / (pts.length - 1);
    const tb = (i + 1) / (pts.length - 1);
    segs.push(capsule(pts[i][0], pts[i][1], pts[i + 1][0], pts[i + 1][1], mix(r0, r1, ta), mix(r0, r1, tb)));
  }
  return union(...segs);
}

type Box = [number, number, number, number]; // x0, y0, x1, y1

/**
 * Paints a shape: coverage = clamp(0.5 - d, 0, 1) per pixel centre (analytic anti-aliasing).
 * person: 1 adds to the person mask, 0 is background paint, -1 is an object in front of the person.
 */
function fill(c: Canvas, bb: Box, sdf: Sdf, shade: Shade, person: 1 | 0 | -1, opacity = 1): void {
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

// ---------- colours and textures ----------

type Rgb = [number, number, number];

function hsv(h: number, s: number, v: number): Rgb {
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

const SKIN: Rgb[] = [
  [255, 226, 204],
  [241, 194, 167],
  [224, 172, 135],
  [198, 134, 96],
  [161, 102, 70],
  [120, 76, 50],
  [84, 54, 38],
  [58, 38, 28],
];

function skinTone(rng: Rng): Rgb {
  const t = rng.uniform(0, SKIN.length - 1);
  const i = Math.floor(t);
  const f = t - i;
  const a = SKIN[i];
  const b = SKIN[Math.min(i + 1, SKIN.length - 1)];
  const j = () => rng.uniform(-8, 8);
  return [mix(a[0], b[0], f) + j(), mix(a[1], b[1], f) + j(), mix(a[2], b[2], f) + j()];
}

const HAIR: Rgb[] = [
  [18, 14, 12],
  [35, 25, 20],
  [60, 40, 28],
  [95, 64, 40],
  [140, 95, 55],
  [196, 162, 110],
  [150, 65, 30],
  [170, 170, 168],
];

function hairColour(rng: Rng): Rgb {
  if (rng.chance(0.06)) return hsv(rng.next(), rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.85)); // dyed
  const c = rng.pick(HAIR);
  const k = rng.uniform(0.85, 1.15);
  return [c[0] * k * rng.uniform(0.96, 1.04), c[1] * k * rng.uniform(0.96, 1.04), c[2] * k * rng.uniform(0.96, 1.04)];
}

function randomColour(rng: Rng): Rgb {
  const kind = rng.next();
  if (kind < 0.25) {
    const v = rng.uniform(0.08, 0.95);
    return hsv(0, 0, v); // black / grey / white
  }
  if (kind < 0.35) return skinTone(rng); // beige clothes: a hard case
  return hsv(rng.next(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 0.95));
}

/** Clothes / object texture shaders: solid with noise, stripes, checks, dots, knit noise. */
function texture(rng: Rng, noise: Noise, base: Rgb, scale: number): Shade {
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

function solid(c: Rgb): Shade {
  return (_x, _y, out) => {
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
  };
}

/** Lit colour: base times a directional light around (cx, cy) with radius r, plus noise. */
function lit(base: Rgb, cx: number, cy: number, r: number, lx: number, ly: number, strength: number, noise: Noise, nAmp: number, nf: number): Shade {
  return (x, y, out) => {
    const dx = (x - cx) / r;
    const dy = (y - cy) / r;
    const l = 1 + strength * clamp(dx * lx + dy * ly, -1.2, 1.2) + nAmp * (noise.fbm(x * nf, y * nf, 2) - 0.5);
    out[0] = base[0] * l;
    out[1] = base[1] * l;
    out[2] = base[2] * l;
  };
}

// ---------- backgrounds ----------

function newCanvas(w: number, h: number): Canvas {
  return { w, h, rgb: new Float32Array(w * h * 3), alpha: new Float32Array(w * h) };
}

function boxBlur(rgb: Float32Array, w: number, h: number, r: number): void {
  if (r <= 0) return;
  const tmp = new Float32Array(rgb.length);
  // one pass: running sums along lines of n samples, `stride` apart, lines `lineStride` apart
  const pass = (src: Float32Array, dst: Float32Array, n: number, lines: number, stride: number, lineStride: number) => {
    const inv = 1 / (2 * r + 1);
    for (let l = 0; l < lines; l++) {
      for (let ch = 0; ch < 3; ch++) {
        const base = l * lineStride + ch;
        let acc = 0;
        for (let k = -r; k <= r; k++) acc += src[base + (k < 0 ? 0 : k >= n ? n - 1 : k) * stride];
        for (let k = 0; k < n; k++) {
          dst[base + k * stride] = acc * inv;
          const add = k + r + 1 < n ? k + r + 1 : n - 1;
          const sub = k - r > 0 ? k - r : 0;
          acc += src[base + add * stride] - src[base + sub * stride];
        }
      }
    }
  };
  pass(rgb, tmp, w, h, 3, w * 3);
  pass(tmp, rgb, h, w, w * 3, 3);
}

/** fn sampled every `step` px and bilinearly interpolated: for low-frequency fields (16x fewer calls). */
function smoothField(w: number, h: number, fn: (x: number, y: number) => number, step = 4): Float32Array {
  const gw = Math.ceil(w / step) + 1;
  const gh = Math.ceil(h / step) + 1;
  const g = new Float32Array(gw * gh);
  for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) g[gy * gw + gx] = fn(gx * step, gy * step);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const gy = Math.floor(y / step);
    const fy = y / step - gy;
    for (let x = 0; x < w; x++) {
      const gx = Math.floor(x / step);
      const fx = x / step - gx;
      const o = gy * gw + gx;
      const a = g[o] + (g[o + 1] - g[o]) * fx;
      const b = g[o + gw] + (g[o + gw + 1] - g[o + gw]) * fx;
      out[y * w + x] = a + (b - a) * fy;
    }
  }
  return out;
}

function paintRoom(c: Canvas, rng: Rng, noise: Noise): void {
  const { w, h } = c;
  const wall = rng.chance(0.7) ? hsv(rng.next(), rng.uniform(0.03, 0.3), rng.uniform(0.45, 0.95)) : randomColour(rng);
  const grad = rng.uniform(-0.25, 0.25);
  const nf = rng.uniform(0.01, 0.05);
  const tex = rng.uniform(0.02, 0.15);
  const field = smoothField(w, h, (x, y) => noise.fbm(x * nf, y * nf, 3));
  // a second, darker wall at a corner
  const corner = rng.chance(0.4);
  const cx = rng.uniform(0.1, 0.9) * w;
  const k = rng.uniform(0.7, 0.9);
  const left = rng.chance(0.5);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const inCorner = corner && (left ? x < cx : x >= cx);
      const l = inCorner ? k * (1 + tex * (field[i] - 0.5)) : 1 + grad * (y / h - 0.5) * 2 + tex * (field[i] - 0.5);
      c.rgb[i * 3] = wall[0] * l;
      c.rgb[i * 3 + 1] = wall[1] * l;
      c.rgb[i * 3 + 2] = wall[2] * l;
    }
  }
  // floor
  if (rng.chance(0.4)) {
    const fy = rng.uniform(0.6, 0.9) * h;
    const floor = rng.chance(0.5) ? hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.6)) : randomColour(rng);
    fill(c, [0, fy, w, h], () => -1, texture(rng, noise, floor, h), 0);
  }
  const items = rng.int(2, 6);
  for (let k = 0; k < items; k++) {
    const kind = rng.pick(['window', 'shelf', 'frame', 'door', 'plant', 'lamp', 'curtain', 'blob'] as const);
    const bw = rng.uniform(0.15, 0.5) * w;
    const bh = rng.uniform(0.15, 0.6) * h;
    const x0 = rng.uniform(-0.1, 0.95) * w;
    const y0 = rng.uniform(-0.1, 0.8) * h;
    const bb: Box = [x0, y0, x0 + bw, y0 + bh];
    const inBox = box(x0 + bw / 2, y0 + bh / 2, bw / 2, bh / 2, rng.uniform(0, 2));
    if (kind === 'window') {
      const sky = hsv(rng.uniform(0.5, 0.62), rng.uniform(0.05, 0.5), rng.uniform(0.75, 1));
      const frameC = rng.chance(0.6) ? hsv(0, 0, rng.uniform(0.8, 1)) : randomColour(rng);
      const ft = Math.max(1.5, bw * 0.05);
      fill(c, bb, inBox, solid(frameC), 0);
      const paneSdf = box(x0 + bw / 2, y0 + bh / 2, bw / 2 - ft, bh / 2 - ft);
      const tree = hsv(rng.uniform(0.2, 0.35), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.5));
      const hz = rng.uniform(0.4, 0.9);
      fill(c, bb, paneSdf, (x, y, out) => {
        const t = (y - y0) / bh;
        const n = noise.fbm(x * 0.06 + 30, y * 0.06, 3);
        const g = t > hz - 0.3 * n ? 1 : 0;
        out[0] = mix(sky[0] * (1.05 - 0.2 * t), tree[0], g);
        out[1] = mix(sky[1] * (1.05 - 0.2 * t), tree[1], g);
        out[2] = mix(sky[2] * (1.05 - 0.2 * t), tree[2], g);
      }, 0);
      if (rng.chance(0.7)) {
        fill(c, bb, box(x0 + bw / 2, y0 + bh / 2, ft / 2, bh / 2), solid(frameC), 0);
        fill(c, bb, box(x0 + bw / 2, y0 + bh / 2, bw / 2, ft / 2), solid(frameC), 0);
      }
    } else if (kind === 'shelf') {
      const wood = hsv(rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.55));
      fill(c, bb, inBox, solid(wood), 0);
      const rows = rng.int(2, 5);
      const rh = bh / rows;
      for (let r = 0; r < rows; r++) {
        let bx = x0 + bw * 0.04;
        while (bx < x0 + bw * 0.94) {
          const bwid = rng.uniform(0.015, 0.05) * w;
          const bht = rh * rng.uniform(0.55, 0.85);
          const by = y0 + (r + 1) * rh - bh * 0.03;
          const col = randomColour(rng);
          fill(c, [bx, by - bht, bx + bwid, by], box(bx + bwid / 2, by - bht / 2, bwid / 2 - 0.3, bht / 2), solid(col), 0);
          bx += bwid + rng.uniform(0, 2);
        }
      }
    } else if (kind === 'frame') {
      fill(c, bb, inBox, solid(randomColour(rng)), 0);
      const inner = randomColour(rng);
      const inner2 = randomColour(rng);
      const f = rng.uniform(0.005, 0.03);
      fill(c, bb, box(x0 + bw / 2, y0 + bh / 2, bw * 0.42, bh * 0.42), (x, y, out) => {
        const n = noise.fbm(x * f + 70, y * f, 3);
        out[0] = mix(inner[0], inner2[0], n);
        out[1] = mix(inner[1], inner2[1], n);
        out[2] = mix(inner[2], inner2[2], n);
      }, 0);
    } else if (kind === 'door') {
      fill(c, [x0, y0, x0 + bw * 0.6, h], box(x0 + bw * 0.3, (y0 + h) / 2 + 2, bw * 0.3, (h - y0) / 2 + 2), texture(rng, noise, randomColour(rng), h), 0);
    } else if (kind === 'plant') {
      const green = hsv(rng.uniform(0.2, 0.4), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.6));
      const cx = x0 + bw / 2;
      const cy = y0 + bh / 2;
      const leaves = wobble(rng, 4, 5, 14);
      const r = Math.min(bw, bh) / 2;
      fill(c, bb, (x, y) => Math.hypot(x - cx, y - cy) - r * (0.8 + 0.25 * leaves(Math.atan2(y - cy, x - cx))), lit(green, cx, cy, r, -0.5, -0.5, 0.4, noise, 0.6, 0.15), 0);
    } else if (kind === 'lamp') {
      const sh = rng.chance(0.5) ? skinTone(rng) : randomColour(rng);
      const cx = x0 + bw / 2;
      fill(c, [cx - 2, y0, cx + 2, h], box(cx, (y0 + h) / 2, 1, (h - y0) / 2), solid(hsv(0, 0, 0.2)), 0);
      fill(c, bb, ellipse(cx, y0 + bh * 0.2, bw * 0.3, bh * 0.2), lit(sh, cx, y0, bw, 0, 1, 0.3, noise, 0.1, 0.1), 0);
    } else if (kind === 'curtain') {
      const col = randomColour(rng);
      const pf = rng.uniform(0.05, 0.2);
      fill(c, [x0, 0, x0 + bw * 0.5, h], box(x0 + bw * 0.25, h / 2, bw * 0.25, h / 2 + 1), (x, _y, out) => {
        const l = 0.75 + 0.25 * Math.sin(x * pf * Math.PI * 2);
        out[0] = col[0] * l;
        out[1] = col[1] * l;
        out[2] = col[2] * l;
      }, 0);
    } else {
      // person-coloured blob: skin-like or hair-like object in the background (not a person)
      const col = rng.chance(0.6) ? skinTone(rng) : hairColour(rng);
      const cx = x0 + bw / 2;
      const cy = y0 + bh / 2;
      fill(c, bb, ellipse(cx, cy, bw / 2, bh / 2, rng.uniform(-1, 1)), lit(col, cx, cy, bw, 0.6, -0.4, 0.3, noise, 0.2, 0.08), 0);
    }
  }
}

function paintOutdoor(c: Canvas, rng: Rng, noise: Noise): void {
  const { w, h } = c;
  const sky = hsv(rng.uniform(0.52, 0.64), rng.uniform(0.1, 0.6), rng.uniform(0.7, 1));
  const hz = rng.uniform(0.3, 0.8) * h;
  const ground = rng.chance(0.5) ? hsv(rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.6)) : hsv(0, 0, rng.uniform(0.3, 0.6));
  const clouds = smoothField(w, h, (x, y) => noise.fbm(x * 0.02, y * 0.04, 3));
  for (let y = 0; y < h; y++) {
    const t = y / h;
    const base = y < hz ? sky : ground;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const l = y < hz ? 1.1 - 0.3 * t + 0.3 * (clouds[i] - 0.5) : 0.8 + 0.4 * (noise.fbm(x * 0.1, y * 0.2, 3) - 0.5);
      c.rgb[i * 3] = base[0] * l;
      c.rgb[i * 3 + 1] = base[1] * l;
      c.rgb[i * 3 + 2] = base[2] * l;
    }
  }
  const n = rng.int(2, 8);
  for (let k = 0; k < n; k++) {
    if (rng.chance(0.5)) {
      // building with window grid
      const bw = rng.uniform(0.1, 0.4) * w;
      const bh = rng.uniform(0.2, 0.7) * h;
      const x0 = rng.uniform(-0.1, 1) * w;
      const col = hsv(rng.uniform(0, 0.15), rng.uniform(0, 0.3), rng.uniform(0.3, 0.85));
      const win = hsv(0.58, 0.2, rng.uniform(0.2, 0.9));
      const gp = rng.uniform(4, 12);
      fill(c, [x0, hz - bh, x0 + bw, hz + 2], box(x0 + bw / 2, hz - bh / 2 + 1, bw / 2, bh / 2 + 1), (x, y, out) => {
        const u = ((x - x0) / gp) % 1;
        const v = ((y - hz) / gp) % 1;
        const isWin = u > 0.3 && u < 0.8 && Math.abs(v) > 0.3 && Math.abs(v) < 0.75;
        const cc = isWin ? win : col;
        out[0] = cc[0];
        out[1] = cc[1];
        out[2] = cc[2];
      }, 0);
    } else {
      // tree
      const green = hsv(rng.uniform(0.18, 0.38), rng.uniform(0.3, 0.8), rng.uniform(0.15, 0.5));
      const cx = rng.uniform(0, 1) * w;
      const r = rng.uniform(0.08, 0.3) * h;
      const cy = hz - r * rng.uniform(0.3, 1.2);
      const leaves = wobble(rng, 5, 4, 20);
      fill(c, [cx - 3, cy, cx + 3, hz + 4], box(cx, (cy + hz) / 2, 2, (hz - cy) / 2 + 2), solid(hsv(0.08, 0.5, 0.25)), 0);
      fill(c, [cx - r * 1.3, cy - r * 1.3, cx + r * 1.3, cy + r * 1.3], (x, y) => Math.hypot(x - cx, y - cy) - r * (0.85 + 0.2 * leaves(Math.atan2(y - cy, x - cx))), lit(green, cx, cy, r, -0.4, -0.6, 0.4, noise, 0.7, 0.2), 0);
    }
  }
}

function paintTexture(c: Canvas, rng: Rng, noise: Noise): void {
  const { w, h } = c;
  const a = randomColour(rng);
  const b = randomColour(rng);
  const kind = rng.pick(['fbm', 'brick', 'tex'] as const);
  if (kind === 'tex') {
    fill(c, [0, 0, w, h], () => -1, texture(rng, noise, a, h * 2), 0);
    return;
  }
  const f = rng.uniform(0.01, 0.08);
  const bwid = rng.uniform(8, 24);
  fill(c, [0, 0, w, h], () => -1, (x, y, out) => {
    let t: number;
    if (kind === 'brick') {
      const row = Math.floor(y / (bwid / 2));
      const u = (x / bwid + (row % 2) * 0.5) % 1;
      const v = (y / (bwid / 2)) % 1;
      t = u < 0.06 || v < 0.12 ? 1 : 0.15 * noise.at(x * 0.3, y * 0.3);
    } else t = noise.fbm(x * f, y * f, 4);
    out[0] = mix(a[0], b[0], t);
    out[1] = mix(a[1], b[1], t);
    out[2] = mix(a[2], b[2], t);
  }, 0);
}

/** Random crop of a photo, bilinear-resampled to w x h (sometimes mirrored). */
function cropPhoto(c: Canvas, rng: Rng, img: RgbImage): void {
  const { w, h } = c;
  const scale = Math.min(img.width / w, img.height / h) * rng.uniform(0.45, 1);
  const cw = w * scale;
  const ch = h * scale;
  const ox = rng.uniform(0, img.width - cw);
  const oy = rng.uniform(0, img.height - ch);
  const flip = rng.chance(0.5);
  const d = img.data;
  for (let y = 0; y < h; y++) {
    const sy = clamp(oy + (y + 0.5) * scale - 0.5, 0, img.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const xx = flip ? w - 1 - x : x;
      const sx = clamp(ox + (xx + 0.5) * scale - 0.5, 0, img.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const fx = sx - x0;
      for (let ch2 = 0; ch2 < 3; ch2++) {
        const a = d[(y0 * img.width + x0) * 3 + ch2] * (1 - fx) + d[(y0 * img.width + x1) * 3 + ch2] * fx;
        const b = d[(y1 * img.width + x0) * 3 + ch2] * (1 - fx) + d[(y1 * img.width + x1) * 3 + ch2] * fx;
        c.rgb[(y * w + x) * 3 + ch2] = a + (b - a) * fy;
      }
    }
  }
}

function toRgb(c: Canvas): RgbImage {
  const data = new Uint8Array(c.w * c.h * 3);
  for (let i = 0; i < data.length; i++) data[i] = clamp(Math.round(c.rgb[i]), 0, 255);
  return { width: c.w, height: c.h, data };
}

/** A person-free procedural scene: room, outdoor, or texture, sometimes defocused. */
export function proceduralBackground(rng: Rng, width: number, height: number): RgbImage {
  const c = newCanvas(width, height);
  paintBackground(c, rng);
  return toRgb(c);
}

function paintBackground(c: Canvas, rng: Rng): void {
  const noise = new Noise(rng.fork('noise'));
  const r = rng.next();
  if (r < 0.6) paintRoom(c, rng, noise);
  else if (r < 0.82) paintOutdoor(c, rng, noise);
  else paintTexture(c, rng, noise);
  if (rng.chance(0.5)) boxBlur(c.rgb, c.w, c.h, rng.int(1, Math.max(1, Math.round(Math.min(c.w, c.h) / 64))));
}

// ---------- people ----------

interface PersonOpts {
  /** head centre and half-height in pixels */
  hx: number;
  hy: number;
  ry: number;
  light: [number, number];
}

function rot(cx: number, cy: number, dx: number, dy: number, a: number): [number, number] {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return [cx + dx * c - dy * s, cy + dx * s + dy * c];
}

function paintPerson(c: Canvas, rng: Rng, p: PersonOpts): void {
  const noise = new Noise(rng.fork('noise'));
  const { hx, hy, ry } = p;
  const [lx, ly] = p.light;
  const H = c.h;
  const rx = ry * rng.uniform(0.7, 0.84);
  const tilt = rng.uniform(-0.18, 0.18);
  const skin = skinTone(rng);
  const hair = hairColour(rng);
  const cloth = randomColour(rng);
  const clothShade = texture(rng, noise, cloth, ry * 4);
  const lean = rng.uniform(-0.15, 0.15);
  const skinShade = lit(skin, hx, hy, ry * 1.2, lx, ly, 0.22, noise, 0.08, 0.08);
  const darkSkin: Rgb = [skin[0] * 0.78, skin[1] * 0.72, skin[2] * 0.7];
  const hairStrand = (x: number, y: number, out: Float32Array) => {
    const n = noise.at(x * 0.9 + 13, y * 0.08) * 0.6 + noise.fbm(x * 0.08, y * 0.08, 2) * 0.4;
    const l = 0.7 + 0.6 * n + 0.15 * clamp(((x - hx) * lx + (y - hy) * ly) / ry, -1, 1);
    out[0] = hair[0] * l + 6 * n;
    out[1] = hair[1] * l + 5 * n;
    out[2] = hair[2] * l + 4 * n;
  };

  // body geometry
  const ys = hy + ry * rng.uniform(1.45, 1.75); // shoulder line
  const sw = rx * rng.uniform(1.9, 2.8); // half shoulder width
  const rr = rx * rng.uniform(0.45, 0.7); // shoulder roundness
  const bodyX = (y: number) => hx + lean * (y - ys);
  const flare = rng.uniform(-0.04, 0.12);
  const torso = union(capsule(bodyX(ys) - sw + rr, ys + rr, bodyX(ys) + sw - rr, ys + rr, rr), (x, y) => {
    const hw = sw + flare * (y - ys - rr);
    return Math.max(Math.abs(x - bodyX(y)) - hw, ys + rr - y);
  });
  const spread = sw + (Math.abs(lean) + Math.max(0, flare)) * Math.max(0, H - ys) + 2;
  const bodyBox: Box = [hx - spread, ys - rr - 1, hx + spread, H + 1];

  // hair style
  const style = rng.pick(['short', 'short', 'medium', 'long', 'long', 'bun', 'bald', 'curly'] as const);
  const hairRx = rx * rng.uniform(1.06, style === 'curly' ? 1.45 : 1.2);
  const hairRy = ry * rng.uniform(1.04, style === 'curly' ? 1.3 : 1.14);
  const hcy = hy - ry * rng.uniform(0.08, 0.2);
  const waveLo = wobble(rng, 4, 2, 7);
  const waveHi = wobble(rng, 6, 9, 31);
  const spikes: [number, number, number][] = [];
  for (let k = rng.int(8, 28); k > 0; k--) spikes.push([rng.uniform(-Math.PI, 0.3), rng.uniform(0.02, 0.08), rng.uniform(0.04, style === 'curly' ? 0.25 : 0.12)]);
  const hairEll = ellipse(hx, hcy, hairRx, hairRy, tilt);
  let maxBump = 0.05 + (style === 'curly' ? 0.07 : 0.025);
  for (const sp of spikes) maxBump += sp[2];
  // the outline's bump is a function of the angle only: tabulate it once
  const bumpAt = periodicTable((th) => {
    let bump = 0.05 * waveLo(th) + (style === 'curly' ? 0.07 : 0.025) * waveHi(th);
    for (const [a, wdt, amp] of spikes) {
      let dth = Math.abs((((th - a) % TWO_PI) + TWO_PI) % TWO_PI);
      if (dth > Math.PI) dth = TWO_PI - dth;
      if (dth < wdt) bump += amp * (1 - dth / wdt) ** 2;
    }
    return bump;
  });
  const hairOutline: Sdf = (x, y) => {
    const base = hairEll(x, y);
    if (base - maxBump * ry > 1) return base - maxBump * ry; // a lower bound: cheap far from the outline
    return base - bumpAt(Math.atan2(y - hcy, x - hx)) * ry;
  };
  const longLen = ry * (style === 'long' ? rng.uniform(1.6, 3.6) : style === 'medium' ? rng.uniform(0.8, 1.3) : 0);
  const longHw = hairRx * rng.uniform(0.95, 1.25);
  const hemWave = wobble(rng, 5, 3, 25);
  const longHair: Sdf = (x, y) => {
    const dx = Math.abs(x - hx) - longHw - 0.1 * ry * hemWave(y / ry);
    const bottom = y - (hy + longLen) - 0.25 * ry * hemWave(x / ry * 2);
    return Math.max(dx, bottom, hcy - y);
  };
  const hairBack = style === 'bald' ? null : longLen > 0 ? union(hairOutline, longHair) : hairOutline;
  const hairBox: Box = [hx - hairRx * 2, hcy - hairRy * 1.6, hx + hairRx * 2, hy + longLen + ry];

  const sleeveShade: Shade = (x, y, out) => {
    clothShade(x, y, out);
    out[0] *= 0.82;
    out[1] *= 0.82;
    out[2] *= 0.82;
  };
  const showDown = rng.chance(0.7);
  const personRng = rng;
  const paintArm = (side: -1 | 1, front: boolean) => {
    // the same draws in both phases (behind / in front of the torso): fork by side
    const rng = personRng.fork(`arm${side}`);
    const sx = bodyX(ys) + side * (sw - rr * 0.7);
    const sy = ys + rr * 0.9;
    const raised = rng.chance(0.28);
    const armR = rx * rng.uniform(0.32, 0.42);
    let ex: number, ey: number, wx: number, wy: number;
    if (raised) {
      ex = sx + side * rx * rng.uniform(0.6, 1.6);
      ey = sy - ry * rng.uniform(-0.3, 1.2);
      wx = ex - side * rx * rng.uniform(-0.4, 1.2);
      wy = ey - ry * rng.uniform(0.6, 1.4);
    } else {
      // hanging along the side of the torso, a little outside it
      ex = sx + side * (rr * 0.3 + rx * rng.uniform(0.1, 0.7));
      ey = sy + ry * rng.uniform(1.6, 2.2);
      wx = ex + side * rx * rng.uniform(-0.4, 0.4);
      wy = ey + ry * rng.uniform(1.2, 1.8);
    }
    if (front !== raised && !(front && !raised && showDown)) return;
    const sleeveLong = rng.chance(0.6);
    const upper = capsule(sx, sy, ex, ey, armR * 1.1, armR);
    const fore = capsule(ex, ey, wx, wy, armR * 0.95, armR * 0.75);
    const bb = (pts: number[][], pad: number): Box => [Math.min(...pts.map((q) => q[0])) - pad, Math.min(...pts.map((q) => q[1])) - pad, Math.max(...pts.map((q) => q[0])) + pad, Math.max(...pts.map((q) => q[1])) + pad];
    fill(c, bb([[sx, sy], [ex, ey]], armR * 1.3), upper, sleeveShade, 1);
    fill(c, bb([[ex, ey], [wx, wy]], armR * 1.3), fore, sleeveLong ? sleeveShade : skinShade, 1);
    if (raised) {
      // hand with fingers
      const ang = Math.atan2(wy - ey, wx - ex);
      const hr = armR * 1.05;
      const hcx = wx + Math.cos(ang) * hr * 0.8;
      const hcy2 = wy + Math.sin(ang) * hr * 0.8;
      const parts: Sdf[] = [ellipse(hcx, hcy2, hr, hr * 0.8, ang)];
      const nf = rng.int(2, 4);
      for (let f = 0; f < nf; f++) {
        const fa = ang + (f - (nf - 1) / 2) * 0.35;
        const len = hr * rng.uniform(1.2, 1.9);
        parts.push(capsule(hcx, hcy2, hcx + Math.cos(fa) * len, hcy2 + Math.sin(fa) * len, hr * 0.26, hr * 0.2));
      }
      fill(c, [hcx - hr * 3, hcy2 - hr * 3, hcx + hr * 3, hcy2 + hr * 3], union(...parts), skinShade, 1);
    }
  };

  // back to front
  if (hairBack) fill(c, hairBox, hairBack, hairStrand, 1);
  paintArm(-1, false);
  paintArm(1, false);
  fill(c, bodyBox, torso, clothShade, 1);
  // neck and neckline
  const neckR = rx * rng.uniform(0.36, 0.48);
  const [nx0, ny0] = rot(hx, hy, 0, ry * 0.5, tilt);
  fill(c, [hx - rx * 1.2, hy, hx + rx * 1.2, ys + rr * 2], capsule(nx0, ny0, bodyX(ys), ys + rr * 0.3, neckR, neckR * 1.1), lit(darkSkin, hx, hy, ry, lx, ly, 0.2, noise, 0.05, 0.1), 1);
  const neckline = rng.pick(['round', 'v', 'collar', 'none'] as const);
  if (neckline !== 'none') {
    const nd = ry * rng.uniform(0.25, 0.7);
    const skinPart = neckline === 'v' ? (x: number, y: number) => Math.max(Math.abs(x - bodyX(ys)) * 1.2 - (ys + nd - y) * 0.9, ys - y - rr) : ellipse(bodyX(ys), ys, neckR * rng.uniform(1.3, 2.2), nd);
    const nb: Box = [bodyX(ys) - neckR * 3, ys - rr - 1, bodyX(ys) + neckR * 3, ys + nd + 2];
    fill(c, nb, intersect(torso, skinPart), lit(darkSkin, hx, ys, ry, lx, ly, 0.2, noise, 0.05, 0.1), 1);
    if (neckline === 'collar') {
      const col: Rgb = rng.chance(0.5) ? [240, 240, 240] : randomColour(rng);
      const band = Math.max(1, neckR * 0.25);
      fill(c, nb, intersect(torso, (x, y) => Math.abs(skinPart(x, y) - band) - band), solid(col), 1);
    }
  }
  // ears, face, features
  for (const sd of [-1, 1]) {
    const [ex, ey] = rot(hx, hy, sd * rx * 0.97, ry * 0.05, tilt);
    fill(c, [ex - rx, ey - ry, ex + rx, ey + ry], ellipse(ex, ey, rx * 0.18, ry * 0.24, tilt), skinShade, 1);
  }
  const head = ellipse(hx, hy, rx, ry, tilt);
  // jaw narrower than the forehead: intersect with a wider ellipse shifted up
  const face = intersect(head, ellipse(hx, hy - ry * 0.25, rx * 1.25, ry * 1.25, tilt));
  fill(c, [hx - rx * 1.5, hy - ry * 1.5, hx + rx * 1.5, hy + ry * 1.5], face, skinShade, 1);
  const lookAway = rng.chance(0.15); // back of the head: no face features
  if (!lookAway) {
    const fx = rng.uniform(-0.12, 0.12) * rx; // slight turn
    const eyeY = ry * rng.uniform(-0.08, 0.05);
    const eyeDx = rx * rng.uniform(0.34, 0.42);
    const eyeR = rx * rng.uniform(0.1, 0.14);
    const iris: Rgb = rng.pick([[40, 25, 15], [70, 45, 25], [60, 90, 120], [70, 100, 60]] as Rgb[]);
    for (const sd of [-1, 1]) {
      const [ex, ey] = rot(hx, hy, fx + sd * eyeDx, eyeY, tilt);
      fill(c, [ex - eyeR * 2, ey - eyeR * 2, ex + eyeR * 2, ey + eyeR * 2], ellipse(ex, ey, eyeR, eyeR * 0.55, tilt), solid([235, 230, 225]), 1);
      fill(c, [ex - eyeR * 2, ey - eyeR * 2, ex + eyeR * 2, ey + eyeR * 2], ellipse(ex, ey, eyeR * 0.5, eyeR * 0.5), solid(iris), 1);
      const [bx, by] = rot(hx, hy, fx + sd * eyeDx, eyeY - eyeR * 1.6, tilt);
      const [b2x, b2y] = rot(hx, hy, fx + sd * eyeDx * 1.5, eyeY - eyeR * 1.3, tilt);
      fill(c, [bx - eyeR * 3, by - eyeR * 3, bx + eyeR * 3, by + eyeR * 3], capsule(bx - sd * eyeR * 0.8, by, b2x, b2y, eyeR * 0.25, eyeR * 0.15), solid([hair[0] * 0.8, hair[1] * 0.8, hair[2] * 0.8]), 1);
    }
    const [nx, ny] = rot(hx, hy, fx, ry * 0.22, tilt);
    fill(c, [nx - rx, ny - ry, nx + rx, ny + ry], ellipse(nx, ny, rx * 0.12, ry * 0.07, tilt), solid([skin[0] * 0.75, skin[1] * 0.68, skin[2] * 0.65]), 1);
    const [mx, my] = rot(hx, hy, fx, ry * rng.uniform(0.45, 0.55), tilt);
    const lip: Rgb = [skin[0] * 0.75 + 30, skin[1] * 0.5, skin[2] * 0.5];
    fill(c, [mx - rx, my - ry, mx + rx, my + ry], ellipse(mx, my, rx * rng.uniform(0.25, 0.38), ry * rng.uniform(0.04, 0.09), tilt), solid(lip), 1);
    if (rng.chance(0.12)) {
      // glasses
      const frame: Rgb = rng.chance(0.7) ? [20, 20, 20] : randomColour(rng);
      for (const sd of [-1, 1]) {
        const [ex, ey] = rot(hx, hy, fx + sd * eyeDx, eyeY, tilt);
        const ring: Sdf = (x, y) => Math.abs(ellipse(ex, ey, eyeR * 2.1, eyeR * 1.6, tilt)(x, y)) - Math.max(0.6, eyeR * 0.2);
        fill(c, [ex - eyeR * 3, ey - eyeR * 3, ex + eyeR * 3, ey + eyeR * 3], ring, solid(frame), 1);
      }
    }
    if (rng.chance(0.1)) {
      // beard
      fill(c, [hx - rx * 1.5, hy, hx + rx * 1.5, hy + ry * 1.5], intersect(face, (x, y) => ry * 0.6 - (-(x - hx) * Math.sin(tilt) + (y - hy) * Math.cos(tilt))), hairStrand, 1);
    }
  }
  // fringe over the forehead, then side locks in front of the shoulders
  if (style !== 'bald') {
    const hairline = hy - ry * rng.uniform(0.2, 0.5);
    const part = rng.uniform(-0.6, 0.6) * rx;
    const fringeWave = wobble(rng, 5, 6, 30);
    const sweep = rng.uniform(-0.4, 0.4);
    const ct = Math.cos(tilt);
    const st = Math.sin(tilt);
    const fringe = intersect(hairOutline, (x, y) => {
      const ly2 = -(x - hx) * st + (y - hy) * ct;
      const lx2 = x - hx;
      const edge = hairline - hy + ry * (0.12 * Math.abs(lx2 - part) / rx + sweep * (lx2 - part) / rx * 0.3 + 0.06 * fringeWave(lx2 / rx * 3)) ;
      return ly2 - edge - (lookAway ? ry * 2 : 0);
    });
    fill(c, [hx - hairRx * 1.6, hcy - hairRy * 1.7, hx + hairRx * 1.6, lookAway ? hy + ry * 1.2 : hy + ry * 0.3], fringe, hairStrand, 1);
    if (style === 'long' && rng.chance(0.6)) {
      for (const sd of [-1, 1]) {
        if (rng.chance(0.3)) continue;
        const x0 = hx + sd * rx * 0.95;
        const len = longLen * rng.uniform(0.7, 1);
        const lock = polyline([[x0, hy - ry * 0.3], [x0 + sd * rx * 0.25, hy + ry * 0.6], [x0 + sd * rx * rng.uniform(0.1, 0.6), hy + len]], rx * 0.28, rx * 0.12);
        fill(c, [Math.min(x0, x0 + sd * rx * 0.6) - rx * 0.4, hy - ry * 0.7, Math.max(x0, x0 + sd * rx * 0.6) + rx * 0.4, hy + len + rx * 0.4], lock, hairStrand, 1);
      }
    }
    if (style === 'bun') {
      const [bx, by] = rot(hx, hcy, rng.uniform(-0.3, 0.3) * rx, -hairRy * 0.95, tilt);
      fill(c, [bx - rx, by - rx, bx + rx, by + rx], ellipse(bx, by, rx * 0.45, rx * 0.38), hairStrand, 1);
    }
    // flyaway strands: thin curved polylines leaving the outline
    const strands = rng.int(4, style === 'curly' ? 30 : 16);
    for (let k = 0; k < strands; k++) {
      const th = rng.uniform(-Math.PI * 0.95, -Math.PI * 0.05) + (rng.chance(0.3) ? rng.uniform(0, Math.PI * 0.5) : 0);
      let px = hx + Math.cos(th) * hairRx * 0.95;
      let py = hcy + Math.sin(th) * hairRy * 0.95;
      const pts = [[px, py]];
      let dir = th + rng.uniform(-0.6, 0.6);
      const seg = ry * rng.uniform(0.04, 0.1);
      for (let s2 = 0; s2 < 4; s2++) {
        dir += rng.uniform(-0.5, 0.5);
        px += Math.cos(dir) * seg;
        py += Math.sin(dir) * seg + seg * 0.3;
        pts.push([px, py]);
      }
      const wdt = rng.uniform(0.35, 0.9);
      fill(c, [Math.min(...pts.map((q) => q[0])) - 3, Math.min(...pts.map((q) => q[1])) - 3, Math.max(...pts.map((q) => q[0])) + 3, Math.max(...pts.map((q) => q[1])) + 3], polyline(pts, wdt, wdt * 0.6), hairStrand, 1);
    }
  }
  if (rng.chance(0.08)) {
    // hat
    const hatC = randomColour(rng);
    const [tx, ty] = rot(hx, hcy, 0, -hairRy * 0.45, tilt);
    fill(c, [hx - hairRx * 2, hcy - hairRy * 1.7, hx + hairRx * 2, hcy + hairRy * 0.5], union(ellipse(tx, ty, hairRx * 1.05, hairRy * 0.62, tilt), ellipse(tx, ty + hairRy * 0.35, hairRx * rng.uniform(1.1, 1.6), hairRy * 0.13, tilt)), texture(rng, noise, hatC, ry * 3), 1);
  }
  paintArm(-1, true);
  paintArm(1, true);
}

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

export interface WriteSynthOptions {
  count: number;
  seed: number | string;
  width: number;
  height: number;
  /** Folder of background photos (jpg/png); null or absent = procedural backgrounds. */
  backgrounds?: string | null;
  /** Also write this many unlabeled images under unlabeled/images/. */
  unlabeled?: number;
  /** Called after each written sample with (done, total). */
  progress?: (done: number, total: number) => void;
}

export interface SynthDatasetInfo {
  dir: string;
  count: number;
  unlabeled: number;
  /** Mean person coverage (mask > 127) over the labeled samples. */
  meanCoverage: number;
}


/** Writes images/NNNN.jpg + masks/NNNN.png (and unlabeled/images/NNNN.jpg). Sample k uses makeRng(seed).fork(k). */
export async function writeSynthDataset(outDir: string, opts: WriteSynthOptions): Promise<SynthDatasetInfo> {
  const bgs = opts.backgrounds ? await loadBackgrounds(opts.backgrounds, 640) : [];
  const root = makeRng(opts.seed);
  const unl = opts.unlabeled ?? 0;
  const total = opts.count + unl;
  const digits = Math.max(4, String(Math.max(opts.count, unl)).length);
  let cov = 0;
  // encoding runs on libuv threads: keep a few writes in flight while the next sample is drawn
  const inflight = new Set<Promise<void>>();
  let done = 0;
  const write = async (p: Promise<unknown>) => {
    const q: Promise<void> = p.then(() => {
      inflight.delete(q);
      opts.progress?.(++done, total);
    });
    inflight.add(q);
    if (inflight.size >= 6) await Promise.race(inflight);
  };
  for (let k = 0; k < opts.count; k++) {
    const s = synthSample(root.fork(k), { width: opts.width, height: opts.height, backgrounds: bgs });
    const name = String(k).padStart(digits, '0');
    cov += coverage(s.mask!);
    await write(Promise.all([writeJpeg(path.join(outDir, 'images', `${name}.jpg`), s.image, 92), writePng(path.join(outDir, 'masks', `${name}.png`), s.mask!.data, opts.width, opts.height, 1)]));
  }
  for (let k = 0; k < unl; k++) {
    const s = synthSample(root.fork(`u${k}`), { width: opts.width, height: opts.height, backgrounds: bgs });
    await write(writeJpeg(path.join(outDir, 'unlabeled', 'images', `${String(k).padStart(digits, '0')}.jpg`), s.image, 92));
  }
  await Promise.all(inflight);
  return { dir: outDir, count: opts.count, unlabeled: unl, meanCoverage: opts.count ? cov / opts.count : 0 };
}

/** Fraction of pixels with mask > 127. */
export function coverage(m: GrayImage): number {
  let on = 0;
  for (let i = 0; i < m.data.length; i++) if (m.data[i] > 127) on++;
  return on / m.data.length;
}
