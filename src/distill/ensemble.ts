/**
 * Teacher ensembles and flip TTA as one FrozenTeacher: the members' P(person) averaged (and,
 * with flip, each frame's mirror too, mirrored back), logits from that mean (src/eval/tta.ts).
 * The members can be any mix of our runs, imported model folders and external models.
 *
 * Also the start-of-run report of what the student is taught (`teacherReport`: each member's
 * and the ensemble's mIoU on the run's validation split, at the frames the teacher labels), and
 * the frames the teacher labels at its own resolution (`ownResolutionBatches`: the loader
 * augments at the larger frame, the teacher labels it, the student gets it area-downsampled).
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import type { HostBatch } from '../data/types';
import { MetricsAccumulator } from '../eval/metrics';
import { averagedLogits, mirror, type ModelOptions } from '../eval/tta';
import { FrozenTeacher, TeacherTargets, untaped } from './teacher';
import { areaResize } from './area';

/** A FrozenTeacher made of others (the ensemble keeps its members for the report). */
export interface EnsembleTeacher extends FrozenTeacher {
  readonly members: readonly FrozenTeacher[];
  readonly flip: boolean;
}

/** [h, w] with the most pixels; null when none is known. */
export function largestFrame(sizes: readonly ([number, number] | null)[]): [number, number] | null {
  let best: [number, number] | null = null;
  for (const s of sizes) if (s && (!best || s[0] * s[1] > best[0] * best[1])) best = [s[0], s[1]];
  return best;
}

/**
 * The ensemble of `members` (mean P(person), with flip TTA when `flip`). One member without flip
 * is returned as it is, so the single-teacher path is unchanged bit for bit.
 */
export function ensembleTeacher(members: FrozenTeacher[], flip: boolean): FrozenTeacher {
  if (members.length === 0) throw new Error('ensembleTeacher: no teachers');
  if (members.length === 1 && !flip) return members[0];
  const describe = (members.length > 1 ? `ensemble of ${members.length}: ${members.map((m) => m.describe).join(' + ')}` : members[0].describe) + (flip ? ', with flip TTA' : '');
  const fns = members.map((m) => (x: tf.Tensor4D) => m.predict(x, false).logits);
  const t: EnsembleTeacher = {
    kind: members.every((m) => m.kind === 'portraitseg') ? 'portraitseg' : 'external',
    describe,
    frameSize: largestFrame(members.map((m) => m.frameSize)),
    featureChannels: null,
    meta: null,
    members,
    flip,
    predict(frames, withFeatures) {
      if (withFeatures) throw new Error(`teacher ${describe}: an ensemble or flip TTA has no "features" map; set distill.feature=0`);
      return untaped(() => ({ logits: tf.tidy(() => averagedLogits(fns, frames, flip)) }));
    },
    weightChecksum: () => members.reduce((s, m) => s + m.weightChecksum(), 0),
    dispose: () => members.forEach((m) => m.dispose()),
  };
  return t;
}

/** The teacher list of a config: distill.teacher (or the --teacher override) first, then distill.teachers. */
export function teacherEntries(cfg: Config, single: string | null): ModelOptions[] {
  const out: ModelOptions[] = [];
  if (single) out.push({ path: single, inputSize: null, inputRange: null, output: null });
  cfg.distill.teachers.forEach((t, i) => {
    if (!t.path) throw new TeacherConfigError(`distill.teachers[${i}].path: empty (a run folder, checkpoint, imported model folder or model.json)`);
    out.push({ path: t.path, inputSize: t.inputSize, inputRange: t.inputRange, output: t.output });
  });
  return out;
}

/** Raised for a bad distill.teachers entry; the recipe maps it to its DistillError. */
export class TeacherConfigError extends Error {}

// ------------------------------------------------------------------------------- report

export interface TeacherScore {
  describe: string;
  miou: number;
  boundaryF: number;
}

/**
 * mIoU and boundary F of each member and of the ensemble on `batches` (validation frames at the
 * size the teacher labels). With one member and no flip only that member is scored.
 */
export async function teacherReport(teacher: FrozenTeacher, batches: Iterable<HostBatch> | AsyncIterable<HostBatch>, cfg: Config): Promise<TeacherScore[]> {
  const members = (teacher as Partial<EnsembleTeacher>).members ?? [teacher];
  const flip = (teacher as Partial<EnsembleTeacher>).flip ?? false;
  const opts = { threshold: cfg.eval.threshold, boundaryTolerance: cfg.eval.boundaryTolerance, worst: 0 };
  const accs = members.map(() => new MetricsAccumulator(opts));
  const both = members.length > 1 || flip;
  const ens = new MetricsAccumulator(opts);
  for await (const b of batches as AsyncIterable<HostBatch>) {
    const px = b.height * b.width;
    const frames = tf.tensor4d(b.images, [b.size, b.height, b.width, 3]);
    const probs: Float32Array[] = [];
    const all: tf.Tensor4D[] = [];
    try {
      for (const m of members) {
        const p = untaped(() => tf.tidy(() => m.predict(frames, false).logits.sigmoid() as tf.Tensor4D));
        probs.push(p.dataSync() as Float32Array);
        all.push(p);
        if (flip) all.push(untaped(() => tf.tidy(() => mirror(m.predict(mirror(frames), false).logits.sigmoid() as tf.Tensor4D))));
      }
      const mean = both ? (tf.tidy(() => tf.addN(all).div(all.length)).dataSync() as Float32Array) : null;
      for (let i = 0; i < b.size; i++) {
        if (!b.hasMask[i]) continue;
        const mask = b.masks.subarray(i * px, (i + 1) * px);
        probs.forEach((p, k) => accs[k].add(b.ids[i], p.subarray(i * px, (i + 1) * px), mask, b.width, b.height));
        if (mean) ens.add(b.ids[i], mean.subarray(i * px, (i + 1) * px), mask, b.width, b.height);
      }
    } finally {
      frames.dispose();
      tf.dispose(all);
    }
  }
  if (accs[0].count === 0) return [];
  const out = members.map((m, k) => ({ describe: m.describe, miou: accs[k].result().miou, boundaryF: accs[k].result().boundaryF }));
  if (both) out.push({ describe: teacher.describe, miou: ens.result().miou, boundaryF: ens.result().boundaryF });
  return out;
}

// ------------------------------------------------------------------------------- own resolution

/** A host batch brought to [H, W] by area resampling; masks thresholded at 0.5 unless `softMasks`. */
export function downscaleBatch(b: HostBatch, H: number, W: number, softMasks: boolean): HostBatch {
  const images = areaResize(b.images, b.size, b.height, b.width, 3, H, W);
  let masks = areaResize(b.masks, b.size, b.height, b.width, 1, H, W);
  if (!softMasks) masks = masks.map((v) => (v >= 0.5 ? 1 : 0));
  return { ...b, height: H, width: W, images, masks };
}

/**
 * Batches for a teacher labelling at its own resolution: each batch of `big` (augmented at the
 * teacher's frame) is labelled by the teacher there, its targets brought to the student's frame
 * (P area-resampled, then logits) and stored under the student frame's key, and the student gets
 * the area-downsampled batch. A pure function of the input stream: --resume stays bit for bit.
 */
export async function* ownResolutionBatches(big: AsyncIterator<HostBatch>, student: [number, number], targets: TeacherTargets | null, softMasks: boolean): AsyncGenerator<HostBatch> {
  for (;;) {
    const r = await big.next();
    if (r.done) return;
    const small = downscaleBatch(r.value, student[0], student[1], softMasks);
    targets?.prefetchAt(small, r.value);
    yield small;
  }
}
