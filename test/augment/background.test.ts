import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { backgroundSwap, buildPipeline, compositeOnto, loadBackgrounds } from '../../src/augment';
import { getTransformDef } from '../../src/augment/registry';
import type { BackgroundSwapParams } from '../../src/augment/background';
import { makeRng } from '../../src/util/rng';
import { cloneSample, greenBackground, portraitSample } from './fixtures';

function defaults(): BackgroundSwapParams {
  // the declared defaults (zod: parsing nothing fills every default)
  return getTransformDef('backgroundSwap')!.params.parse({}) as unknown as BackgroundSwapParams;
}

/** Pixels at least `r` px away from any pixel of the other class. */
function deep(mask: Uint8Array, W: number, H: number, inside: boolean, r: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let ok = true;
      for (let dy = -r; dy <= r && ok; dy++)
        for (let dx = -r; dx <= r && ok; dx++) {
          const xx = Math.min(W - 1, Math.max(0, x + dx));
          const yy = Math.min(H - 1, Math.max(0, y + dy));
          if (mask[yy * W + xx] >= 128 !== inside) ok = false;
        }
      if (ok) out.push(y * W + x);
    }
  return out;
}

describe('augment: background swap', () => {
  it('keeps the mask, replaces background pixels, keeps person pixels near their colours', () => {
    const s = portraitSample(48, 64);
    const before = cloneSample(s);
    const bg = greenBackground(96, 80);
    let runs = 0;
    for (let k = 0; k < 5; k++) {
      const out = backgroundSwap(s, makeRng(`swap-${k}`), defaults(), [bg]);
      assert.deepEqual(out.mask!.data, s.mask!.data, 'mask unchanged');
      const W = 48;
      const H = 64;
      const bgPix = deep(s.mask!.data, W, H, false, 3);
      const personPix = deep(s.mask!.data, W, H, true, 3);
      assert.ok(bgPix.length > 100 && personPix.length > 100);
      // background: the blue wall is gone, the green photo is there (mean G well above B)
      let g = 0;
      let b = 0;
      for (const i of bgPix) {
        g += out.image.data[i * 3 + 1];
        b += out.image.data[i * 3 + 2];
      }
      assert.ok(g / bgPix.length > 150 && b / bgPix.length < 110, `background not replaced: G ${g / bgPix.length}, B ${b / bgPix.length}`);
      // person (away from the light-wrapped rim): colour matching moves it only a little
      let maxDiff = 0;
      let sumDiff = 0;
      for (const i of personPix)
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(out.image.data[i * 3 + c] - s.image.data[i * 3 + c]);
          maxDiff = Math.max(maxDiff, d);
          sumDiff += d;
        }
      assert.ok(maxDiff <= 35, `person pixel moved by ${maxDiff}`);
      assert.ok(sumDiff / (personPix.length * 3) <= 20, `person colours moved by ${sumDiff / (personPix.length * 3)} on average`);
      runs++;
    }
    assert.equal(runs, 5);
    assert.deepEqual(s, before, 'input not mutated');
  });

  it('with colour matching, light wrap and feathering off it is a plain cut-and-paste', () => {
    const s = portraitSample(48, 64);
    const p = { ...defaults(), colorMatch: 0, lightWrap: 0, feather: 0, choke: 0, edgeClean: 0 };
    const bg = new Float32Array(48 * 64 * 3).fill(77);
    const out = compositeOnto(s, bg, p);
    for (let i = 0; i < 48 * 64; i++)
      for (let c = 0; c < 3; c++) assert.equal(out.data[i * 3 + c], s.mask!.data[i] ? s.image.data[i * 3 + c] : 77);
  });

  it('the seam is soft: feathering gives intermediate values across the edge', () => {
    const s = portraitSample(48, 64);
    const bg = new Float32Array(48 * 64 * 3).fill(0);
    const out = compositeOnto(s, bg, { ...defaults(), feather: 0.03, colorMatch: 0, lightWrap: 0, edgeClean: 0, choke: 0 });
    // the head's red channel (200) fades to 0 over a few pixels along row 22 instead of a 1-px step
    const row = Array.from({ length: 48 }, (_, x) => out.data[(22 * 48 + x) * 3]);
    const mid = row.filter((v) => v > 20 && v < 180).length;
    assert.ok(mid >= 4, `expected a soft edge, got ${row.join(',')}`);
  });

  it('copes with frames with no person, all person, and soft mattes', () => {
    const s = portraitSample(48, 64);
    const bg = [greenBackground(96, 80)];
    const empty = { ...s, mask: { ...s.mask!, data: new Uint8Array(48 * 64) } };
    const e = backgroundSwap(empty, makeRng(1), defaults(), bg);
    assert.equal(e.mask, empty.mask);
    // nothing of the old frame is left: mostly green now
    let g = 0;
    for (let i = 0; i < 48 * 64; i++) g += e.image.data[i * 3 + 1] - e.image.data[i * 3 + 2];
    assert.ok(g / (48 * 64) > 80);
    const full = { ...s, mask: { ...s.mask!, data: new Uint8Array(48 * 64).fill(255) } };
    const f = backgroundSwap(full, makeRng(1), defaults(), bg);
    let diff = 0;
    for (let i = 0; i < f.image.data.length; i++) diff += Math.abs(f.image.data[i] - s.image.data[i]);
    assert.ok(diff / f.image.data.length < 25, `all-person frame stays the person (${diff / f.image.data.length})`);
    const soft = { ...s, mask: { ...s.mask!, data: s.mask!.data.map((v) => (v ? 140 : 0)) } };
    const o = backgroundSwap(soft, makeRng(1), defaults(), bg);
    assert.equal(o.mask, soft.mask);
    assert.ok(o.image.data.every((v) => Number.isFinite(v)));
  });

  it('uses procedural backgrounds when no photos are given, and is seeded', () => {
    const s = portraitSample(48, 64);
    const aug = buildPipeline([{ name: 'backgroundSwap' }], { backgrounds: [] });
    const a = aug(s, makeRng(1));
    const b = aug(s, makeRng(1));
    const c = aug(s, makeRng(2));
    assert.deepEqual(a.image.data, b.image.data);
    assert.notDeepEqual(a.image.data, c.image.data);
    assert.notDeepEqual(a.image.data, s.image.data);
    assert.deepEqual(a.mask, s.mask);
  });

  it('loadBackgrounds reads every image in a folder, sorted, downscaled to maxSide', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-bg-'));
    try {
      const raw = (w: number, h: number, v: number) => sharp(Buffer.alloc(w * h * 3, v), { raw: { width: w, height: h, channels: 3 } });
      await raw(200, 50, 10).jpeg().toFile(path.join(dir, 'b.jpg'));
      fs.mkdirSync(path.join(dir, 'sub'));
      await raw(40, 60, 200).png().toFile(path.join(dir, 'sub', 'a.PNG'));
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
      const bgs = await loadBackgrounds(dir, 100);
      assert.equal(bgs.length, 2);
      assert.deepEqual(bgs.map((b) => [b.width, b.height]), [[100, 25], [40, 60]]);
      assert.equal(bgs[1].data.length, 40 * 60 * 3);
      assert.ok(Math.abs(bgs[0].data[0] - 10) <= 3);
      await assert.rejects(loadBackgrounds(path.join(dir, 'missing')), /backgrounds folder not found: .*missing/);
      fs.mkdirSync(path.join(dir, 'empty'));
      await assert.rejects(loadBackgrounds(path.join(dir, 'empty')), /no background images .* in .*empty/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works with the real background photos (skipped when ../shared/datasets is absent)', async function () {
    const root = path.join(__dirname, '../../../shared/datasets');
    if (!fs.existsSync(path.join(root, 'backgrounds'))) this.skip();
    const bgs = await loadBackgrounds(path.join(root, 'backgrounds'), 128);
    assert.ok(bgs.length >= 1 && bgs.every((b) => Math.max(b.width, b.height) <= 128));
    const s = portraitSample(96, 128);
    const out = backgroundSwap(s, makeRng(5), defaults(), bgs);
    assert.deepEqual(out.mask, s.mask);
  });
});
