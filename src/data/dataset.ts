/**
 * Dataset layouts: finds image/mask pairs on disk and reports files it has to leave out.
 *
 * `openDataset` only lists and pairs files (cheap, no decoding). `scanDataset` then reads
 * headers (sizes, colour space, EXIF orientation) and decodes the masks (and, with
 * `decode: 'full'`, the images) to catch size mismatches, corrupt files and empty or full
 * masks. Bad files are reported one line each and left out; `strict` throws instead.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { SampleRef } from './types';
import { BadFile, DataError, DataNote } from './errors';
import { decodeMask, trivialMaskReason } from './sample';
import { imageProblem, maxImagePixels, pixelLimitReason, readRgb } from '../util/image';
import type { InputPath } from '../util/out-paths';

export type Layout = 'folders' | 'suffix' | 'list' | 'rgba' | 'unlabeled';
export const LAYOUTS: readonly Layout[] = ['folders', 'suffix', 'list', 'rgba', 'unlabeled'];

export interface Dataset {
  name: string;
  /** Absolute folder the samples live in (the list file's folder for `list`). */
  root: string;
  layout: Layout;
  refs: SampleRef[];
  bad: BadFile[];
  /** Conversions applied on the fly (filled by scanDataset). */
  notes: DataNote[];
  /** The datasets/*.json description, when the dataset was opened from one. */
  description?: DatasetDescription;
}

/** The JSON format of datasets/*.json (and of a user's own description file). */
export interface DatasetDescription {
  name: string;
  /** Layout; auto-detected when absent. */
  layout?: Layout;
  /** Folder of the data. Relative paths: against the description's folder, and for the repository's own datasets/ against the repository root. */
  root: string;
  /** Image folder under root (folders, rgba, unlabeled). Default "images" when that folder exists, else root. */
  images?: string;
  /** Mask folder under root (folders). Default: the first of masks, mask, labels, alpha, mattes, matte, annotations. */
  masks?: string;
  /** List file under root (list layout). */
  list?: string;
  /** Optional validation list (list layout); used when the user gives no data.val. */
  valList?: string;
  /** Mask name suffixes for the suffix layout; default ["_mask", "_matte"]. */
  maskSuffixes?: string[];
  url?: string;
  licence?: string;
  description?: string;
  [more: string]: unknown;
}

export interface OpenOptions {
  /** Throw DataError at the first bad file instead of reporting and skipping it. */
  strict?: boolean;
  /** false: treat as unlabeled images (masks ignored). true: fail when no masks are found. Default: detect. */
  labeled?: boolean;
  /** Receives one line per bad file. */
  log?: (line: string) => void;
}

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'tif', 'tiff', 'gif', 'avif', 'bmp'];
const MASK_DIRS = ['masks', 'mask', 'labels', 'alpha', 'mattes', 'matte', 'annotations'];
const DEFAULT_SUFFIXES = ['_mask', '_matte'];

/** The repository's datasets/ folder (same relative place from src/ and dist/). */
export const DATASETS_DIR = path.resolve(__dirname, '../../datasets');
const REPO_ROOT = path.dirname(DATASETS_DIR);

