/**
 * Image decoding is bounded and says why it failed (issue 18): every decoder (data loading and
 * inspection, masks, backgrounds, blur) refuses an image over the pixel limit from its header,
 * before decoding, in one line naming the file; a file the user may not read is a permission
 * error, not "unsupported image format".
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { decodeImageAt, decodeImageChecked, decodeMask, loadBackgrounds, loadSample, openDataset, scanDataset } from '../../src/data';
import { DEFAULT_MAX_IMAGE_PIXELS, maxImagePixels, readRgb } from '../../src/util/image';
import { cli } from '../helpers/cli';
import { runTs } from '../helpers/child';
import { tmpDir } from '../data/fixtures';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/**
 * A grey PNG whose header says `w` x `h` and whose data holds only its first rows (a few hundred
 * bytes): what a decompression bomb looks like to a decoder's header check. Decoding it would
 * allocate the whole raster before noticing the missing rows.
 */
function pngBomb(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const rows = zlib.deflateSync(Buffer.alloc((w + 1) * 4));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

/** The default limit is 2^26 = 67108864 pixels (docs/bad-input.md). */
const LIMIT_LINE = (w: number, h: number) => `image ${w}x${h} = ${w * h} pixels, over the decode limit of 67108864 pixels (PORTRAITSEG_MAX_IMAGE_PIXELS raises it)`;

describe('util/image: bounded decoding', function () {
  let dir: string;
  let bomb: string;
  const savedLimit = process.env.PORTRAITSEG_MAX_IMAGE_PIXELS;
  before(async () => {
    delete process.env.PORTRAITSEG_MAX_IMAGE_PIXELS;
    dir = tmpDir('image');
    bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, pngBomb(16000, 16000));
  });
  after(() => {
    if (savedLimit === undefined) delete process.env.PORTRAITSEG_MAX_IMAGE_PIXELS;
    else process.env.PORTRAITSEG_MAX_IMAGE_PIXELS = savedLimit;
  });

  it('the bomb is tiny and its header says 16000x16000 (the fixture is what it claims)', async () => {
    assert.ok(fs.statSync(bomb).size < 2000, `${fs.statSync(bomb).size} bytes`);
    const m = await sharp(bomb).metadata();
    assert.deepEqual([m.width, m.height], [16000, 16000]);
  });

  it('every decoder refuses a 16000x16000 PNG from its header, one line naming the file', async () => {
    const line = `${bomb}: ${LIMIT_LINE(16000, 16000)}`;
    await assert.rejects(decodeImageChecked(bomb), (e: Error) => e.message === line);
    await assert.rejects(decodeImageAt(bomb, 64, 64), (e: Error) => e.message === line);
    await assert.rejects(decodeMask(bomb), (e: Error) => e.message === `${bomb}: mask: ${LIMIT_LINE(16000, 16000)}`);
    await assert.rejects(readRgb(bomb), /Input image exceeds pixel limit/);
    // a data folder holding it: the scan (data inspect) and the loader leave it out, naming it
    const data = path.join(dir, 'data');
    fs.mkdirSync(path.join(data, 'images'), { recursive: true });
    fs.mkdirSync(path.join(data, 'masks'), { recursive: true });
    fs.copyFileSync(bomb, path.join(data, 'images', 'b.png'));
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#000000' } }).png().toFile(path.join(data, 'masks', 'b.png'));
    const ds = await openDataset(data);
    const { dataset } = await scanDataset(ds, { decode: 'full', log: () => {} });
    assert.deepEqual(dataset.bad.map((b) => [path.basename(b.path), b.reason]), [['b.png', LIMIT_LINE(16000, 16000)]]);
    await assert.rejects(loadSample(ds.refs[0], { frameSize: [32, 32] }), (e: Error) => e.message === `${ds.refs[0].imagePath}: ${LIMIT_LINE(16000, 16000)}`);
    // backgrounds: skipped with the reason
    const bg = path.join(dir, 'bg');
    fs.mkdirSync(bg);
    fs.copyFileSync(bomb, path.join(bg, 'bomb.png'));
    const write = process.stderr.write;
    const err: string[] = [];
    process.stderr.write = ((s: string) => err.push(String(s))) as never;
    try {
      await assert.rejects(loadBackgrounds(bg), /no readable background images/);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(err, [`backgrounds: skipping ${path.join(bg, 'bomb.png')}: ${LIMIT_LINE(16000, 16000)}\n`]);
  });

  it('blur --input bomb.png: exit 2 with one line, before any model is loaded (it used to take 4.5 GB)', function () {
    this.timeout(120000);
    const r = cli(['blur', '--model', path.join(dir, 'no-model'), '--input', bomb, '--output', path.join(dir, 'out.png')]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `portraitseg: error: --input ${bomb}: ${LIMIT_LINE(16000, 16000)}`);
    assert.ok(!fs.existsSync(path.join(dir, 'out.png')));
  });

  it('PORTRAITSEG_MAX_IMAGE_PIXELS moves the limit; a 16x16 image decodes under the default', async () => {
    const small = path.join(dir, 'small.png');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(small);
    assert.equal((await decodeImageChecked(small)).width, 16);
    assert.equal(DEFAULT_MAX_IMAGE_PIXELS, 2 ** 26);
    assert.equal(maxImagePixels(), 2 ** 26);
    process.env.PORTRAITSEG_MAX_IMAGE_PIXELS = '255';
    try {
      await assert.rejects(decodeImageChecked(small), (e: Error) => e.message === `${small}: image 16x16 = 256 pixels, over the decode limit of 255 pixels (PORTRAITSEG_MAX_IMAGE_PIXELS raises it)`);
      process.env.PORTRAITSEG_MAX_IMAGE_PIXELS = '256';
      assert.equal((await decodeImageChecked(small)).width, 16);
      process.env.PORTRAITSEG_MAX_IMAGE_PIXELS = 'lots';
      assert.throws(() => maxImagePixels(), /PORTRAITSEG_MAX_IMAGE_PIXELS=lots: expected a positive whole number of pixels/);
    } finally {
      delete process.env.PORTRAITSEG_MAX_IMAGE_PIXELS;
    }
  });

  it('an image the user may not read is a permission error naming it, not "unsupported image format"', async function () {
    this.timeout(120000);
    const pdir = tmpDir('image-perm');
    fs.chmodSync(pdir, 0o755);
    const file = path.join(pdir, 'locked.png');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(file);
    fs.chmodSync(file, 0o000);
    const want = [
      `image: ${file}: permission denied: you may not read this file`,
      `mask: ${file}: mask: permission denied: you may not read this file`,
    ].join('\n');
    const script = `const d = require('./src/data');
      (async () => {
        for (const [what, f] of [['image', () => d.decodeImageChecked(${JSON.stringify(file)})], ['mask', () => d.decodeMask(${JSON.stringify(file)})]]) {
          try { await f(); console.log(what + ': decoded'); } catch (e) { console.log(what + ': ' + e.message); }
        }
      })();`;
    // root reads everything: the check runs as an unprivileged user then
    const asRoot = process.getuid?.() === 0;
    const r = runTs(script, asRoot ? { uid: 65534, gid: 65534, env: { ...process.env, HOME: pdir } } : {});
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), want);
  });
});
