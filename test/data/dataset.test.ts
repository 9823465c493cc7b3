import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { DataError, formatReport, inspectDataset, loadSample, openDataset, scanDataset } from '../../src/data';
import { rmrf, sample, SHARED, tmpDir, writeFolders, writeImage, writeMask, writeTruncatedJpeg } from './fixtures';

describe('data/dataset: layouts', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('layouts');
  });
  afterEach(() => rmrf(dir));

  it('pairs images/ and masks/ by stem, any extension', async () => {
    await writeFolders(dir, 3);
    const s = sample(9);
    await writeImage(path.join(dir, 'images', 'x.png'), s.image, 'png');
    await writeMask(path.join(dir, 'masks', 'x_mask.png'), s.mask!.data, 32, 24);
    const ds = await openDataset(dir);
    assert.equal(ds.layout, 'folders');
    assert.deepEqual(ds.refs.map((r) => r.id), ['0', '1', '2', 'x']);
    assert.equal(ds.bad.length, 0);
    assert.ok(ds.refs.every((r) => r.maskPath && fs.existsSync(r.maskPath)));
    const smp = await loadSample(ds.refs[3], { frameSize: [16, 20] });
    assert.equal(smp.image.width, 20);
    assert.equal(smp.image.height, 16);
    assert.equal(smp.mask!.data.length, 16 * 20);
    assert.ok(smp.mask!.data.every((v) => v === 0 || v === 255), 'binary mode thresholds');
  });

  it('symlinks: loops and duplicate links add nothing, each file counts once; links to new folders are followed', async () => {
    await writeFolders(dir, 6);
    // loops back up the tree (images/loop -> images, masks/up -> the root) and a second link to images/
    fs.symlinkSync(path.join(dir, 'images'), path.join(dir, 'images', 'loop'));
    fs.symlinkSync(dir, path.join(dir, 'masks', 'up'));
    fs.symlinkSync(path.join(dir, 'images'), path.join(dir, 'images', 'again'));
    // a file link to an image already listed
    fs.symlinkSync(path.join(dir, 'images', '0.jpg'), path.join(dir, 'images', 'a-copy-of-0.jpg'));
    const ds = await openDataset(dir);
    assert.deepEqual(ds.refs.map((r) => r.id), ['0', '1', '2', '3', '4', '5'], 'each pair once, under its own name');
    assert.equal(ds.bad.length, 0, ds.bad.map((b) => `${b.path}: ${b.reason}`).join('\n'));
    // a link to a folder outside the tree is data like any other
    const outside = tmpDir('outside');
    const s = sample(11);
    await writeImage(path.join(outside, 'extra', 'e.jpg'), s.image);
    await writeMask(path.join(dir, 'masks', 'linked', 'e.png'), s.mask!.data, 32, 24);
    fs.symlinkSync(path.join(outside, 'extra'), path.join(dir, 'images', 'linked'));
    const ds2 = await openDataset(dir);
    assert.deepEqual(ds2.refs.map((r) => r.id), ['0', '1', '2', '3', '4', '5', 'linked/e']);
    rmrf(outside);
  });

  it('images at the top with a masks/ folder beside them', async () => {
    const s = sample(8);
    await writeImage(path.join(dir, 'p.jpg'), s.image);
    await writeMask(path.join(dir, 'masks', 'p.png'), s.mask!.data, 32, 24);
    const ds = await openDataset(dir);
    assert.equal(ds.layout, 'folders');
    assert.deepEqual(ds.refs.map((r) => r.id), ['p']);
    assert.equal(ds.bad.length, 0);
  });

  it('one folder with X.jpg + X_mask.png / X_matte.png', async () => {
    const a = sample(1);
    const b = sample(2);
    await writeImage(path.join(dir, 'a.jpg'), a.image);
    await writeMask(path.join(dir, 'a_mask.png'), a.mask!.data, 32, 24);
    await writeImage(path.join(dir, 'b.jpg'), b.image);
    await writeMask(path.join(dir, 'b_matte.png'), b.mask!.data, 32, 24);
    const ds = await openDataset(dir);
    assert.equal(ds.layout, 'suffix');
    assert.deepEqual(ds.refs.map((r) => [r.id, path.basename(r.maskPath!)]), [
      ['a', 'a_mask.png'],
      ['b', 'b_matte.png'],
    ]);
  });

  it('list file "image mask" relative to the list, with comments and blank lines', async () => {
    await writeFolders(path.join(dir, 'data'), 2);
    const list = path.join(dir, 'lists', 'train.txt');
    fs.mkdirSync(path.dirname(list));
    fs.writeFileSync(list, '# EG1800 style\n\n../data/images/0.jpg ../data/masks/0.png\n  ../data/images/1.jpg   ../data/masks/1.png  # trailing comment\n');
    const ds = await openDataset(list);
    assert.equal(ds.layout, 'list');
    assert.equal(ds.refs.length, 2);
    assert.equal(ds.refs[1].imagePath, path.join(dir, 'data', 'images', '1.jpg'));
    assert.equal(ds.refs[1].maskPath, path.join(dir, 'data', 'masks', '1.png'));
  });

  it('alpha mattes: soft kept in soft mode, thresholded in binary mode', async () => {
    const s = sample(3);
    const matte = new Uint8Array(32 * 24);
    for (let i = 0; i < matte.length; i++) matte[i] = (i % 32) * 8; // horizontal ramp 0..248
    await writeImage(path.join(dir, 'images', 'm.jpg'), s.image);
    await writeMask(path.join(dir, 'masks', 'm.png'), matte, 32, 24);
    const ds = await openDataset(dir);
    const soft = await loadSample(ds.refs[0], { maskMode: 'soft' });
    assert.deepEqual(Array.from(soft.mask!.data.subarray(0, 4)), [0, 8, 16, 24]);
    const bin = await loadSample(ds.refs[0], { maskMode: 'binary' });
    assert.equal(bin.mask!.data[15], 0); // 120
    assert.equal(bin.mask!.data[16], 255); // 128
  });

  it('label masks storing the person as 1 are scaled to 255', async () => {
    const s = sample(4);
    const lab = new Uint8Array(32 * 24);
    for (let i = 0; i < lab.length; i++) lab[i] = i % 32 >= 16 ? 1 : 0;
    await writeImage(path.join(dir, 'images', 'l.jpg'), s.image);
    await writeMask(path.join(dir, 'masks', 'l.png'), lab, 32, 24);
    const ds = await openDataset(dir);
    const smp = await loadSample(ds.refs[0]);
    assert.equal(smp.mask!.data[0], 0);
    assert.equal(smp.mask!.data[20], 255);
  });

  it('RGBA cut-outs: the alpha channel is the mask', async () => {
    const s = sample(5);
    const rgba = Buffer.alloc(32 * 24 * 4);
    for (let i = 0; i < 32 * 24; i++) {
      rgba[i * 4] = s.image.data[i * 3];
      rgba[i * 4 + 1] = s.image.data[i * 3 + 1];
      rgba[i * 4 + 2] = s.image.data[i * 3 + 2];
      rgba[i * 4 + 3] = s.mask!.data[i];
    }
    fs.mkdirSync(path.join(dir, 'cutouts'));
    const sharp = (await import('sharp')).default;
    await sharp(rgba, { raw: { width: 32, height: 24, channels: 4 } }).png().toFile(path.join(dir, 'cutouts', 'c.png'));
    const ds = await openDataset(path.join(dir, 'cutouts'));
    assert.equal(ds.layout, 'rgba');
    assert.equal(ds.refs[0].maskFromAlpha, true);
    const smp = await loadSample(ds.refs[0], { maskMode: 'soft' });
    assert.deepEqual(Buffer.from(smp.mask!.data), Buffer.from(s.mask!.data));
  });

  it('unlabeled folders give mask null; labeled: false ignores masks; labeled: true demands them', async () => {
    const s = sample(6);
    await writeImage(path.join(dir, 'u', 'p.jpg'), s.image);
    const ds = await openDataset(path.join(dir, 'u'));
    assert.equal(ds.layout, 'unlabeled');
    assert.equal(ds.refs[0].maskPath, null);
    assert.equal((await loadSample(ds.refs[0])).mask, null);
    await assert.rejects(openDataset(path.join(dir, 'u'), { labeled: true }), /no masks found/);
    await writeFolders(path.join(dir, 'f'), 2);
    const un = await openDataset(path.join(dir, 'f'), { labeled: false });
    assert.equal(un.layout, 'unlabeled');
    assert.ok(un.refs.every((r) => r.maskPath === null));
  });

  it('a JSON description with paths relative to it', async () => {
    await writeFolders(path.join(dir, 'd'), 2);
    fs.writeFileSync(path.join(dir, 'mine.json'), JSON.stringify({ name: 'mine', layout: 'folders', root: 'd', images: 'images', masks: 'masks' }));
    const ds = await openDataset(path.join(dir, 'mine.json'));
    assert.equal(ds.name, 'mine');
    assert.equal(ds.refs.length, 2);
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ name: 'x', layout: 'folderz', root: 'd' }));
    await assert.rejects(openDataset(path.join(dir, 'bad.json')), /bad\.json: layout: "folderz" is not one of/);
  });

  it('unknown specs name the spec and the known dataset names', async () => {
    await assert.rejects(openDataset('no-such-dataset-xyz'), (e: Error) => e instanceof DataError && /no-such-dataset-xyz: not found.*picsart/.test(e.message));
  });

  it('every datasets/*.json description parses and names layout, root, url and licence', () => {
    const dsDir = path.join(__dirname, '../../datasets');
    const files = fs.readdirSync(dsDir).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 5, `expected >= 5 descriptions, found ${files.length}`);
    for (const f of files) {
      const d = JSON.parse(fs.readFileSync(path.join(dsDir, f), 'utf8'));
      for (const k of ['name', 'layout', 'root', 'url', 'licence']) assert.ok(typeof d[k] === 'string' && d[k], `${f}: ${k}`);
    }
  });
});

