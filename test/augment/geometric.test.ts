import { strict as assert } from 'assert';
import { buildPipeline, flipSample, rotateSample, scaleCropSample } from '../../src/augment';
import type { Sample } from '../../src/data/types';
import { makeRng } from '../../src/util/rng';
import { bbox, cloneSample, count, squareSample } from './fixtures';

/** red >= 128 must coincide with mask >= 128 pixel for pixel. */
function assertAligned(s: Sample, what: string): void {
  const m = s.mask!.data;
  const d = s.image.data;
  let bad = 0;
  for (let i = 0; i < m.length; i++) if (d[i * 3] >= 128 !== m[i] >= 128) bad++;
  assert.equal(bad, 0, `${what}: ${bad} pixels where image and mask disagree`);
}

const redBox = (s: Sample) => bbox(s.image.width, s.image.height, (i) => s.image.data[i * 3] >= 128);
const maskBox = (s: Sample) => bbox(s.image.width, s.image.height, (i) => s.mask!.data[i] >= 128);

describe('augment: geometric transforms', () => {
  it('rotate by 90 degrees moves the square counter-clockwise, image and mask alike', () => {
    // forward map for 90 deg CCW about the centre of a 32x32 frame: (x, y) -> (y, 31 - x)
    const s = squareSample(); // x in [4, 12), y in [6, 14)
    const r = rotateSample(s, 90, 'constant');
    assert.deepEqual(maskBox(r), [6, 14, 20, 28]);
    assert.deepEqual(redBox(r), [6, 14, 20, 28]);
    assert.equal(count(r.mask!, (v) => v === 255), 64);
    assertAligned(r, 'rotate 90');
    // the gradient channels moved the same way: green (x gradient) of source pixel (x=31, y) lands at (y, 0)
    assert.equal(r.image.data[(0 * 32 + 5) * 3 + 1], s.image.data[(5 * 32 + 31) * 3 + 1]);
  });

  it('rotate by -90 then +90 is the identity on the square', () => {
    const s = squareSample();
    const back = rotateSample(rotateSample(s, -90, 'constant'), 90, 'constant');
    assert.deepEqual(back.mask!.data, s.mask!.data);
    assert.deepEqual(back.image.data, s.image.data);
  });

  it('rotate by 180 degrees on a non-square frame is the point reflection', () => {
    const s = squareSample(40, 24, 3, 15, 2, 9);
    const r = rotateSample(s, 180, 'constant');
    for (let y = 0; y < 24; y++)
      for (let x = 0; x < 40; x++) {
        const j = (23 - y) * 40 + (39 - x);
        assert.equal(r.mask!.data[y * 40 + x], s.mask!.data[j]);
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(r.image.data[(y * 40 + x) * 3 + c] - s.image.data[j * 3 + c]) <= 1);
      }
  });

  it('flip mirrors image and mask exactly', () => {
    const s = squareSample();
    const f = flipSample(s);
    assert.deepEqual(maskBox(f), [32 - 12, 32 - 4, 6, 14]);
    assertAligned(f, 'flip');
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) assert.equal(f.image.data[(y * 32 + x) * 3 + c], s.image.data[(y * 32 + 31 - x) * 3 + c]);
    assert.deepEqual(flipSample(f).image.data, s.image.data);
  });

  it('scaleCrop zooms about the centre and shifts by a fraction of the size', () => {
    const s = squareSample(32, 32, 12, 20, 10, 18);
    // scale 2 about (16, 16): edges 12..20 -> 8..24, 10..18 -> 4..20
    const z = scaleCropSample(s, 2, 0, 0, 'constant');
    assert.deepEqual(maskBox(z), [8, 24, 4, 20]);
    assertAligned(z, 'scale 2');
    // then a shift of +0.25 width (8 px) right and -0.125 height (4 px) up
    const zs = scaleCropSample(s, 2, 0.25, -0.125, 'constant');
    assert.deepEqual(maskBox(zs), [16, 32, 0, 16]);
    // zoom out by 0.5: 12..20 -> 14..18
    const o = scaleCropSample(s, 0.5, 0, 0, 'constant');
    assert.deepEqual(maskBox(o), [14, 18, 13, 17]);
    assertAligned(o, 'scale 0.5');
  });

  it('each random geometric transform keeps image and mask exactly aligned, for every border mode', () => {
    let runs = 0;
    for (const border of ['auto', 'reflect', 'replicate', 'constant']) {
      for (const spec of [
        { name: 'scaleCrop', minScale: 0.6, maxScale: 1.6, maxShift: 0.3, border },
        { name: 'rotate', maxDegrees: 45, border },
        { name: 'flip' },
      ]) {
        const aug = buildPipeline([spec], { backgrounds: [] });
        for (let k = 0; k < 6; k++) {
          const s = squareSample(32, 32, 6 + k, 16 + k, 4 + k, 12 + k);
          const out = aug(s, makeRng(`geo-${border}-${k}`));
          assert.equal(out.image.width, 32);
          assert.equal(out.image.height, 32);
          assert.ok(count(out.mask!, (v) => v === 255) > 0, 'the square is still in view');
          assertAligned(out, `${spec.name}/${border} #${k}`);
          runs++;
        }
      }
    }
    assert.equal(runs, 72);
  });

  it('a chain of geometric transforms keeps image and mask aligned up to the edge pixels', () => {
    // after one warp the image edge is soft while the mask is re-thresholded, so a second warp can
    // disagree on a pixel at the boundary, never further inside or outside
    const aug = buildPipeline(
      [
        { name: 'scaleCrop', minScale: 0.6, maxScale: 1.6, maxShift: 0.3 },
        { name: 'rotate', maxDegrees: 45 },
        { name: 'flip', p: 0.5 },
      ],
      { backgrounds: [] },
    );
    for (let k = 0; k < 12; k++) {
      const out = aug(squareSample(32, 32, 6 + k, 16 + k, 4 + k, 12 + k), makeRng(`chain-${k}`));
      const m = out.mask!.data;
      let bad = 0;
      for (let i = 0; i < m.length; i++) {
        const red = out.image.data[i * 3];
        if (red >= 128 === m[i] >= 128) continue;
        bad++;
        // only where the image itself is on an edge (a soft red value), never a solid pixel
        assert.ok(red > 40 && red < 215, `chain #${k}: pixel ${i} is solid in the image (red ${red}) but the mask says ${m[i]}`);
      }
      // and on far fewer pixels than the outline has
      let edge = 0;
      for (let i = 0; i < m.length; i++) {
        const x = i % 32;
        if (m[i] >= 128 && ((x > 0 && m[i - 1] < 128) || (x < 31 && m[i + 1] < 128) || (i >= 32 && m[i - 32] < 128) || (i + 32 < m.length && m[i + 32] < 128))) edge++;
      }
      assert.ok(bad <= Math.max(4, edge / 2), `chain #${k}: ${bad} disagreeing pixels for an outline of ${edge}`);
    }
  });

  it('binary masks stay binary, soft mattes stay soft', () => {
    const s = squareSample();
    const r = rotateSample(s, 17);
    assert.ok(r.mask!.data.every((v) => v === 0 || v === 255));
    const soft = cloneSample(s);
    for (let i = 0; i < soft.mask!.data.length; i++) if (soft.mask!.data[i] === 255) soft.mask!.data[i] = 180;
    const rs = rotateSample(soft, 17);
    const values = new Set(rs.mask!.data);
    assert.ok(values.has(180), 'interior keeps the matte value');
    assert.ok([...values].some((v) => v > 0 && v < 180), 'edges are interpolated, not thresholded');
  });

  it('does not mutate its input and handles unlabeled samples', () => {
    const s = squareSample();
    const before = cloneSample(s);
    rotateSample(s, 33);
    flipSample(s);
    scaleCropSample(s, 1.3, 0.1, -0.1);
    assert.deepEqual(s, before);
    const u: Sample = { ...s, mask: null };
    for (const out of [rotateSample(u, 20), flipSample(u), scaleCropSample(u, 1.2, 0.05, 0)]) {
      assert.equal(out.mask, null);
      assert.equal(out.image.data.length, 32 * 32 * 3);
    }
  });
});
