/**
 * Evaluation of a segmenter on a labeled set at each image's original resolution, and the
 * cheaper in-training validation on host batches at the training frame size.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { HostBatch, Sample, SampleRef } from '../data/types';
import type { ModelMeta } from '../models/types';
import { writePng } from '../util/image';
import { loadSample } from '../data/sample';
import { DataError } from '../data/errors';
import { EvalMetrics, MetricOptions, MetricsAccumulator } from './metrics';
import { stabilityScores } from './stability';

export type { Segmenter, SegmenterInfo } from './segmenter';
import type { Segmenter, SegmenterInfo } from './segmenter';

/**
 * A portraitseg model as a Segmenter. Our models take the frame at any resolution, resize to
 * their input size inside and return logits at the frame's resolution (through the mask filter
 * when they have one, bilinear otherwise), so the frame goes in as it is.
 */
export function modelSegmenter(model: tf.LayersModel, meta: ModelMeta): Segmenter {
  return {
    predictLogits: (frames) => tf.tidy(() => model.predict(frames) as tf.Tensor4D),
    info: { name: meta.name, kind: 'portraitseg', inputSize: meta.inputSize, params: meta.params, maskFilter: !!meta.maskFilter?.enabled, meta },
    dispose: () => model.dispose(),
  };
}

export interface EvalOptions extends MetricOptions {
  /** Write image | ground truth | prediction PNGs here (one per image). */
  overlaysDir?: string | null;
  /** Called after each image (progress line). */
  onImage?: (done: number, total: number | null, m: { id: string; iou: number }) => void;
  /** Number of samples when known (for progress). */
  total?: number;
  /** Clock in ms (injectable). */
  now?: () => number;
  /** Also measure shift stability (src/eval/stability.ts) with this shift in px; null/undefined = skip. */
  stabilityShift?: number | null;
  /** Run the first frame once untimed before timing (default true; validation during training skips it). */
  warmup?: boolean;
}

export interface EvalReport extends EvalMetrics {
  /** Mean inference time per image (predict + sigmoid + read back), after one warm-up image. */
  msPerImage: number;
  model: SegmenterInfo & { meta?: ModelMeta };
  threshold: number;
  boundaryTolerance: number;
  /** Mean IoU between predictions on a frame and on the same frame shifted and re-aligned (src/eval/stability.ts). */
  stability?: number;
}

/** Samples at their original resolution from refs (labeled ones only). */
export async function* samplesFromRefs(refs: readonly SampleRef[], opts: { maskMode?: 'binary' | 'soft'; log?: (l: string) => void; maxSide?: number | null } = {}): AsyncGenerator<Sample> {
  for (const ref of refs) {
    if (!ref.maskPath && !ref.maskFromAlpha) continue;
    try {
      yield await loadSample(ref, { frameSize: null, maskMode: opts.maskMode ?? 'binary', maxSide: opts.maxSide ?? null });
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      opts.log?.(`skip ${(e as Error).message}`);
    }
  }
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** image | ground-truth mask | prediction overlay (person tinted, background dimmed, threshold applied). */
export function overlayTriptych(s: Sample, prob: Float32Array, threshold: number): { data: Uint8Array; width: number; height: number } {
  const { width: w, height: h } = s.image;
  const W = w * 3;
  const out = new Uint8Array(W * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const o = (y * W + x) * 3;
      const g = s.mask ? s.mask.data[i] : 0;
      const p = prob[i] > threshold;
      for (let c = 0; c < 3; c++) {
        const v = s.image.data[i * 3 + c];
        out[o + c] = v;
        out[o + w * 3 + c] = g;
        const tint = c === 1 ? 90 : 0;
        out[o + 2 * w * 3 + c] = p ? Math.min(255, Math.round(v * 0.7) + tint) : Math.round(v * 0.3);
      }
    }
  }
  return { data: out, width: W, height: h };
}

/** Evaluates `seg` on labeled samples at their original resolution (one frame at a time: sizes may differ). */
export async function evaluate(seg: Segmenter, samples: Iterable<Sample> | AsyncIterable<Sample>, opts: EvalOptions): Promise<EvalReport> {
  const now = opts.now ?? (() => performance.now());
  const acc = new MetricsAccumulator(opts);
  let ms = 0;
  let timed = 0;
  let warm = opts.warmup === false;
  let stabSum = 0;
  let stabN = 0;
  for await (const s of samples as AsyncIterable<Sample>) {
    if (!s.mask) continue;
    const { width: w, height: h } = s.image;
    const frame = tf.tidy(() => tf.tensor4d(s.image.data, [1, h, w, 3], 'int32').toFloat().div(255) as tf.Tensor4D);
    if (!warm) {
      // The first call compiles kernels / allocates; keep it out of ms per image.
      tf.dispose(seg.predictLogits(frame));
      warm = true;
    }
    const t0 = now();
    const probT = tf.tidy(() => seg.predictLogits(frame).sigmoid());
    const prob = (await probT.data()) as Float32Array;
    ms += now() - t0;
    timed++;
    if (opts.stabilityShift) {
      stabSum += stabilityScores(seg, frame, opts.stabilityShift, opts.threshold)[0];
      stabN++;
    }
    tf.dispose([frame, probT]);
    if (prob.length !== w * h) throw new Error(`${seg.info.name}: returned ${prob.length} pixels for a ${w}x${h} frame (expected logits at the frame's size)`);
    const m = acc.add(s.id, prob, s.mask.data, w, h);
    if (opts.overlaysDir) {
      const o = overlayTriptych(s, prob, opts.threshold);
      await writePng(path.join(opts.overlaysDir, `${safeName(s.id)}.png`), o.data, o.width, o.height, 3);
    }
    opts.onImage?.(acc.count, opts.total ?? null, { id: s.id, iou: m.iou });
  }
  if (acc.count === 0) throw new Error('eval: no labeled images to evaluate');
  return {
    ...acc.result(),
    msPerImage: timed ? ms / timed : 0,
    model: seg.info,
    threshold: opts.threshold,
    boundaryTolerance: opts.boundaryTolerance,
    ...(stabN ? { stability: stabSum / stabN } : {}),
  };
}

/**
 * In-training validation: metrics on host batches at the training frame size (no resizing,
 * batched predict). Rows without a mask are skipped.
 */
export async function evaluateBatches(model: tf.LayersModel, batches: Iterable<HostBatch> | AsyncIterable<HostBatch>, opts: MetricOptions): Promise<EvalMetrics> {
  const acc = new MetricsAccumulator(opts);
  for await (const b of batches as AsyncIterable<HostBatch>) {
    const px = b.height * b.width;
    const probT = tf.tidy(() => (model.predict(tf.tensor4d(b.images, [b.size, b.height, b.width, 3])) as tf.Tensor).sigmoid());
    const prob = (await probT.data()) as Float32Array;
    probT.dispose();
    for (let i = 0; i < b.size; i++) {
      if (!b.hasMask[i]) continue;
      acc.add(b.ids[i], prob.subarray(i * px, (i + 1) * px), b.masks.subarray(i * px, (i + 1) * px), b.width, b.height);
    }
  }
  return acc.result();
}
