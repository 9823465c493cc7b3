/** Tiny on-disk datasets for the data tests, generated in os.tmpdir(). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { synthSample } from '../../src/data/synth';
import { makeRng } from '../../src/util/rng';
import type { RgbImage } from '../../src/util/image';

export const SHARED = path.join(__dirname, '../../../shared/datasets');

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `portraitseg-${tag}-`));
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A 32x24 (w x h) synthetic portrait; seed picks which. */
export function sample(seed: number, w = 32, h = 24) {
  return synthSample(makeRng(`fixture${seed}`), { width: w, height: h });
}

function rawRgb(img: RgbImage) {
  return sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
}

export async function writeImage(file: string, img: RgbImage, kind: 'jpg' | 'png' | 'grey' | 'cmyk' | 'exif6' = 'jpg'): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const p = rawRgb(img);
  if (kind === 'png') await p.png().toFile(file);
  else if (kind === 'grey') await p.toColourspace('b-w').jpeg().toFile(file);
  else if (kind === 'cmyk') await p.toColourspace('cmyk').jpeg().toFile(file);
  else if (kind === 'exif6') await p.jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(file);
  else await p.jpeg({ quality: 95 }).toFile(file);
}

export async function writeMask(file: string, data: Uint8Array, w: number, h: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(data), { raw: { width: w, height: h, channels: 1 } }).png().toFile(file);
}

/** images/<id>.jpg + masks/<id>.png for ids 0..n-1 (32x24). */
export async function writeFolders(root: string, n: number, w = 32, h = 24): Promise<void> {
  for (let i = 0; i < n; i++) {
    const s = sample(i, w, h);
    await writeImage(path.join(root, 'images', `${i}.jpg`), s.image);
    await writeMask(path.join(root, 'masks', `${i}.png`), s.mask!.data, w, h);
  }
}

/** A valid JPEG cut in half: the header reads, the decode fails. */
export async function writeTruncatedJpeg(file: string, img: RgbImage): Promise<void> {
  await writeImage(file, img);
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, Math.floor(b.length / 2)));
}
