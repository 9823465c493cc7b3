/**
 * Decoding one sample: image and mask from disk to a Sample at the training frame size.
 * Every failure is a DataError naming the file, so nothing crashes deep inside training.
 *
 * EXIF orientation is applied to images (they are used as displayed). Masks are read with
 * their own EXIF orientation applied (PNG masks normally have none) and must match the
 * displayed image size; a mask drawn on the un-rotated pixels is reported as a mismatch.
 */
import sharp from 'sharp';
import type { GrayImage, RgbImage } from '../util/image';
import { imageProblem, openImage, readRgb, resizeRgb } from '../util/image';
import type { Sample, SampleRef } from './types';
import { DataError } from './errors';

export type MaskMode = 'binary' | 'soft';

export interface LoadOptions {
  /** [height, width] to resize to; null keeps the file's size. */
  frameSize?: [number, number] | null;
  /** 'binary' thresholds at 0.5 after resizing; 'soft' keeps mattes (and resize blends). */
  maskMode?: MaskMode;
  /**
   * Without frameSize: photos whose longer side exceeds this are downsampled (aspect kept) so it
   * is this many pixels; smaller ones keep their size. null / 0 = always the file's size.
   */
  maxSide?: number | null;
}

/** [height, width] of a w x h photo whose longer side is brought down to maxSide (never up). */
export function fitMaxSide(width: number, height: number, maxSide: number | null | undefined): [number, number] {
  const long = Math.max(width, height);
  if (!maxSide || long <= maxSide) return [height, width];
  const s = maxSide / long;
  return [Math.max(1, Math.round(height * s)), Math.max(1, Math.round(width * s))];
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** Decodes an image fully (truncated JPEGs fail here, not later). */
export async function decodeImageChecked(file: string): Promise<RgbImage> {
  try {
    return await readRgb(file);
  } catch (e) {
    throw new DataError(file, (await imageProblem(file, e)) ?? `unreadable or corrupt image (${firstLine(e)})`);
  }
}

/**
 * Decodes and resizes an image in one sharp pipeline (JPEG shrink-on-load makes large photos
 * much cheaper than decoding at full size first); also returns the displayed source size,
 * read from the header, for the mask size check.
 */
export async function decodeImageAt(file: string, width: number, height: number): Promise<{ image: RgbImage; srcWidth: number; srcHeight: number }> {
  try {
    const p = openImage(file);
    const m = await p.metadata();
    const o = m.orientation ?? 1;
    const srcWidth = m.autoOrient?.width ?? (o >= 5 ? m.height! : m.width!);
    const srcHeight = m.autoOrient?.height ?? (o >= 5 ? m.width! : m.height!);
    const { data, info } = await p.rotate().toColourspace('srgb').removeAlpha().resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== width || info.height !== height) throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    return { image: { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, srcWidth, srcHeight };
  } catch (e) {
    throw new DataError(file, (await imageProblem(file, e)) ?? `unreadable or corrupt image (${firstLine(e)})`);
  }
}

/**
 * Label images that store the person as a small index (1, or a palette colour whose grey
 * value is below 128) are scaled so the person is 255. Only when the mask has exactly two
 * values, 0 and one value under 128; real soft mattes have many values and are kept.
 */
export function normaliseLabelMask(d: Uint8Array): void {
  let hi = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v === 0) continue;
    if (hi === 0) hi = v;
    else if (v !== hi) return;
  }
  if (hi === 0 || hi >= 128) return;
  for (let i = 0; i < d.length; i++) if (d[i] === hi) d[i] = 255;
}

/** Decodes a mask file (grey, RGB or palette; or the alpha channel when fromAlpha) to one channel. */
export async function decodeMask(file: string, fromAlpha = false): Promise<GrayImage> {
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    const p = openImage(file).rotate();
    out = fromAlpha
      ? await p.toColourspace('srgb').ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true })
      : await p.removeAlpha().toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    const problem = await imageProblem(file, e);
    throw new DataError(file, problem ? `mask: ${problem}` : `unreadable mask (${firstLine(e)})`);
  }
  const { data, info } = out;
  if (info.channels !== 1) throw new DataError(file, `mask decoded to ${info.channels} channels, expected 1`);
  const d = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (!fromAlpha) normaliseLabelMask(d);
  return { width: info.width, height: info.height, data: d };
}

/**
 * The one rule for masks that cannot teach anything (used by scanDataset, which `data
 * inspect` runs, and by loadSample, which the training and validation loaders run): a mask
 * with no person pixel (> 127) or with nothing else; with maskMode 'soft' only a constant mask.
 * Returns the reason, or null when usable.
 */