/** Names of the known dataset descriptions (datasets/*.json). */
export function knownDatasets(): string[] {
  if (!fs.existsSync(DATASETS_DIR)) return [];
  return fs
    .readdirSync(DATASETS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

function isImageFile(f: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(f).slice(1).toLowerCase());
}

function realOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * Image files under dir (recursive), relative with '/' separators, sorted; `skip` folders
 * (absolute) are left out, as are dot files and folders. Symlinks are followed, but each
 * folder and each file is taken once by its real path, and under its own name when it is
 * also reachable without links: a link back up the tree (a loop) or two links to the same
 * place add nothing (fast-glob follows loops until ELOOP, listing each file once per path).
 */
export async function listImages(dir: string, skip: string[] = []): Promise<string[]> {
  const skipReal = new Set(skip.map((d) => realOrNull(d)).filter((d): d is string => d !== null));
  const out: string[] = [];
  const files = new Set<string>();
  const physical = new Set<string>();
  // pass 1: the tree without links; pass 2: what links add to it
  const walk = (abs: string, rel: string, viaLink: boolean, followLinks: boolean, visited: Set<string>) => {
    const r = realOrNull(abs);
    if (r === null || visited.has(r) || skipReal.has(r) || (viaLink && physical.has(r))) return;
    visited.add(r);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const a = path.join(abs, e.name);
      const rl = rel ? `${rel}/${e.name}` : e.name;
      const link = e.isSymbolicLink();
      if (link && !followLinks) continue;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (link) {
        try {
          const st = fs.statSync(a);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) {
        // a link to this folder or one above it is a loop: everything under it is listed already or is not data of this folder
        const t = link ? realOrNull(a) : null;
        if (t !== null && (r === t || r.startsWith(t.endsWith(path.sep) ? t : t + path.sep))) continue;
        walk(a, rl, viaLink || link, followLinks, visited);
      }
      else if (isFile && isImageFile(e.name)) {
        const fr = realOrNull(a) ?? a;
        if (files.has(fr)) continue;
        files.add(fr);
        out.push(rl);
      }
    }
  };
  walk(dir, '', false, false, physical);
  walk(dir, '', false, true, new Set<string>());
  return out.sort();
}

function stemOf(rel: string): string {
  const ext = path.extname(rel);
  return (ext ? rel.slice(0, -ext.length) : rel).split(path.sep).join('/');
}

function stripSuffix(stem: string, suffixes: string[]): string | null {
  for (const s of suffixes) if (stem.toLowerCase().endsWith(s.toLowerCase())) return stem.slice(0, -s.length);
  return null;
}

class Reporter {
  bad: BadFile[] = [];
  constructor(private opts: OpenOptions) {}
  add(file: string, reason: string): void {
    if (this.opts.strict) throw new DataError(file, reason);
    this.bad.push({ path: file, reason });
    this.opts.log?.(`skip ${file}: ${reason}`);
  }
}

/** Pairs images/ with masks/ by stem (mask stems may carry _mask/_matte). */
async function pairFolders(imgDir: string, maskDir: string, rep: Reporter, suffixes: string[]): Promise<SampleRef[]> {
  const images = await listImages(imgDir, [maskDir]);
  const masks = await listImages(maskDir);
  const maskByStem = new Map<string, string>();
  for (const m of masks) {
    const st = stemOf(m);
    const key = stripSuffix(st, suffixes) ?? st;
    if (maskByStem.has(key)) {
      rep.add(path.join(maskDir, m), `two masks for "${key}" (also ${maskByStem.get(key)}); both left out`);
      maskByStem.set(key, '');
      continue;
    }
    maskByStem.set(key, m);
  }
  const refs: SampleRef[] = [];
  const seen = new Map<string, string>();
  for (const im of images) {
    const id = stemOf(im);
    if (seen.has(id)) {
      rep.add(path.join(imgDir, im), `two images for "${id}" (also ${seen.get(id)}); this one left out`);
      continue;
    }
    seen.set(id, im);
    const m = maskByStem.get(id);
    if (m === undefined) {
      rep.add(path.join(imgDir, im), `missing mask (no ${path.join(maskDir, id)}.* file)`);
      continue;
    }
    if (m === '') continue;
    refs.push({ id, imagePath: path.join(imgDir, im), maskPath: path.join(maskDir, m) });
  }
  for (const [key, m] of maskByStem) {
    if (m !== '' && !seen.has(key)) rep.add(path.join(maskDir, m), 'mask without an image');
  }
  return refs;
}

/** One folder with X.jpg next to X_mask.png / X_matte.png. */
async function pairSuffix(dir: string, rep: Reporter, suffixes: string[]): Promise<SampleRef[]> {
  const files = await listImages(dir);
  const masks = new Map<string, string>();
  const images: string[] = [];
  for (const f of files) {
    const base = stripSuffix(stemOf(f), suffixes);
    if (base !== null) masks.set(base, f);
    else images.push(f);
  }
  const refs: SampleRef[] = [];
  const used = new Set<string>();
  for (const im of images) {
    const id = stemOf(im);
    const m = masks.get(id);
    if (!m) {
      rep.add(path.join(dir, im), `missing mask (no ${id}${suffixes[0]}.png next to it)`);
      continue;
    }
    if (used.has(id)) {
      rep.add(path.join(dir, im), `two images for "${id}"; this one left out`);
      continue;
    }
    used.add(id);
    refs.push({ id, imagePath: path.join(dir, im), maskPath: path.join(dir, m) });
  }
  for (const [id, m] of masks) if (!used.has(id)) rep.add(path.join(dir, m), 'mask without an image');
  return refs;
}

/** PaddleSeg / EG1800 list: "image mask" per line, relative to the list file; # comments. */
function readList(listFile: string, rep: Reporter, labeled: boolean | undefined): SampleRef[] {
  let text: string;
  try {
    text = fs.readFileSync(listFile, 'utf8');
  } catch (e) {
    throw new DataError(listFile, `cannot read list file (${(e as Error).message})`);
  }
  const base = path.dirname(listFile);
  const refs: SampleRef[] = [];
  const ids = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    const where = `${listFile}:${i + 1}`;
    if (parts.length > 2) {
      rep.add(where, `expected "image mask" (2 paths), got ${parts.length} fields`);
      return;
    }
    const imagePath = path.resolve(base, parts[0]);
    const maskPath = labeled === false || parts.length < 2 ? null : path.resolve(base, parts[1]);
    if (labeled === true && maskPath === null) {
      rep.add(where, 'no mask path on this line');
      return;
    }
    if (!fs.existsSync(imagePath)) {
      rep.add(imagePath, `missing image (listed at ${where})`);
      return;
    }
    if (maskPath && !fs.existsSync(maskPath)) {
      rep.add(imagePath, `missing mask ${maskPath} (listed at ${where})`);
      return;
    }
    let id = stemOf(parts[0]);
    if (ids.has(id)) id = `${id}#${i + 1}`;
    ids.add(id);
    refs.push({ id, imagePath, maskPath });
  });
  return refs;
}

