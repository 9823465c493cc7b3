/**
 * The person painter: a people-like subject (head, hair with stringy edges, ears, face features,
 * neck, shoulders, torso, arms, hands) painted into the canvas and its mask.
 */
import type { Rng } from '../../util/rng';
import { clamp, fill } from './canvas';
import type { Box, Canvas, Sdf, Shade } from './canvas';
import { Noise, periodicTable, TWO_PI, wobble } from './noise';
import { capsule, ellipse, intersect, polyline, rot, union } from './geometry';
import { hairColour, lit, randomColour, skinTone, solid, texture } from './colour';
import type { Rgb } from './colour';

export interface PersonOpts {
  /** head centre and half-height in pixels */
  hx: number;
  hy: number;
  ry: number;
  light: [number, number];
}

/**
 * What every part of one person shares: the head's place and size, the colours and shades,
 * the noise. Drawn first, in this order, from the person's generator.
 */
interface Look {
  c: Canvas;
  noise: Noise;
  hx: number;
  hy: number;
  ry: number;
  rx: number;
  lx: number;
  ly: number;
  tilt: number;
  skin: Rgb;
  hair: Rgb;
  darkSkin: Rgb;
  clothShade: Shade;
  skinShade: Shade;
  hairStrand: Shade;
  lean: number;
}

/** The shoulders and torso (pixels). */
interface Body {
  ys: number;
  sw: number;
  rr: number;
  bodyX: (y: number) => number;
  torso: Sdf;
  bodyBox: Box;
}

/** The hair style and outline (the back part is painted behind the body, the front over the face). */
interface Hair {
  style: 'short' | 'medium' | 'long' | 'bun' | 'bald' | 'curly';
  hairRx: number;
  hairRy: number;
  hcy: number;
  outline: Sdf;
  longLen: number;
  back: Sdf | null;
  box: Box;
}

function drawLook(c: Canvas, rng: Rng, p: PersonOpts): Look {
  const noise = new Noise(rng.fork('noise'));
  const { hx, hy, ry } = p;
  const [lx, ly] = p.light;
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
  return { c, noise, hx, hy, ry, rx, lx, ly, tilt, skin, hair, darkSkin, clothShade, skinShade, hairStrand, lean };
}

function drawBody(o: Look, rng: Rng): Body {
  const { hx, hy, ry, rx, lean } = o;
  const H = o.c.h;
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
  return { ys, sw, rr, bodyX, torso, bodyBox };
}

function drawHair(o: Look, rng: Rng): Hair {
  const { hx, hy, ry, rx, tilt } = o;
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
  const outline: Sdf = (x, y) => {
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
  const back = style === 'bald' ? null : longLen > 0 ? union(outline, longHair) : outline;
  const box: Box = [hx - hairRx * 2, hcy - hairRy * 1.6, hx + hairRx * 2, hy + longLen + ry];
  return { style, hairRx, hairRy, hcy, outline, longLen, back, box };
}

/**
 * One arm: painted behind the torso (front = false) when raised, in front of it when hanging
 * (when `showDown`). Both calls draw the same numbers: the generator is forked by side.
 */
function paintArm(o: Look, b: Body, personRng: Rng, side: -1 | 1, front: boolean, showDown: boolean): void {
  const { c, rx, ry, skinShade } = o;
  const { ys, sw, rr } = b;
  const sleeveShade: Shade = (x, y, out) => {
    o.clothShade(x, y, out);
    out[0] *= 0.82;
    out[1] *= 0.82;
    out[2] *= 0.82;
  };
  const rng = personRng.fork(`arm${side}`);
  const sx = b.bodyX(ys) + side * (sw - rr * 0.7);
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
}

/** The neck and the neckline (round, v, collar or none) cut into the torso. */
function paintNeck(o: Look, b: Body, rng: Rng): void {
  const { c, hx, hy, ry, rx, lx, ly, tilt, noise, darkSkin } = o;
  const { ys, rr, bodyX, torso } = b;
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
}

/** Ears and the face; features unless the person looks away. Returns whether they look away, and the face's shape. */
function paintHead(o: Look, rng: Rng): { lookAway: boolean; face: Sdf } {
  const { c, hx, hy, ry, rx, tilt, skinShade } = o;
  for (const sd of [-1, 1]) {
    const [ex, ey] = rot(hx, hy, sd * rx * 0.97, ry * 0.05, tilt);
    fill(c, [ex - rx, ey - ry, ex + rx, ey + ry], ellipse(ex, ey, rx * 0.18, ry * 0.24, tilt), skinShade, 1);
  }
  const head = ellipse(hx, hy, rx, ry, tilt);
  // jaw narrower than the forehead: intersect with a wider ellipse shifted up
  const face = intersect(head, ellipse(hx, hy - ry * 0.25, rx * 1.25, ry * 1.25, tilt));
  fill(c, [hx - rx * 1.5, hy - ry * 1.5, hx + rx * 1.5, hy + ry * 1.5], face, skinShade, 1);
  const lookAway = rng.chance(0.15); // back of the head: no face features
  if (!lookAway) paintFeatures(o, rng, face);
  return { lookAway, face };
}

/** Eyes, brows, nose, mouth, sometimes glasses and a beard. */
function paintFeatures(o: Look, rng: Rng, face: Sdf): void {
  const { c, hx, hy, ry, rx, tilt, skin, hair } = o;
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
    fill(c, [hx - rx * 1.5, hy, hx + rx * 1.5, hy + ry * 1.5], intersect(face, (x, y) => ry * 0.6 - (-(x - hx) * Math.sin(tilt) + (y - hy) * Math.cos(tilt))), o.hairStrand, 1);
  }
}

