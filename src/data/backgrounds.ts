/**
 * Background photos for the background swap (augmentation) and for synthetic people (`data
 * synth`): the one loader both use.
 */
import * as fs from 'fs';
import * as path from 'path';
import { IMAGE_EXTENSIONS, listImages } from './dataset';
import { imageProblem, openImage, type RgbImage } from '../util/image';

/**
 * Loads every image under `dir` (sorted, so the order and hence the seeded picks are stable),
 * downscaled so the longer side is at most `maxSide` (one sharp decode per file).
 */
export async function loadBackgrounds(dir: string, maxSide = 512): Promise<RgbImage[]> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`backgrounds folder not found: ${dir}`);
  // the data loader's walker: each file once by real path, symlink loops add nothing
  const files = (await listImages(dir)).map((rel) => path.join(dir, rel));
  if (files.length === 0) throw new Error(`no background images (${IMAGE_EXTENSIONS.join(', ')}) in ${dir}`);
  const out: RgbImage[] = [];
  for (const file of files) {
    try {
      const { data, info } = await openImage(file)
        .rotate()
        .toColourspace('srgb')
        .removeAlpha()
        .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
        .raw()
        .toBuffer({ resolveWithObject: true });
      out.push({ width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) });
    } catch (e) {
      process.stderr.write(`backgrounds: skipping ${file}: ${(await imageProblem(file, e)) ?? (e as Error).message.split('\n')[0]}\n`);
    }
  }
  if (out.length === 0) throw new Error(`no readable background images in ${dir}`);
  return out;
}
