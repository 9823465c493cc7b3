import { strict as assert } from 'assert';
import { cameraNoise, colorJitter, colorJitterImage, jpegArtefacts } from '../../src/augment';
import type { RgbImage } from '../../src/util/image';
import { makeRng } from '../../src/util/rng';
import { cloneSample, portraitSample } from './fixtures';

const NONE = { brightness: 1, contrast: 1, saturation: 1, hue: 0, temperature: 0, tint: 0 };

function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i] - b.data[i]);
  return s / a.data.length;
}

describe('augment: photometric transforms', () => {
  it('colour jitter with neutral amounts is the identity', () => {
    const s = portraitSample();
    const out = colorJitterImage(s.image, NONE);
    assert.ok(meanAbsDiff(out, s.image) < 0.01);
  });

  it('brightness, saturation and white balance move the colours the right way', () => {
    const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([100, 80, 60, 40, 120, 200]) };
    assert.deepEqual([...colorJitterImage(img, { ...NONE, brightness: 1.5 }).data], [150, 120, 90, 60, 180, 255]);
    const grey = colorJitterImage(img, { ...NONE, saturation: 0 }).data;
    assert.ok(Math.abs(grey[0] - grey[1]) <= 1 && Math.abs(grey[1] - grey[2]) <= 1, `saturation 0 is grey: ${grey}`);
    const warm = colorJitterImage(img, { ...NONE, temperature: 0.2 }).data;
    assert.ok(warm[0] > 100 && warm[2] < 60 && warm[1] === 80);
    // contrast 0 collapses everything to the mean luma
    const flat = colorJitterImage(img, { ...NONE, contrast: 0 }).data;
    assert.ok(Math.max(...flat) - Math.min(...flat) <= 1, `contrast 0 is flat: ${flat}`);
    // hue rotation by a full turn is the identity; by half a turn it changes the colour but not the luma much
    assert.ok(meanAbsDiff(colorJitterImage(img, { ...NONE, hue: 1 }), img) < 1);
    const rot = colorJitterImage(img, { ...NONE, hue: 0.5 }).data;
    assert.notDeepEqual([...rot], [...img.data]);
  });

  it('colour jitter and camera noise leave the mask alone and do not mutate the input', () => {
    const s = portraitSample();
    const before = cloneSample(s);
    const a = colorJitter(s, makeRng(1), { brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05, whiteBalance: 0.1 });
    const b = cameraNoise(s, makeRng(1), { noise: 0.08, blur: 1.5, jpeg: 1, lowLight: 1 });
    assert.equal(a.mask, s.mask);
    assert.equal(b.mask, s.mask);
    assert.notDeepEqual(a.image.data, s.image.data);
    assert.notDeepEqual(b.image.data, s.image.data);
    assert.deepEqual(s, before);
  });

  it('camera noise: low light darkens, noise has the requested strength, and it is seeded', () => {
    const flat: RgbImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) };
    const s = { id: 'flat', image: flat, mask: null };
    const noisy = cameraNoise(s, makeRng(4), { noise: 0.1, blur: 0, jpeg: 0, lowLight: 0 });
    let sum = 0;
    let sq = 0;
    for (const v of noisy.image.data) {
      sum += v;
      sq += v * v;
    }
    const n = noisy.image.data.length;
    const mean = sum / n;
    const sd = Math.sqrt(sq / n - mean * mean);
    assert.ok(Math.abs(mean - 128) < 1.5, `noise is zero-mean (${mean})`);
    assert.ok(sd > 0.5 && sd < 0.1 * 255, `noise std ${sd} within (0, noise * 255)`);
    assert.deepEqual(cameraNoise(s, makeRng(4), { noise: 0.1, blur: 0, jpeg: 0, lowLight: 0 }).image.data, noisy.image.data);
    const dark = cameraNoise(s, makeRng(4), { noise: 0, blur: 0, jpeg: 0, lowLight: 1 });
    const darkMean = dark.image.data.reduce((a, v) => a + v, 0) / n;
    assert.ok(darkMean < 100, `low light darkens (${darkMean})`);
  });

  it('JPEG artefacts: high quality is close to the input, low quality makes 8x8 blocks', () => {
    // a smooth diagonal gradient with fine detail
    const W = 32;
    const d = new Uint8Array(W * W * 3);
    for (let y = 0; y < W; y++)
      for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) d[(y * W + x) * 3 + c] = (x * 4 + y * 3 + c * 20 + ((x ^ y) & 1) * 30) & 255;
    const img = { width: W, height: W, data: d };
    const hi = jpegArtefacts(img, 95);
    const lo = jpegArtefacts(img, 10);
    assert.ok(meanAbsDiff(hi, img) < 6, `q95 error ${meanAbsDiff(hi, img)}`);
    assert.ok(meanAbsDiff(lo, img) > meanAbsDiff(hi, img) + 2, 'q10 loses more');
    // blockiness: luma jumps across block borders (x = 7|8) exceed jumps inside blocks (x = 3|4)
    const luma = (im: RgbImage, x: number, y: number) => 0.299 * im.data[(y * W + x) * 3] + 0.587 * im.data[(y * W + x) * 3 + 1] + 0.114 * im.data[(y * W + x) * 3 + 2];
    let across = 0;
    let inside = 0;
    for (let y = 0; y < W; y++) {
      for (const bx of [8, 16, 24]) across += Math.abs(luma(lo, bx, y) - luma(lo, bx - 1, y));
      for (const ix of [4, 12, 20]) inside += Math.abs(luma(lo, ix, y) - luma(lo, ix - 1, y));
    }
    assert.ok(across > inside, `block edges ${across} vs inside ${inside}`);
    // odd sizes work (partial blocks, odd chroma planes)
    const odd = jpegArtefacts({ width: 13, height: 9, data: new Uint8Array(13 * 9 * 3).fill(90) }, 30);
    assert.equal(odd.data.length, 13 * 9 * 3);
    assert.ok(odd.data.every((v) => Math.abs(v - 90) <= 2));
  });
});