/** The fringe over the forehead, side locks in front of the shoulders, a bun, flyaway strands. */
function paintHairFront(o: Look, h: Hair, rng: Rng, lookAway: boolean): void {
  const { c, hx, hy, ry, rx, tilt, hairStrand } = o;
  const { style, hairRx, hairRy, hcy, longLen } = h;
  const hairline = hy - ry * rng.uniform(0.2, 0.5);
  const part = rng.uniform(-0.6, 0.6) * rx;
  const fringeWave = wobble(rng, 5, 6, 30);
  const sweep = rng.uniform(-0.4, 0.4);
  const ct = Math.cos(tilt);
  const st = Math.sin(tilt);
  const fringe = intersect(h.outline, (x, y) => {
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

function paintHat(o: Look, h: Hair, rng: Rng): void {
  const { hx, ry, tilt } = o;
  const { hairRx, hairRy, hcy } = h;
  const hatC = randomColour(rng);
  const [tx, ty] = rot(hx, hcy, 0, -hairRy * 0.45, tilt);
  fill(o.c, [hx - hairRx * 2, hcy - hairRy * 1.7, hx + hairRx * 2, hcy + hairRy * 0.5], union(ellipse(tx, ty, hairRx * 1.05, hairRy * 0.62, tilt), ellipse(tx, ty + hairRy * 0.35, hairRx * rng.uniform(1.1, 1.6), hairRy * 0.13, tilt)), texture(rng, o.noise, hatC, ry * 3), 1);
}

/**
 * Paints one person, back to front. Every random draw comes from `rng` in a fixed order (the
 * parts below draw in the order they are called): a dataset is a function of its seed, so
 * keep the order when editing (test/data/synth.test.ts compares bytes per seed).
 */
export function paintPerson(c: Canvas, rng: Rng, p: PersonOpts): void {
  const o = drawLook(c, rng, p);
  const body = drawBody(o, rng);
  const hair = drawHair(o, rng);
  const showDown = rng.chance(0.7);
  if (hair.back) fill(c, hair.box, hair.back, o.hairStrand, 1);
  paintArm(o, body, rng, -1, false, showDown);
  paintArm(o, body, rng, 1, false, showDown);
  fill(c, body.bodyBox, body.torso, o.clothShade, 1);
  paintNeck(o, body, rng);
  const { lookAway } = paintHead(o, rng);
  if (hair.style !== 'bald') paintHairFront(o, hair, rng, lookAway);
  if (rng.chance(0.08)) paintHat(o, hair, rng);
  paintArm(o, body, rng, -1, true, showDown);
  paintArm(o, body, rng, 1, true, showDown);
}
