/**
 * `distill compare`: the side-by-side table of a teacher, its students and their baselines, each
 * measured by src/eval's `evaluate` on the same held-out sets at the photos' resolution (one or
 * more --val sets, e.g. eg1800-val and the seeded data.valFraction split of --data), with params,
 * GFLOPs per frame (src/models countFlops), ms per frame (one frame at the model's own frame size
 * on the current backend, median of timed runs), mIoU and boundary F per set, shift stability on
 * the first set, and the training wall time of the run the model comes from (its metrics.jsonl).
 *
 * A row is one model or an ensemble: `LABEL=SPEC[+SPEC...][,flip]`, where SPEC is one of our run
 * or model folders, a packaged name (`mediapipe:selfie`, imported once and cached) or a .tflite
 * file; `+` averages members' P(person), `,flip` adds horizontal-flip TTA.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { ConfigError } from '../config/schema';
import type { SampleRef } from '../data/types';
import { openDataset } from '../data/dataset';
import { splitRefs } from '../data/split';
import { evaluate, samplesFromRefs, type Segmenter } from '../eval';
import { frozenSegmenter } from '../eval/run';
import { ensembleSegmenter } from '../eval/tta';
import { countFlops } from '../models/flops';
import { loadModel } from '../models/io';
import { needsImport } from '../models/import/packaged';
import { readMetrics } from '../train/callbacks';
import { ensureImportedChecked } from '../export/import-check';

export interface CompareSpec {
  label: string;
  /** Members (averaged when more than one). */
  members: string[];
  flip: boolean;
}

export interface CompareSet {
  label: string;
  refs: readonly SampleRef[];
}

export interface CompareScore {
  set: string;
  miou: number;
  boundaryF: number;
  count: number;
}

export interface CompareRow {
  label: string;
  model: string;
  params: number;
  gflops: number;
  msPerFrame: number;
  /** The first set's scores (the table's reference set). */
  miou: number;
  boundaryF: number;
  stability: number;
  count: number;
  /** One per set, in the order given. */
  scores: CompareScore[];
  /** Training wall time of the run the model comes from, in seconds (null: not one of our runs). */
  trainSeconds: number | null;
}

/** `LABEL=SPEC[+SPEC...][,flip]` (a bare spec is labelled by its folder name). */
export function parseCompareSpec(v: string): CompareSpec {
  let rest = v;
  let label: string | null = null;
  const eq = v.indexOf('=');
  if (eq > 0 && !/[,/\\]/.test(v.slice(0, eq))) {
    label = v.slice(0, eq);
    rest = v.slice(eq + 1);
  }
  let flip = false;
  if (/,flip$/.test(rest)) {
    flip = true;
    rest = rest.slice(0, -',flip'.length);
  }
  const members = rest.split('+').map((s) => s.trim());
  if (members.some((m) => !m)) throw new ConfigError(`--model ${v}: an empty member (expected LABEL=SPEC[+SPEC...][,flip])`);
  return { label: label ?? path.basename(members[0].replace(/[/\\]+$/, '')) + (members.length > 1 ? ` +${members.length - 1}` : '') + (flip ? ' +flip' : ''), members, flip };
}

/** The held-out labeled refs: --val when given, else the val side of the seeded split. */
export async function heldOutRefs(cfg: Config): Promise<SampleRef[]> {
  if (cfg.data.val) return (await openDataset(cfg.data.val, { labeled: true })).refs;
  if (!cfg.data.path) throw new Error('compare: no data (--data DIR)');
  const all = (await openDataset(cfg.data.path, { labeled: true })).refs;
  if (cfg.data.valFraction <= 0) throw new Error('compare: data.valFraction is 0 and no --val: there is no held-out split');
  return splitRefs(all, cfg.data.valFraction, cfg.seed).val;
}

/**
 * Training wall time of the run behind `spec` (the run folder, or a checkpoint inside one): the sum
 * over its sessions (a --resume starts a new one) of the last elapsedSec of each, from metrics.jsonl.
 */
export function runWallSeconds(spec: string): number | null {
  let dir = path.resolve(spec);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) dir = path.dirname(dir);
  for (let i = 0; i < 3; i++) {
    const f = path.join(dir, 'metrics.jsonl');
    if (fs.existsSync(f)) {
      let total = 0;
      let last = 0;
      for (const rec of readMetrics(f)) {
        if (rec.kind !== 'step' || typeof rec.elapsedSec !== 'number') continue;
        if (rec.elapsedSec < last) total += last;
        last = rec.elapsedSec;
      }
      return total + last;
    }
    dir = path.dirname(dir);
  }
  return null;
}

/** Median ms of one forward pass of a frame at `frame` [h, w] (after warm-up runs). */
export function timeFrame(seg: Segmenter, frame: [number, number], runs = 15, warmup = 3): number {
  const x = tf.tidy(() => tf.randomUniform([1, frame[0], frame[1], 3], 0, 1, 'float32', 7) as tf.Tensor4D);
  try {
    const once = () => {
      const t0 = performance.now();
      const y = seg.predictLogits(x);
      y.dataSync();
      y.dispose();
      return performance.now() - t0;
    };
    for (let i = 0; i < warmup; i++) once();
    const ts = Array.from({ length: runs }, once).sort((a, b) => a - b);
    return ts[Math.floor(ts.length / 2)];
  } finally {
    x.dispose();
  }
}

