import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildPipeline, drawOutline, renderPreview } from '../../src/augment';
import { makeRng } from '../../src/util/rng';
import { cli } from '../helpers/cli';
import { parseSize } from '../../src/cli/commands/augment';
import { UsageError } from '../../src/cli/common';
import { portraitSample, squareSample } from './fixtures';

describe('augment: preview', () => {
  it('drawOutline marks exactly the mask boundary', () => {
    const s = squareSample(); // 8x8 square at x 4..11, y 6..13
    const o = drawOutline(s.image, s.mask, [0, 255, 0]);
    let green = 0;
    for (let i = 0; i < 32 * 32; i++) if (o.data[i * 3] !== s.image.data[i * 3] || o.data[i * 3 + 1] !== s.image.data[i * 3 + 1] || o.data[i * 3 + 2] !== s.image.data[i * 3 + 2]) green++;
    assert.equal(green, 28); // the square's 1-px inner rim: 4 * 8 - 4
    assert.deepEqual([...o.data.subarray((8 * 32 + 7) * 3, (8 * 32 + 7) * 3 + 1)], [255]); // interior untouched
    assert.deepEqual(drawOutline(s.image, null, [0, 255, 0]).data, s.image.data);
  });

  it('renderPreview lays out (original | augmented) pairs and is reproducible', () => {
    const samples = [portraitSample(48, 64), portraitSample(48, 64), portraitSample(48, 64)];
    const transform = buildPipeline([{ name: 'flip' }, { name: 'colorJitter' }], { backgrounds: [] });
    const a = renderPreview(samples, { transform, rng: makeRng(1), columns: 2, gap: 4 });
    // 2 pairs per row: 2 * (2 * 48 + 4) + 3 * 8 = 224; 2 rows: 2 * 64 + 3 * 8 = 152
    assert.deepEqual([a.width, a.height], [224, 152]);
    const b = renderPreview(samples, { transform, rng: makeRng(1), columns: 2, gap: 4 });
    assert.deepEqual(a.data, b.data);
    // the original sits at (8, 8), the augmented one right of it
    const at = (x: number, y: number) => [...a.data.subarray((y * a.width + x) * 3, (y * a.width + x) * 3 + 3)];
    assert.deepEqual(at(8 + 1, 8 + 1), [...samples[0].image.data.subarray((1 * 48 + 1) * 3, (1 * 48 + 1) * 3 + 3)]);
    assert.throws(() => renderPreview([], { transform, rng: makeRng(1) }), /no samples/);
  });

  describe('portraitseg augment preview (CLI)', () => {
    let dir = '';
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-augcli-'));
      fs.mkdirSync(path.join(dir, 'data/images'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'data/masks'));
      fs.mkdirSync(path.join(dir, 'bg'));
      for (let k = 0; k < 3; k++) {
        const s = portraitSample(40, 48);
        await sharp(Buffer.from(s.image.data), { raw: { width: 40, height: 48, channels: 3 } }).jpeg().toFile(path.join(dir, `data/images/p${k}.jpg`));
        await sharp(Buffer.from(s.mask!.data), { raw: { width: 40, height: 48, channels: 1 } }).png().toFile(path.join(dir, `data/masks/p${k}.png`));
      }
      await sharp(Buffer.alloc(80 * 60 * 3, 120), { raw: { width: 80, height: 60, channels: 3 } }).jpeg().toFile(path.join(dir, 'bg/wall.jpg'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('writes the grid PNG for a dataset with backgrounds', async () => {
      const out = path.join(dir, 'grid.png');
      const r = cli(['augment', 'preview', '--data', path.join(dir, 'data'), '--backgrounds', path.join(dir, 'bg'), '--out', out, '--count', '2', '--size', '32x40', '--seed', '3']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), out);
      assert.match(r.stderr, /2 samples at 32x40, 1 background photos/);
      const meta = await sharp(out).metadata();
      // 2 pairs in one row: 2 * (2 * 32 + 4) + 3 * 8 = 160 wide, 40 + 2 * 8 = 56 high
      assert.deepEqual([meta.width, meta.height], [160, 56]);
    });

    it('names the bad key or flag in one line and exits 2', () => {
      const bad = cli(['augment', 'preview', '--data', path.join(dir, 'data'), '--out', path.join(dir, 'x.png'), '--set', 'augment.train=[{"name":"rotate","maxDegres":5}]']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^portraitseg: error: augment\.train\[0\]\.maxDegres: unknown parameter for rotate \(did you mean "maxDegrees"\?\)/);
      assert.ok(!fs.existsSync(path.join(dir, 'x.png')));
      assert.deepEqual(parseSize('32x40'), [40, 32]);
      assert.throws(() => parseSize('32by40'), (e: Error) => e instanceof UsageError && /--size 32by40: expected WIDTHxHEIGHT, e.g. --size 128x128/.test(e.message));
      assert.throws(() => parseSize('4x4'), /--size 4x4: width and height must be 8\.\.4096/);
    });
  });
});