async function firstPngHasAlpha(dir: string, files: string[]): Promise<boolean> {
  const pngs = files.filter((f) => /\.(png|webp|tiff?)$/i.test(f));
  if (pngs.length === 0 || pngs.length < files.length) return false;
  try {
    const m = await sharp(path.join(dir, pngs[0])).metadata();
    return Boolean(m.hasAlpha);
  } catch {
    return false;
  }
}

function hasDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The paths of a dataset spec that outputs must stay out of (src/util/out-paths.ts): a folder
 * dataset's folder, a description and its data folder, a list file (not the folder around it,
 * which may be any folder). A spec that does not resolve gives none: its own check names it.
 */
export function datasetInputs(flag: string, spec: string | null | undefined): InputPath[] {
  if (!spec) return [];
  let d: ReturnType<typeof resolveSpec>;
  try {
    d = resolveSpec(spec);
  } catch {
    return [];
  }
  if (d.layout === 'list') return [...new Set([d._from, path.resolve(d.root, d.list ?? '')])].map((p) => ({ flag, path: p }));
  return d._from === d.root ? [{ flag, path: d.root }] : [{ flag, path: d.root }, { flag, path: d._from }];
}

/** Resolves a spec (folder, list file, description, known name) to a description. */
export function resolveSpec(spec: string): DatasetDescription & { _from: string } {
  let p = spec;
  if (!fs.existsSync(p)) {
    const known = path.join(DATASETS_DIR, `${spec}.json`);
    if (/^[\w.-]+$/.test(spec) && fs.existsSync(known)) p = known;
    else {
      throw new DataError(spec, `not found: give a folder, a list file, a datasets/*.json description or a known name (${knownDatasets().join(', ') || 'none'})`);
    }
  }
  const abs = path.resolve(p);
  if (hasDir(abs)) return { name: path.basename(abs), root: abs, _from: abs };
  if (abs.toLowerCase().endsWith('.json')) return readDescription(abs);
  return { name: path.basename(abs).replace(/\.[^.]+$/, ''), layout: 'list', root: path.dirname(abs), list: path.basename(abs), _from: abs };
}

export function readDescription(file: string): DatasetDescription & { _from: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataError(file, `not a valid dataset description (${(e as Error).message})`);
  }
  const d = raw as DatasetDescription;
  if (!d || typeof d !== 'object' || typeof d.root !== 'string') throw new DataError(file, 'a dataset description needs a "root" string');
  if (d.layout !== undefined && !LAYOUTS.includes(d.layout)) {
    throw new DataError(file, `layout: "${String(d.layout)}" is not one of ${LAYOUTS.join(', ')}`);
  }
  let root = path.resolve(path.dirname(file), d.root);
  // The repository's own descriptions name paths relative to the repository root.
  if (path.dirname(file) === DATASETS_DIR && !path.isAbsolute(d.root)) root = path.resolve(REPO_ROOT, d.root);
  if (!hasDir(root)) {
    const alt = path.resolve(d.root);
    if (hasDir(alt)) root = alt;
    else throw new DataError(file, `data folder ${root} not found${d.url ? `; get "${d.name ?? ''}" from ${d.url}` : ''}`);
  }
  return { ...d, name: d.name ?? path.basename(file, '.json'), root, _from: file };
}

