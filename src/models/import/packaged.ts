/**
 * Published models that npm packages ship, named in configs and on the command line as
 * `mediapipe:selfie`, `mediapipe:selfie-landscape` (MediaPipe's selfie segmenters, Apache-2.0,
 * and `mediapipe:selfie-mf`, the selfie net with the untrained mask filter on top;
 * the .tflite files of the `@mediapipe/selfie_segmentation` dependency), and the import of such a
 * model (or of any .tflite path) into a run folder, checked like `portraitseg import`.
 * Nothing is downloaded: a name resolves only when its package is installed.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ImportOptions } from './index';
import { ImportCheck, importVerified } from './verified';

const PACKAGED: Record<string, { pkg: string; file: string; what: string; importOptions?: ImportOptions }> = {
  'mediapipe:selfie': { pkg: '@mediapipe/selfie_segmentation', file: 'selfie_segmentation.tflite', what: "MediaPipe's selfie segmenter (256x256)" },
  'mediapipe:selfie-mf': {
    pkg: '@mediapipe/selfie_segmentation',
    file: 'selfie_segmentation.tflite',
    what: "MediaPipe's selfie segmenter with the mask filter on top (untrained, refining at 512x512; `import --mask-filter`)",
    importOptions: { maskFilter: true },
  },
  'mediapipe:selfie-landscape': { pkg: '@mediapipe/selfie_segmentation', file: 'selfie_segmentation_landscape.tflite', what: "MediaPipe's landscape selfie segmenter (144x256)" },
};

export const PACKAGED_NAMES = Object.keys(PACKAGED);

export function isPackagedName(spec: string): boolean {
  return /^[a-z]+:/.test(spec) && !/^[a-zA-Z]:[\\/]/.test(spec);
}

/** The file behind a packaged name, or null when its package is not installed. Throws on an unknown name. */
export function packagedFile(name: string): string | null {
  const p = PACKAGED[name];
  if (!p) throw new Error(`${name}: unknown packaged model; known: ${PACKAGED_NAMES.join(', ')}`);
  try {
    return require.resolve(`${p.pkg}/${p.file}`);
  } catch {
    return null;
  }
}

/** True when the packaged model can be used here (its npm package is installed). */
export function packagedAvailable(name: string): boolean {
  return packagedFile(name) !== null;
}

/** What the packaged name is, for log lines. */
export function describePackaged(name: string): string {
  return PACKAGED[name]?.what ?? name;
}

/** A model spec as a run records it: a packaged name as it is, a path made absolute. */
export function absoluteSpec(spec: string): string {
  return isPackagedName(spec) ? spec : path.resolve(spec);
}

/** A spec that needs an import before use: a packaged name or a .tflite file. */
export function needsImport(spec: string): boolean {
  return isPackagedName(spec) || /\.tflite$/i.test(spec);
}

/**
 * Where imports of packaged / .tflite models named in configs live: a cache keyed by the file's
 * bytes and the import options, so a run (and its --resume, and its worker threads) always gets
 * the same checked folder. PORTRAITSEG_IMPORT_CACHE overrides the place.
 */
export function importCacheDir(): string {
  return process.env.PORTRAITSEG_IMPORT_CACHE || path.join(os.tmpdir(), 'portraitseg-imports');
}

/**
 * Turns a packaged name or a .tflite path into a checked model folder (in `dir`, default
 * importCacheDir()), importing it with `check` (src/export/import-check.ts's checkImport: the
 * file's reference, and LiteRT.js where it loads, as `portraitseg import`) when it is not there
 * yet; any other spec is returned unchanged. Logs one line per import (what, where, every check).
 */
export async function ensureImported(
  spec: string,
  opts: { seed: number; log: (l: string) => void; key: string; check: ImportCheck<{ line: string }>; importOptions?: ImportOptions; dir?: string },
): Promise<string> {
  if (!needsImport(spec)) return spec;
  let file: string;
  if (isPackagedName(spec)) {
    const f = packagedFile(spec);
    if (!f) throw new Error(`${opts.key} ${spec}: its npm package ${PACKAGED[spec].pkg} is not installed (npm install ${PACKAGED[spec].pkg}), or give a model folder`);
    file = f;
  } else {
    if (!fs.existsSync(spec)) throw new Error(`${opts.key} ${spec}: not found`);
    file = spec;
  }
  const io = { ...(isPackagedName(spec) ? PACKAGED[spec].importOptions : undefined), ...opts.importOptions };
  const key = crypto.createHash('sha256').update(fs.readFileSync(file)).update(JSON.stringify([io.inputSize ?? null, io.inputRange ?? null, io.output ?? null, !!io.maskFilter])).digest('hex').slice(0, 16);
  const out = path.join(opts.dir ?? importCacheDir(), `${path.basename(file).replace(/\.tflite$/i, '')}${io.maskFilter ? '-mf' : ''}-${key}`);
  if (fs.existsSync(path.join(out, 'portraitseg.json'))) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  try {
    const v = await importVerified(file, out, { ...io, seed: opts.seed }, opts.check);
    opts.log(`${opts.key}: imported ${isPackagedName(spec) ? `${spec} (${describePackaged(spec)})` : spec} into ${out}; ${v.lines.join('; ')}`);
  } catch (e) {
    // another process imported the same file meanwhile: its folder is as good
    if (fs.existsSync(path.join(out, 'portraitseg.json'))) return out;
    throw e;
  }
  return out;
}
