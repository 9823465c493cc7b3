/**
 * Image I/O shared by data, augmentation previews, eval overlays and the blur command.
 * Raster convention everywhere in portraitseg: row-major HWC, RGB uint8 for images and
 * a single-channel uint8 (0 = background, 255 = person, soft values allowed) for masks.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

export interface RgbImage {
  width: number;
  height: number;
  /** length width*height*3, RGB */
  data: Uint8Array;
}

export interface GrayImage {
  width: number;
  height: number;
  /** length width*height */
  data: Uint8Array;
}

/** Decodes any format sharp reads, applies EXIF rotation, converts CMYK/grey/alpha to sRGB RGB. */
export async function readRgb(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file, { failOn: 'error' })
    .rotate()
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: expected 3 channels after conversion, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

export async function writePng(file: string, data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4 = 3): Promise<void> {
  if (data.length !== width * height * channels) {
    throw new Error(`writePng ${file}: buffer has ${data.length} bytes, expected ${width}x${height}x${channels}`);
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}.png`;
  await sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width, height, channels } }).png().toFile(tmp);
  fs.renameSync(tmp, file);
}

export async function writeJpeg(file: string, img: RgbImage, quality = 90): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toFile(file);
}

/** Bilinear resize of an RGB image (sharp, fast). */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const out = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { width, height, data: new Uint8Array(out.buffer, out.byteOffset, out.length) };
}
