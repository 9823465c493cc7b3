/**
 * `data inspect`: counts, size and person-coverage histograms, bad files with reasons and a
 * PNG contact sheet of images with their masks overlaid (tinted person, yellow outline).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Sample } from './types';
import { writePng } from '../util/image';
import { openDataset, scanDataset, mapLimit, Layout } from './dataset';
import type { BadFile, DataNote } from './errors';
import { loadSample } from './sample';

export interface InspectOptions {
  /** Folder for contact-sheet.png and report.json (the names recorded in the report). */
  out: string;
  /** Where the files are written when not `out` itself: the temp folder that becomes `out` (src/util/out-paths.ts writeOutputDir). */
  writeTo?: string;
  strict?: boolean;
  /** 'full' decodes every image (finds truncated files); 'header' reads image headers and decodes masks only; 'none' only pairs files (fast, no sizes or coverage). */
  decode?: 'none' | 'header' | 'full';
  /** Tiles on the contact sheet (default 48). */
  sheetCount?: number;
  /** PNG file for the contact sheet (default `<out>/contact-sheet.png`). */
  sheet?: string;
  /** Tile height in pixels (default 128). */
  tile?: number;
  log?: (line: string) => void;
  progress?: (done: number, total: number) => void;
}

export interface InspectReport {
  name: string;
  layout: Layout;
  root: string;
  /** Samples found by pairing (before the header/decode checks). */
  found: number;
  usable: number;
  labeled: boolean;
  /** "WxH" -> count, most common first. */
  sizes: [string, number][];
  /** 10 bins of person coverage 0-10%, ..., 90-100% (labeled datasets). */
  coverage: number[];
  meanCoverage: number | null;
  bad: BadFile[];
  notes: DataNote[];
  sheet: string | null;
  reportFile: string;
}

/** Tints the person and draws the mask outline into a copy of the image. */
export function overlayMask(s: Sample): Uint8Array {
  const { width: w, height: h, data } = s.image;
  const out = new Uint8Array(data);
  const m = s.mask?.data;
  if (!m) return out;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const on = m[i] > 127;
      const edge =
        (x > 0 && m[i - 1] > 127 !== on) || (x < w - 1 && m[i + 1] > 127 !== on) || (y > 0 && m[i - w] > 127 !== on) || (y < h - 1 && m[i + w] > 127 !== on);
      const o = i * 3;
      if (edge) {
        out[o] = 255;
        out[o + 1] = 230;
        out[o + 2] = 0;
      } else if (on) {
        out[o] = Math.round(out[o] * 0.6 + 0.4 * 40);
        out[o + 1] = Math.round(out[o + 1] * 0.6 + 0.4 * 220);
        out[o + 2] = Math.round(out[o + 2] * 0.6 + 0.4 * 90);
      }
    }
  }
  return out;
}