/** Lists and pairs the files of a dataset. No decoding; see scanDataset for the checks that need it. */
export async function openDataset(spec: string, opts: OpenOptions = {}): Promise<Dataset> {
  const d = resolveSpec(spec);
  const rep = new Reporter(opts);
  const suffixes = d.maskSuffixes ?? DEFAULT_SUFFIXES;
  const root = d.root;
  let layout: Layout | undefined = d.layout;
  let refs: SampleRef[] = [];

  if (layout === 'list' || (layout === undefined && d.list)) {
    layout = 'list';
    if (!d.list) throw new DataError(d._from, 'layout "list" needs a "list" file');
    refs = readList(path.resolve(root, d.list), rep, opts.labeled);
    if (opts.labeled === false || refs.every((r) => r.maskPath === null)) layout = refs.length && refs.every((r) => r.maskPath === null) ? 'unlabeled' : layout;
  } else {
    const imgDir = d.images ? path.resolve(root, d.images) : hasDir(path.join(root, 'images')) ? path.join(root, 'images') : root;
    if (!hasDir(imgDir)) throw new DataError(d._from, `image folder ${imgDir} not found`);
    const maskDir = d.masks ? path.resolve(root, d.masks) : MASK_DIRS.map((m) => path.join(root, m)).find(hasDir);
    const files = await listImages(imgDir, maskDir ? [maskDir] : []);
    if (layout === undefined) {
      if (opts.labeled === false) layout = 'unlabeled';
      else if (maskDir && hasDir(maskDir)) layout = 'folders';
      else if (files.some((f) => stripSuffix(stemOf(f), suffixes) !== null)) layout = 'suffix';
      else if (await firstPngHasAlpha(imgDir, files)) layout = 'rgba';
      else layout = 'unlabeled';
    }
    if (opts.labeled === false && layout !== 'rgba') layout = 'unlabeled';
    switch (layout) {
      case 'folders':
        if (!maskDir || !hasDir(maskDir)) throw new DataError(d._from, `no mask folder (looked for ${MASK_DIRS.join(', ')} in ${root})`);
        refs = await pairFolders(imgDir, maskDir, rep, suffixes);
        break;
      case 'suffix':
        refs = await pairSuffix(imgDir, rep, suffixes);
        break;
      case 'rgba':
        refs = files.map((f) => ({ id: stemOf(f), imagePath: path.join(imgDir, f), maskPath: opts.labeled === false ? null : path.join(imgDir, f), maskFromAlpha: opts.labeled !== false }));
        break;
      case 'unlabeled':
        refs = files.filter((f) => opts.labeled === false || stripSuffix(stemOf(f), suffixes) === null).map((f) => ({ id: stemOf(f), imagePath: path.join(imgDir, f), maskPath: null }));
        break;
      default:
        throw new DataError(d._from, `layout "${layout}" cannot be used with a folder`);
    }
  }
  if (opts.labeled === true && layout === 'unlabeled') {
    throw new DataError(spec, `no masks found: expected images/ + masks/, X.jpg + X_mask.png, a list file or RGBA cut-outs (${path.resolve(root)})`);
  }
  if (refs.length === 0) throw new DataError(spec, `no usable images found in ${root}${rep.bad.length ? ` (${rep.bad.length} files left out)` : ''}`);
  const { _from, ...description } = d;
  void _from;
  return { name: d.name, root, layout, refs, bad: rep.bad, notes: [], description: d.layout || d.url ? description : undefined };
}

export interface ScanItem {
  id: string;
  width: number;
  height: number;
  /** Fraction of person pixels (mask > 127); null for unlabeled refs. */
  coverage: number | null;
}

export interface ScanOptions extends OpenOptions {
  /** 'header': read image headers and decode masks; 'full': also decode every image (catches truncated JPEGs). */
  decode?: 'header' | 'full';
  concurrency?: number;
  /** Called after each file with (done, total). */
  progress?: (done: number, total: number) => void;
}

export interface ScanResult {
  /** The dataset with bad refs removed and bad/notes extended. */
  dataset: Dataset;
  items: ScanItem[];
}

/** Runs `fn` over items with at most `n` in flight, keeping result order. */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  return out;
}

type Check = { ok: true; item: ScanItem; notes: DataNote[] } | { ok: false; file: string; reason: string; notes: DataNote[] };