export function trivialMaskReason(mask: GrayImage, maskMode: MaskMode = 'binary'): string | null {
  const d = mask.data;
  if (maskMode === 'soft') {
    // Soft labels (a teacher's P(person), `portraitseg label`): a photo the teacher finds no one
    // in is still a label (all background, softly); only a constant raster carries nothing.
    for (let i = 1; i < d.length; i++) if (d[i] !== d[0]) return null;
    return d[0] > 127 ? 'mask is person everywhere (full mask)' : 'mask has no person pixels (empty mask)';
  }
  let on = 0;
  for (let i = 0; i < d.length; i++) if (d[i] > 127) on++;
  if (on === 0) return 'mask has no person pixels (empty mask)';
  if (on === d.length) return 'mask is person everywhere (full mask)';
  return null;
}

/** Bilinear resize of a one-channel raster (sharp). */
export async function resizeGray(img: GrayImage, width: number, height: number): Promise<GrayImage> {
  if (img.width === width && img.height === height) return img;
  const out = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { width, height, data: new Uint8Array(out.buffer, out.byteOffset, out.length) };
}

/** Thresholds a mask at 0.5 (in place): > 127 becomes 255, the rest 0. */
export function binarise(m: GrayImage): GrayImage {
  const d = m.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i] > 127 ? 255 : 0;
  return m;
}

async function decodeRgba(file: string): Promise<{ image: RgbImage; mask: GrayImage }> {
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    out = await openImage(file).rotate().toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new DataError(file, (await imageProblem(file, e)) ?? `unreadable or corrupt image (${firstLine(e)})`);
  }
  const { data, info } = out;
  const n = info.width * info.height;
  const rgb = new Uint8Array(n * 3);
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4];
    rgb[i * 3 + 1] = data[i * 4 + 1];
    rgb[i * 3 + 2] = data[i * 4 + 2];
    a[i] = data[i * 4 + 3];
  }
  return { image: { width: info.width, height: info.height, data: rgb }, mask: { width: info.width, height: info.height, data: a } };
}

/** Decodes, checks and resizes one sample. Throws DataError naming the file on any problem. */
export async function loadSample(ref: SampleRef, opts: LoadOptions = {}): Promise<Sample> {
  const maskMode = opts.maskMode ?? 'binary';
  let image: RgbImage;
  let mask: GrayImage | null = null;
  if (ref.maskFromAlpha) {
    ({ image, mask } = await decodeRgba(ref.imagePath));
  } else if (opts.frameSize) {
    // image decoded straight at the frame size; masks at full size (label values are normalised before interpolation)
    const [h, w] = opts.frameSize;
    const [im, m] = await Promise.all([decodeImageAt(ref.imagePath, w, h), ref.maskPath ? decodeMask(ref.maskPath) : Promise.resolve(null)]);
    if (m && (m.width !== im.srcWidth || m.height !== im.srcHeight)) {
      throw new DataError(ref.imagePath, `size mismatch: image ${im.srcWidth}x${im.srcHeight}, mask ${ref.maskPath} ${m.width}x${m.height}`);
    }
    image = im.image;
    mask = m;
  } else {
    [image, mask] = await Promise.all([decodeImageChecked(ref.imagePath), ref.maskPath ? decodeMask(ref.maskPath) : Promise.resolve(null)]);
    if (mask && (mask.width !== image.width || mask.height !== image.height)) {
      throw new DataError(ref.imagePath, `size mismatch: image ${image.width}x${image.height}, mask ${ref.maskPath} ${mask.width}x${mask.height}`);
    }
  }
  if (mask) {
    const why = trivialMaskReason(mask, maskMode);
    if (why) throw new DataError(ref.maskPath ?? ref.imagePath, why);
  }
  let fs = opts.frameSize ?? null;
  if (!fs && opts.maxSide) {
    const [h, w] = fitMaxSide(image.width, image.height, opts.maxSide);
    if (h !== image.height || w !== image.width) fs = [h, w];
  }
  if (fs) {
    const [h, w] = fs;
    try {
      [image, mask] = await Promise.all([resizeRgb(image, w, h), mask ? resizeGray(mask, w, h) : Promise.resolve(null)]);
    } catch (e) {
      throw new DataError(ref.imagePath, `resize to ${w}x${h} failed (${firstLine(e)})`);
    }
  }
  if (mask && maskMode === 'binary') {
    // resize may return the decoded buffer itself; threshold a copy only when it is shared
    mask = binarise({ width: mask.width, height: mask.height, data: fs ? mask.data : new Uint8Array(mask.data) });
  }
  return { id: ref.id, image, mask };
}
