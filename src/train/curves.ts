/**
 * Training curves: loss (left panel) and validation mIoU (right panel) against images seen,
 * drawn as SVG and rasterised to PNG with sharp (written to a temp name, then renamed).
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

/** One line of a run's metrics.jsonl (written by the metricsJsonl callback, plotted here). */
export interface MetricsRecord {
  kind: 'step' | 'eval';
  step: number;
  imagesSeen: number;
  [k: string]: unknown;
}

interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

const W = 900;
const H = 340;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function panel(x0: number, title: string, series: Series[], yRange?: [number, number]): string {
  const pw = W / 2 - 70;
  const ph = H - 90;
  const top = 40;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<text x="${x0 + pw / 2}" y="${top + ph / 2}" text-anchor="middle" font-size="13" fill="#666">${esc(title)}: no data yet</text>`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xlo = 0;
  const xhi = Math.max(1, ...xs);
  let [ylo, yhi] = yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (!yRange) {
    const pad = (yhi - ylo) * 0.05 || Math.abs(yhi) * 0.05 || 0.05;
    ylo -= pad;
    yhi += pad;
  }
  const sx = (x: number) => x0 + ((x - xlo) / (xhi - xlo)) * pw;
  const sy = (y: number) => top + ph - ((y - ylo) / (yhi - ylo)) * ph;
  let svg = `<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`;
  svg += `<text x="${x0 + pw / 2}" y="${top - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`;
  for (const t of niceTicks(ylo, yhi)) {
    svg += `<line x1="${x0}" x2="${x0 + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`;
    svg += `<text x="${x0 - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${t}</text>`;
  }
  for (const t of niceTicks(xlo, xhi)) {
    svg += `<text x="${sx(t)}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${t}</text>`;
  }
  svg += `<text x="${x0 + pw / 2}" y="${top + ph + 34}" text-anchor="middle" font-size="12">images seen</text>`;
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(Math.min(yhi, Math.max(ylo, p[1]))).toFixed(1)}`).join(' ');
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`;
    if (s.points.length < 40) for (const p of s.points) svg += `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`;
    const last = s.points[s.points.length - 1];
    svg += `<text x="${x0 + 8}" y="${top + 16 + 15 * i}" font-size="12" fill="${s.color}">${esc(s.name)} (last ${last[1].toFixed(4)})</text>`;
  });
  return svg;
}

export function curvesSvg(records: MetricsRecord[], title = '', reference: [number, number][] | null = null): string {
  const steps = records.filter((r) => r.kind === 'step');
  const evals = records.filter((r) => r.kind === 'eval');
  const loss: Series = { name: 'loss', color: '#1f77b4', points: steps.map((r) => [r.imagesSeen, r.loss as number]) };
  const partNames = [...new Set(steps.flatMap((r) => Object.keys((r.parts as Record<string, number>) ?? {})))];
  const colors = ['#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];
  const parts: Series[] = partNames.map((n, i) => ({ name: n, color: colors[i % colors.length], points: steps.map((r) => [r.imagesSeen, (r.parts as Record<string, number>)[n]] as [number, number]).filter((p) => Number.isFinite(p[1])) }));
  const miou: Series = { name: 'val mIoU', color: '#d62728', points: evals.map((r) => [r.imagesSeen, r.miou as number]) };
  const ys = miou.points.map((p) => p[1]);
  const lo = ys.length ? Math.max(0, Math.floor(Math.min(...ys) * 10) / 10) : 0;
  const ref: Series[] = reference?.length ? [{ name: 'PyTorch reference (picsart)', color: '#7f7f7f', points: reference, dashed: true }] : [];
  const refLo = ref.length ? Math.min(lo, 0.6) : lo;
  const body = panel(60, 'training loss', [loss, ...parts]) + panel(W / 2 + 50, 'validation mIoU', [miou, ...ref], [refLo, 1]);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    (title ? `<text x="${W / 2}" y="14" text-anchor="middle" font-size="12" fill="#444">${esc(title)}</text>` : '') +
    body +
    '</svg>'
  );
}

/** Writes the curves PNG atomically. */
export async function renderCurves(records: MetricsRecord[], file: string, title = '', reference: [number, number][] | null = null): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}.png`;
  await sharp(Buffer.from(curvesSvg(records, title, reference))).flatten({ background: '#ffffff' }).png().toFile(tmp);
  fs.renameSync(tmp, file);
}
