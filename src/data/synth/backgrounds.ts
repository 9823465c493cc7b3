/**
 * Procedural backgrounds (rooms, outdoor scenes, textures) and crops of background photos.
 */
import type { RgbImage } from '../../util/image';
import type { Rng } from '../../util/rng';
import { clamp, fill, mix, newCanvas, toRgb } from './canvas';
import type { Box, Canvas } from './canvas';
import { Noise, wobble } from './noise';
import { box, ellipse } from './geometry';
import { hairColour, hsv, lit, randomColour, skinTone, solid, texture } from './colour';

export function boxBlur(rgb: Float32Array, w: number, h: number, r: number): void {
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
export function smoothField(w: number, h: number, fn: (x: number, y: number) => number, step = 4): Float32Array {
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

export function paintRoom(c: Canvas, rng: Rng, noise: Noise): void {
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
  for (let k = 0; k < items; k++) paintRoomItem(c, rng, noise);
}

/** One thing in a room: a window, shelf, picture frame, door, plant, lamp, curtain, or a person-coloured blob (not in the mask). */
function paintRoomItem(c: Canvas, rng: Rng, noise: Noise): void {
  const { w, h } = c;
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

export function paintOutdoor(c: Canvas, rng: Rng, noise: Noise): void {
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

export function paintTexture(c: Canvas, rng: Rng, noise: Noise): void {
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
export function cropPhoto(c: Canvas, rng: Rng, img: RgbImage): void {
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

/** A person-free procedural scene: room, outdoor, or texture, sometimes defocused. */
export function proceduralBackground(rng: Rng, width: number, height: number): RgbImage {
  const c = newCanvas(width, height);
  paintBackground(c, rng);
  return toRgb(c);
}

export function paintBackground(c: Canvas, rng: Rng): void {
  const noise = new Noise(rng.fork('noise'));
  const r = rng.next();
  if (r < 0.6) paintRoom(c, rng, noise);
  else if (r < 0.82) paintOutdoor(c, rng, noise);
  else paintTexture(c, rng, noise);
  if (rng.chance(0.5)) boxBlur(c.rgb, c.w, c.h, rng.int(1, Math.max(1, Math.round(Math.min(c.w, c.h) / 64))));
}
