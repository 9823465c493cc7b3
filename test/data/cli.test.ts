import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { cli } from '../helpers/cli';
import { rmrf, sample, tmpDir, writeFolders, writeImage, writeMask, writeTruncatedJpeg } from './fixtures';

describe('data CLI', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('datacli');
  });
  after(() => rmrf(dir));

  it('data synth writes a dataset and data inspect names a corrupt JPEG, a missing mask and a size mismatch, then carries on', async () => {
    const ds = path.join(dir, 'synth');
    const s = cli(['data', 'synth', '--out', ds, '--count', '6', '--seed', '3', '--size', '40x32']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /wrote 6 samples \(40x32, seed 3\)/);
    assert.equal(fs.readdirSync(path.join(ds, 'masks')).length, 6);
    // seed three bad files
    const x = sample(1, 40, 32);
    await writeTruncatedJpeg(path.join(ds, 'images', 'broken.jpg'), x.image);
    await writeMask(path.join(ds, 'masks', 'broken.png'), x.mask!.data, 40, 32);
    await writeImage(path.join(ds, 'images', 'lonely.jpg'), x.image);
    await writeImage(path.join(ds, 'images', 'wrongsize.jpg'), x.image);
    await writeMask(path.join(ds, 'masks', 'wrongsize.png'), new Uint8Array(20 * 20).fill(255, 0, 200), 20, 20);
    const out = path.join(dir, 'inspect');
    const r = cli(['data', 'inspect', '--data', ds, '--out', out, '--count', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pairs: 9 found, 6 usable, 3 left out/);
    assert.match(r.stdout, /broken\.jpg: corrupt or truncated image/);
    assert.match(r.stdout, /lonely\.jpg: missing mask/);
    assert.match(r.stdout, /wrongsize\.jpg: size mismatch: image 40x32, mask .*wrongsize\.png 20x20/);
    assert.match(r.stdout, /sizes: 40x32 x6/);
    assert.ok(fs.statSync(path.join(out, 'contact-sheet.png')).size > 1000);
    const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    assert.equal(rep.usable, 6);
    assert.equal(rep.coverage.reduce((a: number, b: number) => a + b, 0), 6);
    // strict: one line naming the file, exit 2 (the earlier report is replaced only with --overwrite)
    const st = cli(['data', 'inspect', '--data', ds, '--out', out, '--strict', '--overwrite']);
    assert.equal(st.code, 2);
    assert.match(st.stderr, /error: .*(lonely\.jpg: missing mask|broken\.jpg: corrupt)/);
  });

  it('data inspect --sheet writes the contact sheet to the file named, and refuses a name that is not .png', async () => {
    const ds = path.join(dir, 'synth-sheet');
    assert.equal(cli(['data', 'synth', '--out', ds, '--count', '4', '--seed', '5', '--size', '32x32']).code, 0);
    const out = path.join(dir, 'inspect-sheet');
    const sheet = path.join(dir, 'sheets', 'mine.png');
    const r = cli(['data', 'inspect', '--data', ds, '--out', out, '--sheet', sheet, '--count', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`contact sheet: ${sheet}`), r.stdout);
    const meta = await sharp(sheet).metadata();
    // 3 tiles of 128x128 in one row, 2 px gaps
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 3 * 128 + 4 * 2, 128 + 2 * 2]);
    assert.ok(!fs.existsSync(path.join(out, 'contact-sheet.png')), 'no second sheet in --out');
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).sheet, sheet);
    const bad = cli(['data', 'inspect', '--data', ds, '--out', out, '--sheet', path.join(dir, 'sheet.jpg')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^portraitseg: error: --sheet: the contact sheet is a PNG/);
  });

  it('a --data that does not exist is a one-line usage error', () => {
    const m = cli(['data', 'inspect', '--data', path.join(dir, 'nope')]);
    assert.equal(m.code, 2);
    assert.match(m.stderr, /nope: not found/);
  });
});
