import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { coverage, openDataset, proceduralBackground, synthSample, writeSynthDataset } from '../../src/data';
import { makeRng } from '../../src/util/rng';
import { rmrf, tmpDir } from './fixtures';

function std(d: Uint8Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of d) {
    s += v;
    s2 += v * v;
  }
  const m = s / d.length;
  return Math.sqrt(s2 / d.length - m * m);
}

describe('data/synth', () => {
  it('same seed gives identical bytes; another seed differs', () => {
    const a = synthSample(makeRng(5), { width: 48, height: 40 });
    const b = synthSample(makeRng(5), 48, 40);
    const c = synthSample(makeRng(6), { width: 48, height: 40 });
    assert.equal(a.image.data.length, 48 * 40 * 3);
    assert.equal(a.mask!.data.length, 48 * 40);
    assert.ok(Buffer.from(a.image.data).equals(Buffer.from(b.image.data)));
    assert.ok(Buffer.from(a.mask!.data).equals(Buffer.from(b.mask!.data)));
    assert.ok(!Buffer.from(a.image.data).equals(Buffer.from(c.image.data)));
  });

  it('masks cover a plausible, varied share of the frame; images are textured, not flat', () => {
    const covs: number[] = [];
    for (let k = 0; k < 24; k++) {
      const s = synthSample(makeRng('sanity').fork(k), { width: 64, height: 64 });
      covs.push(coverage(s.mask!));
      assert.ok(std(s.image.data) > 12, `sample ${k} is nearly flat`);
      // the background is not one colour: look outside the person
      const bg: number[] = [];
      for (let i = 0; i < 64 * 64; i++) if (s.mask!.data[i] === 0) bg.push(s.image.data[i * 3], s.image.data[i * 3 + 1]);
      if (bg.length > 200) assert.ok(std(Uint8Array.from(bg)) > 3, `sample ${k} has a flat background`);
    }
    const mean = covs.reduce((a, b) => a + b, 0) / covs.length;
    assert.ok(mean > 0.15 && mean < 0.6, `mean coverage ${mean}`);
    assert.ok(Math.min(...covs) > 0.01, `an empty mask: ${covs}`);
    assert.ok(Math.max(...covs) < 0.98, `a full mask: ${covs}`);
    assert.ok(Math.max(...covs) - Math.min(...covs) > 0.2, 'coverage hardly varies');
  });

  it('mask edges are anti-aliased (a few soft pixels) and the image is soft there too', () => {
    const s = synthSample(makeRng(11), { width: 64, height: 64 });
    let soft = 0;
    for (const v of s.mask!.data) if (v > 0 && v < 255) soft++;
    assert.ok(soft > 10 && soft < 64 * 64 * 0.2, `soft mask pixels: ${soft}`);
  });

  it('proceduralBackground is deterministic and varied', () => {
    const a = proceduralBackground(makeRng(1), 32, 32);
    assert.ok(Buffer.from(a.data).equals(Buffer.from(proceduralBackground(makeRng(1), 32, 32).data)));
    assert.ok(!Buffer.from(a.data).equals(Buffer.from(proceduralBackground(makeRng(2), 32, 32).data)));
  });

  it('writeSynthDataset writes images/ + masks/ (+ unlabeled/) that open as a dataset, byte-identical per seed', async () => {
    const d1 = tmpDir('synth');
    const d2 = tmpDir('synth');
    try {
      const info = await writeSynthDataset(d1, { count: 3, seed: 4, width: 40, height: 32, unlabeled: 2 });
      await writeSynthDataset(d2, { count: 3, seed: 4, width: 40, height: 32, unlabeled: 2 });
      assert.equal(info.count, 3);
      assert.deepEqual(fs.readdirSync(path.join(d1, 'images')), ['0000.jpg', '0001.jpg', '0002.jpg']);
      assert.deepEqual(fs.readdirSync(path.join(d1, 'unlabeled', 'images')), ['0000.jpg', '0001.jpg']);
      for (const f of ['images/0001.jpg', 'masks/0001.png', 'unlabeled/images/0001.jpg']) {
        assert.ok(fs.readFileSync(path.join(d1, f)).equals(fs.readFileSync(path.join(d2, f))), `${f} differs`);
      }
      const ds = await openDataset(d1);
      assert.equal(ds.layout, 'folders');
      assert.equal(ds.refs.length, 3);
      const un = await openDataset(path.join(d1, 'unlabeled'));
      assert.equal(un.layout, 'unlabeled');
    } finally {
      rmrf(d1);
      rmrf(d2);
    }
  });
});
