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

/**
 * The most pixels (width x height as the file's header states them) any image is decoded at:
 * 2^26 = 67,108,864 (64 MP, e.g. 8192x8192 or 10000x6700), well above a 24 MP photo. The
 * environment variable PORTRAITSEG_MAX_IMAGE_PIXELS changes it. A 16000x16000 PNG of 746 KB (a
 * "decompression bomb") used to take `blur` to 4.5 GB; it is now one line naming the file.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 2 ** 26;

export function maxImagePixels(): number {
  const v = process.env.PORTRAITSEG_MAX_IMAGE_PIXELS;
  if (v === undefined || v.trim() === '') return DEFAULT_MAX_IMAGE_PIXELS;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`PORTRAITSEG_MAX_IMAGE_PIXELS=${v}: expected a positive whole number of pixels`);
  return n;
}

/** sharp on a file, with its decode bounded by maxImagePixels() (sharp checks the header before decoding). */
export function openImage(file: string): ReturnType<typeof sharp> {
  return sharp(file, { failOn: 'error', limitInputPixels: maxImagePixels() });
}

/**
 * The reason an image could not be decoded, when it is not the image's content: the file cannot
 * be read (permission denied, missing, a folder), or it is over the pixel limit. Null otherwise,
 * for the caller's own "unreadable or corrupt image" line. sharp says "unsupported image format"
 * for a file it may not open, hence the look at the file itself.
 */
export async function imageProblem(file: string, e: unknown): Promise<string | null> {
  try {
    fs.closeSync(fs.openSync(file, 'r'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied: you may not read this file';
    if (code === 'ENOENT') return 'not found';
    if (code === 'EISDIR') return 'a folder, expected an image file';
    return `cannot be read (${code ?? (err as Error).message})`;
  }
  if (/pixel limit/i.test(String((e as Error)?.message ?? e))) {
    let size = '';
    try {
      const m = await sharp(file).metadata();
      size = `${m.width}x${m.height} = ${(m.width ?? 0) * (m.height ?? 0)} pixels, `;
    } catch {
      /* the header was read once already; without it the limit alone is said */
    }
    return pixelLimitReason(size);
  }
  return null;
}

/** The reason an image of `size` ("WxH = N pixels, ") is not decoded. */
export function pixelLimitReason(size: string): string {
  return `image ${size}over the decode limit of ${maxImagePixels()} pixels (PORTRAITSEG_MAX_IMAGE_PIXELS raises it)`;
}

/** Decodes any format sharp reads, applies EXIF rotation, converts CMYK/grey/alpha to sRGB RGB. */
export async function readRgb(file: string): Promise<RgbImage> {
  const { data, info } = await openImage(file)
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