describe('data/dataset: bad input is reported and skipped (strict: thrown)', () => {
  let dir: string;
  before(async () => {
    dir = tmpDir('bad');
    await writeFolders(dir, 2); // 0, 1 are good
    const s = sample(7);
    const img = path.join(dir, 'images');
    const msk = path.join(dir, 'masks');
    await writeTruncatedJpeg(path.join(img, 'corrupt.jpg'), s.image);
    await writeMask(path.join(msk, 'corrupt.png'), s.mask!.data, 32, 24);
    await writeImage(path.join(img, 'nomask.jpg'), s.image);
    await writeImage(path.join(img, 'mismatch.jpg'), s.image);
    await writeMask(path.join(msk, 'mismatch.png'), new Uint8Array(20 * 20).fill(255).fill(0, 0, 100), 20, 20);
    await writeImage(path.join(img, 'empty.jpg'), s.image);
    await writeMask(path.join(msk, 'empty.png'), new Uint8Array(32 * 24), 32, 24);
    await writeImage(path.join(img, 'full.jpg'), s.image);
    await writeMask(path.join(msk, 'full.png'), new Uint8Array(32 * 24).fill(255), 32, 24);
    // converted, not rejected
    await writeImage(path.join(img, 'grey.jpg'), s.image, 'grey');
    await writeMask(path.join(msk, 'grey.png'), s.mask!.data, 32, 24);
    await writeImage(path.join(img, 'cmyk.jpg'), s.image, 'cmyk');
    await writeMask(path.join(msk, 'cmyk.png'), s.mask!.data, 32, 24);
    // EXIF orientation 6: stored 32x24, displayed 24x32. A mask of the displayed size is right...
    await writeImage(path.join(img, 'exif.jpg'), s.image, 'exif6');
    await writeMask(path.join(msk, 'exif.png'), new Uint8Array(24 * 32).fill(255, 0, 300), 24, 32);
    // ... a mask of the stored size is reported
    await writeImage(path.join(img, 'exifstored.jpg'), s.image, 'exif6');
    await writeMask(path.join(msk, 'exifstored.png'), s.mask!.data, 32, 24);
    // a mask without an image
    await writeMask(path.join(msk, 'orphan.png'), s.mask!.data, 32, 24);
  });
  after(() => rmrf(dir));

  it('openDataset reports missing partners (both ways) and keeps going', async () => {
    const lines: string[] = [];
    const ds = await openDataset(dir, { log: (l) => lines.push(l) });
    const reasons = Object.fromEntries(ds.bad.map((b) => [path.basename(b.path), b.reason]));
    assert.match(reasons['nomask.jpg'], /missing mask/);
    assert.match(reasons['orphan.png'], /mask without an image/);
    assert.equal(ds.bad.length, 2);
    assert.ok(lines.some((l) => /nomask\.jpg: missing mask/.test(l)));
    assert.ok(ds.refs.length >= 9);
  });

  it('scanDataset names each bad file with its reason and keeps the good and converted ones', async () => {
    const lines: string[] = [];
    const ds = await openDataset(dir, { log: (l) => lines.push(l) });
    const { dataset, items } = await scanDataset(ds, { decode: 'full', log: (l) => lines.push(l) });
    const reasons = Object.fromEntries(dataset.bad.map((b) => [path.basename(b.path), b.reason]));
    assert.match(reasons['corrupt.jpg'], /corrupt or truncated image/);
    assert.match(reasons['mismatch.jpg'], /size mismatch: image 32x24, mask .*mismatch\.png 20x20/);
    assert.match(reasons['empty.png'], /no person pixels/);
    assert.match(reasons['full.png'], /person everywhere/);
    assert.match(reasons['exifstored.jpg'], /EXIF orientation 6.*displayed \(24x32\)/);
    assert.deepEqual(dataset.refs.map((r) => r.id).sort(), ['0', '1', 'cmyk', 'exif', 'grey']);
    assert.equal(items.length, 5);
    const notes = dataset.notes.map((n) => `${path.basename(n.path)}: ${n.note}`);
    assert.ok(notes.some((n) => /grey\.jpg: grey-scale/.test(n)), notes.join('\n'));
    assert.ok(notes.some((n) => /cmyk\.jpg: CMYK/.test(n)), notes.join('\n'));
    assert.ok(notes.some((n) => /exif\.jpg: EXIF orientation 6 applied/.test(n)), notes.join('\n'));
    for (const f of ['corrupt.jpg', 'mismatch.jpg', 'empty.png', 'full.png', 'exifstored.jpg']) assert.ok(lines.some((l) => l.includes(f)), `no report line for ${f}`);
  });

  it('converted images load as 3-channel RGB of the displayed size', async () => {
    const ds = await openDataset(dir);
    const byId = Object.fromEntries(ds.refs.map((r) => [r.id, r]));
    const grey = await loadSample(byId.grey);
    assert.equal(grey.image.data.length, 32 * 24 * 3);
    assert.equal(grey.image.data[0], grey.image.data[1]);
    const cmyk = await loadSample(byId.cmyk);
    const good = sample(7).image.data;
    let err = 0;
    for (let i = 0; i < good.length; i++) err += Math.abs(cmyk.image.data[i] - good[i]);
    assert.ok(err / good.length < 20, `CMYK converted colours off by ${err / good.length}`);
    const ex = await loadSample(byId.exif);
    assert.equal(ex.image.width, 24);
    assert.equal(ex.image.height, 32);
  });

  it('strict mode throws DataError naming the file', async () => {
    await assert.rejects(openDataset(dir, { strict: true }), (e: Error) => e instanceof DataError && /(nomask\.jpg: missing mask|orphan\.png: mask without)/.test(e.message));
    const ds = await openDataset(dir);
    await assert.rejects(scanDataset(ds, { strict: true, decode: 'full' }), (e: Error) => e instanceof DataError && /corrupt\.jpg: corrupt or truncated image/.test(e.message));
  });

  it('loadSample throws DataError with the file path for corrupt files and mismatches', async () => {
    const ds = await openDataset(dir);
    const byId = Object.fromEntries(ds.refs.map((r) => [r.id, r]));
    await assert.rejects(loadSample(byId.corrupt), (e: Error) => e instanceof DataError && e.message.includes(path.join(dir, 'images', 'corrupt.jpg')));
    await assert.rejects(loadSample(byId.mismatch), (e: Error) => e instanceof DataError && /mismatch\.jpg: size mismatch/.test(e.message));
  });
});

