import { strict as assert } from 'assert';
import { boxBlur, gaussianBlur, NORMAL_TABLE } from '../../src/augment/raster';
import { makeRng } from '../../src/util/rng';

/** Straightforward reference: one box pass, edges replicated. */
function naiveBox(src: Float32Array, W: number, H: number, ch: number, r: number): Float32Array {
  const clampI = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < ch; c++) {
        let a = 0;
        for (let i = -r; i <= r; i++) a += src[(y * W + clampI(x + i, W)) * ch + c];
        tmp[(y * W + x) * ch + c] = a / (2 * r + 1);
      }
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < ch; c++) {
        let a = 0;
        for (let i = -r; i <= r; i++) a += tmp[(clampI(y + i, H) * W + x) * ch + c];
        out[(y * W + x) * ch + c] = a / (2 * r + 1);
      }
  return out;
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('augment: raster helpers', () => {
  const rng = makeRng('raster');
  const cases: [number, number, number, number][] = [
    [7, 5, 1, 1],
    [9, 6, 3, 2],
    [4, 11, 3, 3], // radius close to the width
    [16, 3, 1, 5], // radius larger than the height
  ];

  it('boxBlur matches a naive box filter (edges replicated, several passes)', () => {
    let runs = 0;
    for (const [W, H, ch, r] of cases) {
      const src = new Float32Array(W * H * ch).map(() => rng.uniform(0, 255));
      assert.ok(maxAbs(boxBlur(src, W, H, ch, r, 1), naiveBox(src, W, H, ch, r)) < 1e-3, `1 pass ${W}x${H}x${ch} r${r}`);
      assert.ok(maxAbs(boxBlur(src, W, H, ch, r, 2), naiveBox(naiveBox(src, W, H, ch, r), W, H, ch, r)) < 1e-3, `2 passes ${W}x${H}x${ch} r${r}`);
      runs++;
    }
    assert.equal(runs, cases.length);
    const src = new Float32Array(12).fill(3);
    assert.deepEqual(boxBlur(src, 2, 2, 3, 0), src);
  });

  it('gaussianBlur preserves constants and the mean, and spreads an impulse symmetrically', () => {
    const flat = new Float32Array(10 * 8 * 3).fill(42);
    assert.ok(maxAbs(gaussianBlur(flat, 10, 8, 3, 1.5), flat) < 1e-4);
    const W = 21;
    const imp = new Float32Array(W * W);
    imp[10 * W + 10] = 1000;
    const g = gaussianBlur(imp, W, W, 1, 1.2);
    const total = g.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(total - 1000) < 0.5, `mass ${total}`);
    assert.ok(Math.abs(g[10 * W + 9] - g[10 * W + 11]) < 1e-3 && Math.abs(g[9 * W + 10] - g[10 * W + 9]) < 1e-3);
    assert.ok(g[10 * W + 10] < 1000 * 0.2 && g[10 * W + 10] > g[10 * W + 11]);
  });

  it('the normal table is a standard normal', () => {
    let s = 0;
    let s2 = 0;
    for (const v of NORMAL_TABLE) {
      s += v;
      s2 += v * v;
    }
    const n = NORMAL_TABLE.length;
    assert.ok(Math.abs(s / n) < 1e-6);
    assert.ok(Math.abs(s2 / n - 1) < 0.01, `variance ${s2 / n}`);
  });
});
