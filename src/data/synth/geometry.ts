/**
 * Signed distance primitives (pixels; negative inside) the portrait painters build shapes from.
 */
import { clamp, mix } from './canvas';
import type { Sdf } from './canvas';

export function ellipse(cx: number, cy: number, rx: number, ry: number, rot = 0): Sdf {
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
export function capsule(ax: number, ay: number, bx: number, by: number, ra: number, rb = ra): Sdf {
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

export function box(cx: number, cy: number, hw: number, hh: number, r = 0): Sdf {
  return (x, y) => {
    const qx = Math.abs(x - cx) - hw + r;
    const qy = Math.abs(y - cy) - hh + r;
    const ox = Math.max(qx, 0);
    const oy = Math.max(qy, 0);
    return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - r;
  };
}

export const union = (...f: Sdf[]): Sdf => {
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
export const intersect = (a: Sdf, b: Sdf): Sdf => (x, y) => Math.max(a(x, y), b(x, y));

/** A polyline of capsules (hair strands, fingers). */
export function polyline(pts: number[][], r0: number, r1: number): Sdf {
  const segs: Sdf[] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const ta = i / (pts.length - 1);
    const tb = (i + 1) / (pts.length - 1);
    segs.push(capsule(pts[i][0], pts[i][1], pts[i + 1][0], pts[i + 1][1], mix(r0, r1, ta), mix(r0, r1, tb)));
  }
  return union(...segs);
}

/** The point (cx, cy) + (dx, dy) rotated by a about (cx, cy). */
export function rot(cx: number, cy: number, dx: number, dy: number, a: number): [number, number] {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return [cx + dx * c - dy * s, cy + dx * s + dy * c];
}