/** Lays tiles (all tw x th) into a grid PNG with a 2-px dark gap. */
export async function writeContactSheet(file: string, tiles: Uint8Array[], tw: number, th: number, cols = 8): Promise<void> {
  const n = tiles.length;
  cols = Math.max(1, Math.min(cols, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const gap = 2;
  const W = cols * tw + (cols + 1) * gap;
  const H = rows * th + (rows + 1) * gap;
  const out = new Uint8Array(W * H * 3).fill(24);
  tiles.forEach((t, k) => {
    const ox = gap + (k % cols) * (tw + gap);
    const oy = gap + Math.floor(k / cols) * (th + gap);
    for (let y = 0; y < th; y++) out.set(t.subarray(y * tw * 3, (y + 1) * tw * 3), ((oy + y) * W + ox) * 3);
  });
  await writePng(file, out, W, H, 3);
}

export async function inspectDataset(spec: string, opts: InspectOptions): Promise<InspectReport> {
  const log = opts.log ?? (() => undefined);
  const opened = await openDataset(spec, { strict: opts.strict, log });
  const found = opened.refs.length + opened.bad.filter((b) => /missing mask|two images/.test(b.reason)).length;
  const { dataset, items } =
    opts.decode === 'none' ? { dataset: opened, items: [] } : await scanDataset(opened, { strict: opts.strict, log, decode: opts.decode ?? 'full', progress: opts.progress });
  const labeled = dataset.layout !== 'unlabeled';
  const sizeCount = new Map<string, number>();
  for (const it of items) sizeCount.set(`${it.width}x${it.height}`, (sizeCount.get(`${it.width}x${it.height}`) ?? 0) + 1);
  const sizes = [...sizeCount].sort((a, b) => b[1] - a[1]);
  const coverage = new Array<number>(10).fill(0);
  let covSum = 0;
  for (const it of items) {
    if (it.coverage === null) continue;
    coverage[Math.min(9, Math.floor(it.coverage * 10))]++;
    covSum += it.coverage;
  }
  const dir = opts.writeTo ?? opts.out;
  fs.mkdirSync(dir, { recursive: true });
  let sheet: string | null = null;
  const n = Math.min(opts.sheetCount ?? 48, dataset.refs.length);
  if (n > 0) {
    // evenly spaced picks, tiles at the aspect of the most common size
    const [cw, ch] = sizes.length ? sizes[0][0].split('x').map(Number) : [3, 4];
    const th = opts.tile ?? 128;
    const tw = Math.max(8, Math.round((th * cw) / ch));
    const picks = Array.from({ length: n }, (_, k) => dataset.refs[Math.floor((k * dataset.refs.length) / n)]);
    const tiles = await mapLimit(picks, 4, async (ref) => {
      try {
        return overlayMask(await loadSample(ref, { frameSize: [th, tw], maskMode: 'binary' }));
      } catch (e) {
        log(`skip ${(e as Error).message}`);
        return new Uint8Array(tw * th * 3).fill(60);
      }
    });
    if (opts.sheet) {
      // a sheet the user placed elsewhere (--sheet, checked by the output rule): written on its own
      sheet = opts.sheet;
      fs.mkdirSync(path.dirname(path.resolve(sheet)), { recursive: true });
      await writeContactSheet(sheet, tiles, tw, th, 8);
    } else {
      sheet = path.join(opts.out, 'contact-sheet.png');
      await writeContactSheet(path.join(dir, 'contact-sheet.png'), tiles, tw, th, 8);
    }
  }
  const report: InspectReport = {
    name: dataset.name,
    layout: dataset.layout,
    root: dataset.root,
    found,
    usable: dataset.refs.length,
    labeled,
    sizes,
    coverage,
    meanCoverage: labeled && items.length ? covSum / items.length : null,
    bad: dataset.bad,
    notes: dataset.notes,
    sheet,
    reportFile: path.join(opts.out, 'report.json'),
  };
  const file = path.join(dir, 'report.json');
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(report, null, 2) + '\n');
  fs.renameSync(tmp, file);
  return report;
}

/** The human summary printed by `data inspect`. */
export function formatReport(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`dataset ${r.name} (${r.layout}) at ${r.root}`);
  lines.push(`${r.labeled ? 'pairs' : 'images'}: ${r.found} found, ${r.usable} usable, ${r.bad.length} left out`);
  if (r.sizes.length === 0) lines.push('sizes and coverage: not read (--decode none)');
  else lines.push(`sizes: ${r.sizes.slice(0, 8).map(([s, c]) => `${s} x${c}`).join(', ')}${r.sizes.length > 8 ? `, ... (${r.sizes.length} sizes)` : ''}`);
  if (r.labeled && r.sizes.length) {
    lines.push(`person coverage (mean ${((r.meanCoverage ?? 0) * 100).toFixed(1)}%):`);
    const max = Math.max(1, ...r.coverage);
    r.coverage.forEach((c, i) => lines.push(`  ${String(i * 10).padStart(3)}-${String(i * 10 + 10).padEnd(3)}% ${String(c).padStart(6)} ${'#'.repeat(Math.round((c / max) * 40))}`));
  }
  if (r.bad.length) {
    lines.push(`bad files (${r.bad.length}, left out):`);
    for (const b of r.bad) lines.push(`  ${b.path}: ${b.reason}`);
  }
  if (r.notes.length) {
    lines.push(`converted on the fly (${r.notes.length}):`);
    for (const n of r.notes.slice(0, 20)) lines.push(`  ${n.path}: ${n.note}`);
    if (r.notes.length > 20) lines.push(`  ... ${r.notes.length - 20} more in ${r.reportFile}`);
  }
  if (r.sheet) lines.push(`contact sheet: ${r.sheet}`);
  lines.push(`report: ${r.reportFile}`);
  return lines.join('\n');
}
