/**
 * The side-by-side table of issue 5: teacher, labels-only student and distilled student,
 * each measured by src/eval's `evaluate` on the same held-out split (the seeded
 * data.valFraction split of --data that training used, or --val), with params, GFLOPs per
 * frame (src/models countFlops), ms per frame, mIoU, boundary F and shift stability.
 */
import type { Config } from '../config/config';
import type { SampleRef } from '../data/types';
import { openDataset } from '../data/dataset';
import { splitRefs } from '../data/split';
import { evaluate, modelSegmenter, samplesFromRefs } from '../eval';
import { countFlops } from '../models/flops';
import { loadModel } from '../models/io';

export interface CompareRow {
  label: string;
  model: string;
  params: number;
  gflops: number;
  msPerFrame: number;
  miou: number;
  boundaryF: number;
  stability: number;
  count: number;
}

/** The held-out labeled refs: --val when given, else the val side of the seeded split. */
export async function heldOutRefs(cfg: Config): Promise<SampleRef[]> {
  if (cfg.data.val) return (await openDataset(cfg.data.val, { labeled: true })).refs;
  if (!cfg.data.path) throw new Error('compare: no data (--data DIR)');
  const all = (await openDataset(cfg.data.path, { labeled: true })).refs;
  if (cfg.data.valFraction <= 0) throw new Error('compare: data.valFraction is 0 and no --val: there is no held-out split');
  return splitRefs(all, cfg.data.valFraction, cfg.seed).val;
}

/** Evaluates each `label=spec` model on `refs`; frames at their original resolution. */
export async function compareModels(models: { label: string; spec: string }[], refs: readonly SampleRef[], cfg: Config, log: (l: string) => void = () => {}): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const m of models) {
    const { model, meta } = await loadModel(m.spec);
    const seg = modelSegmenter(model, meta);
    try {
      const r = await evaluate(seg, samplesFromRefs(refs), {
        threshold: cfg.eval.threshold,
        boundaryTolerance: cfg.eval.boundaryTolerance,
        worst: 0,
        stabilityShift: cfg.eval.stabilityShift,
      });
      // GFLOPs at the frame the model is fed in eval (our models resize to inputSize inside).
      const first = refs.length ? await firstSize(refs) : meta.frameSize;
      const row: CompareRow = {
        label: m.label,
        model: meta.name,
        params: meta.params,
        gflops: countFlops(model, first),
        msPerFrame: r.msPerImage,
        miou: r.miou,
        boundaryF: r.boundaryF,
        stability: r.stability ?? NaN,
        count: r.count,
      };
      rows.push(row);
      log(`${m.label}: ${formatRow(row)}`);
    } finally {
      seg.dispose();
    }
  }
  return rows;
}

async function firstSize(refs: readonly SampleRef[]): Promise<[number, number]> {
  for await (const s of samplesFromRefs(refs.slice(0, 1))) return [s.image.height, s.image.width];
  return [0, 0];
}

function formatRow(r: CompareRow): string {
  return `${r.params} params, ${r.gflops.toFixed(3)} GFLOPs, ${r.msPerFrame.toFixed(1)} ms, mIoU ${r.miou.toFixed(4)}, boundary F ${r.boundaryF.toFixed(4)}, stability ${r.stability.toFixed(4)}`;
}

/** Markdown table; ratios relative to the first row (the teacher). */
export function formatTable(rows: CompareRow[]): string {
  const ref = rows[0];
  const lines = [
    '| model | params | GFLOPs/frame | ms/frame | mIoU | boundary F | stability |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const rel = ref && r !== ref ? ` (${((100 * r.miou) / ref.miou).toFixed(1)}% of ${ref.label})` : '';
    const pr = ref && r !== ref ? ` (1/${(ref.params / r.params).toFixed(1)})` : '';
    const sp = ref && r !== ref && r.msPerFrame > 0 ? ` (${(ref.msPerFrame / r.msPerFrame).toFixed(1)}x faster)` : '';
    lines.push(
      `| ${r.label} (\`${r.model}\`) | ${r.params.toLocaleString('en-US')}${pr} | ${r.gflops.toFixed(3)} | ${r.msPerFrame.toFixed(1)}${sp} | ${r.miou.toFixed(4)}${rel} | ${r.boundaryF.toFixed(4)} | ${r.stability.toFixed(4)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