/** Loads a row's members (packaged names and .tflite files imported first) as one segmenter, with params and GFLOPs. */
async function loadRow(spec: CompareSpec, cfg: Config, log: (l: string) => void): Promise<{ seg: Segmenter; params: number; gflops: number; name: string; frame: [number, number]; paths: string[] }> {
  const paths: string[] = [];
  for (const m of spec.members) paths.push(needsImport(m) ? await ensureImportedChecked(m, { seed: cfg.seed, key: `--model ${spec.label}`, log }) : m);
  const members: Segmenter[] = [];
  let params = 0;
  let gflops = 0;
  let frame: [number, number] = [0, 0];
  const names: string[] = [];
  try {
    for (const p of paths) {
      if (!fs.existsSync(p)) throw new ConfigError(`--model ${spec.label}: ${p}: not found`);
      const { model, meta } = await loadModel(p);
      const fs_ = [meta.frameSize[0], meta.frameSize[1]] as [number, number];
      params += meta.params;
      gflops += countFlops(model, fs_);
      if (fs_[0] * fs_[1] > frame[0] * frame[1]) frame = fs_;
      names.push(meta.name);
      try {
        members.push(frozenSegmenter(model, meta, cfg));
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
  } catch (e) {
    members.forEach((m) => m.dispose());
    throw e;
  }
  if (spec.flip) gflops *= 2;
  return { seg: ensembleSegmenter(members, spec.flip), params, gflops, name: names.join(' + ') + (spec.flip ? ' +flip' : ''), frame, paths };
}

/** Evaluates each row on every set; frames at their original resolution. */
export async function compareModels(models: CompareSpec[], sets: CompareSet[], cfg: Config, log: (l: string) => void = () => {}): Promise<CompareRow[]> {
  if (sets.length === 0) throw new Error('compare: no held-out set');
  const rows: CompareRow[] = [];
  for (const m of models) {
    const { seg, params, gflops, name, frame, paths } = await loadRow(m, cfg, log);
    try {
      const scores: CompareScore[] = [];
      let stability = NaN;
      for (const [i, s] of sets.entries()) {
        const r = await evaluate(seg, samplesFromRefs(s.refs), {
          threshold: cfg.eval.threshold,
          boundaryTolerance: cfg.eval.boundaryTolerance,
          worst: 0,
          stabilityShift: i === 0 ? cfg.eval.stabilityShift : null,
        });
        if (i === 0) stability = r.stability ?? NaN;
        scores.push({ set: s.label, miou: r.miou, boundaryF: r.boundaryF, count: r.count });
      }
      const msPerFrame = timeFrame(seg, frame);
      const wall = paths.length === 1 ? runWallSeconds(paths[0]) : null;
      const row: CompareRow = { label: m.label, model: name, params, gflops, msPerFrame, miou: scores[0].miou, boundaryF: scores[0].boundaryF, stability, count: scores[0].count, scores, trainSeconds: wall };
      rows.push(row);
      log(`${m.label}: ${formatRow(row)}`);
    } finally {
      seg.dispose();
    }
  }
  return rows;
}

function formatRow(r: CompareRow): string {
  const per = r.scores.map((s) => `${s.set} mIoU ${s.miou.toFixed(4)} / boundary F ${s.boundaryF.toFixed(4)}`).join(', ');
  return `${r.params} params, ${r.gflops.toFixed(3)} GFLOPs, ${r.msPerFrame.toFixed(1)} ms/frame, ${per}, stability ${r.stability.toFixed(4)}`;
}

function formatWall(s: number | null): string {
  if (s === null) return '-';
  if (s < 90) return `${s.toFixed(0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Markdown table; the first row is the reference (mIoU as a % of it, params and speed as ratios). */
export function formatTable(rows: CompareRow[]): string {
  const ref = rows[0];
  const sets = ref ? ref.scores.map((s) => `${s.set} (${s.count})`) : [];
  const lines = [
    `| model | params | GFLOPs/frame | ms/frame | ${sets.map((s) => `${s} mIoU | ${s} boundary F`).join(' | ')} | stability | training wall time |`,
    `|---|---:|---:|---:|${sets.map(() => '---:|---:|').join('')}---:|---:|`,
  ];
  for (const r of rows) {
    const pr = ref && r !== ref ? (r.params <= ref.params ? ` (1/${(ref.params / r.params).toFixed(1)})` : ` (${(r.params / ref.params).toFixed(1)}x)`) : '';
    const sp = ref && r !== ref && r.msPerFrame > 0 ? (r.msPerFrame <= ref.msPerFrame ? ` (${(ref.msPerFrame / r.msPerFrame).toFixed(1)}x faster)` : ` (${(r.msPerFrame / ref.msPerFrame).toFixed(1)}x slower)`) : '';
    const cells = r.scores.map((s, i) => {
      const d = ref && r !== ref ? ` (${s.miou >= ref.scores[i].miou ? '+' : ''}${(100 * (s.miou - ref.scores[i].miou)).toFixed(2)})` : '';
      return `${s.miou.toFixed(4)}${d} | ${s.boundaryF.toFixed(4)}`;
    });
    lines.push(`| ${r.label} (\`${r.model}\`) | ${r.params.toLocaleString('en-US')}${pr} | ${r.gflops.toFixed(3)} | ${r.msPerFrame.toFixed(1)}${sp} | ${cells.join(' | ')} | ${r.stability.toFixed(4)} | ${formatWall(r.trainSeconds)} |`);
  }
  return lines.join('\n') + '\n';
}