describe('data/dataset: the local PicsArt selfies', () => {
  it('pairs 1359 images and masks (by name and by path)', async function () {
    if (!fs.existsSync(path.join(SHARED, 'picsart-selfies'))) this.skip();
    const byPath = await openDataset(path.join(SHARED, 'picsart-selfies'));
    assert.equal(byPath.layout, 'folders');
    assert.equal(byPath.refs.length, 1359);
    assert.equal(byPath.bad.length, 0);
    const byName = await openDataset('picsart');
    assert.equal(byName.refs.length, 1359);
    const un = await openDataset('picsart-unlabeled', { labeled: false });
    assert.equal(un.refs.length, 1675);
  });

  it('data inspect (pairing only) reports 1359 pairs and writes a contact sheet', async function () {
    if (!fs.existsSync(path.join(SHARED, 'picsart-selfies'))) this.skip();
    const out = tmpDir('inspect-picsart');
    try {
      const r = await inspectDataset(path.join(SHARED, 'picsart-selfies'), { out, decode: 'none', sheetCount: 4, tile: 32 });
      assert.equal(r.found, 1359);
      assert.equal(r.usable, 1359);
      assert.match(formatReport(r), /pairs: 1359 found, 1359 usable, 0 left out/);
      assert.ok(fs.statSync(path.join(out, 'contact-sheet.png')).size > 500);
    } finally {
      rmrf(out);
    }
  });
});