async function checkRef(ref: SampleRef, decode: 'header' | 'full'): Promise<Check> {
  const notes: DataNote[] = [];
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(ref.imagePath).metadata();
  } catch (e) {
    return { ok: false, file: ref.imagePath, reason: (await imageProblem(ref.imagePath, e)) ?? `unreadable image (${firstLine(e)})`, notes };
  }
  // the decode limit, from the header: never decoded at all
  if ((meta.width ?? 0) * (meta.height ?? 0) > maxImagePixels()) {
    return { ok: false, file: ref.imagePath, reason: pixelLimitReason(`${meta.width}x${meta.height} = ${meta.width! * meta.height!} pixels, `), notes };
  }
  const orient = meta.orientation ?? 1;
  const w = meta.autoOrient?.width ?? (orient >= 5 ? meta.height! : meta.width!);
  const h = meta.autoOrient?.height ?? (orient >= 5 ? meta.width! : meta.height!);
  if (meta.space === 'b-w' || meta.space === 'grey16') notes.push({ path: ref.imagePath, note: 'grey-scale image, converted to RGB' });
  if (meta.space === 'cmyk') notes.push({ path: ref.imagePath, note: 'CMYK image, converted to sRGB' });
  if (orient > 1) notes.push({ path: ref.imagePath, note: `EXIF orientation ${orient} applied (image used as displayed, ${w}x${h})` });
  if (ref.maskFromAlpha && !meta.hasAlpha) return { ok: false, file: ref.imagePath, reason: 'no alpha channel (RGBA cut-outs need transparency for the mask)', notes };
  if (decode === 'full') {
    try {
      await readRgb(ref.imagePath);
    } catch (e) {
      return { ok: false, file: ref.imagePath, reason: (await imageProblem(ref.imagePath, e)) ?? `corrupt or truncated image (sharp: ${firstLine(e)})`, notes };
    }
  }
  let coverage: number | null = null;
  if (ref.maskPath) {
    let mask;
    try {
      mask = await decodeMask(ref.maskPath, Boolean(ref.maskFromAlpha));
    } catch (e) {
      // decodeMask's DataError says why (unreadable, permission, over the pixel limit)
      return { ok: false, file: ref.maskPath, reason: e instanceof DataError ? e.reason : `unreadable mask (${firstLine(e)})`, notes };
    }
    if (mask.width !== w || mask.height !== h) {
      const storedW = meta.width!;
      const storedH = meta.height!;
      if (orient >= 5 && mask.width === storedW && mask.height === storedH) {
        return {
          ok: false,
          file: ref.imagePath,
          reason: `mask ${ref.maskPath} is ${mask.width}x${mask.height}, the stored (un-rotated) size; the image has EXIF orientation ${orient} and is used as displayed (${w}x${h}), so the mask must be too`,
          notes,
        };
      }
      return { ok: false, file: ref.imagePath, reason: `size mismatch: image ${w}x${h}, mask ${ref.maskPath} ${mask.width}x${mask.height}`, notes };
    }
    const why = trivialMaskReason(mask);
    if (why) return { ok: false, file: ref.maskPath, reason: why, notes };
    let on = 0;
    const d = mask.data;
    for (let i = 0; i < d.length; i++) if (d[i] > 127) on++;
    coverage = on / d.length;
  }
  return { ok: true, item: { id: ref.id, width: w, height: h, coverage }, notes };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/**
 * Checks every ref of a dataset (see ScanOptions.decode). Bad files are reported through
 * `log` and left out (or thrown as DataError under `strict`); conversions become notes.
 */
export async function scanDataset(ds: Dataset, opts: ScanOptions = {}): Promise<ScanResult> {
  const decode = opts.decode ?? 'header';
  let done = 0;
  const checks = await mapLimit(ds.refs, opts.concurrency ?? 8, async (ref) => {
    const c = await checkRef(ref, decode);
    opts.progress?.(++done, ds.refs.length);
    return c;
  });
  const rep = new Reporter(opts);
  const refs: SampleRef[] = [];
  const items: ScanItem[] = [];
  const notes: DataNote[] = [...ds.notes];
  checks.forEach((c, i) => {
    notes.push(...c.notes);
    if (c.ok) {
      refs.push(ds.refs[i]);
      items.push(c.item);
    } else rep.add(c.file, c.reason);
  });
  return { dataset: { ...ds, refs, bad: [...ds.bad, ...rep.bad], notes }, items };
}

/** Alias: scanDataset with the default header checks. */
export const validateDataset = scanDataset;
