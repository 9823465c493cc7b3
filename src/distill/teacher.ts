/**
 * The frozen teacher: our own `train teacher` run (a tf.LayersModel + ModelMeta) or an external
 * TensorFlow.js model (through src/eval/external.ts). It only ever runs forward, in inference
 * mode (BatchNorm moving statistics, no dropout), outside any gradient tape, and its variables
 * are marked non-trainable so no optimizer or tf.variableGrads can touch them.
 *
 * Teacher outputs are the expensive part of distillation, so `TeacherTargets` caches them by
 * the content of the (augmented) frame: a hash of the frame's float32 bits. A repeated frame
 * (no augmentation, or augmentation that happened to draw the identity) is never recomputed,
 * and targets computed ahead of time (`prefetch`, on the batch iterator before the student
 * step) are found again when the loss asks for them, whatever micro-batching the loop does.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostBatch } from '../data/types';
import type { ModelMeta } from '../models/types';
import { areaResize } from './area';
import { FrozenRuntime, nativePredictor, NativePredictor } from '../export/native';

/** Teacher outputs for a batch: logits [B,H,W,1] at the frame size; features [B,h,w,C] when asked. */
export interface TeacherOutputs {
  logits: tf.Tensor4D;
  features?: tf.Tensor4D;
}

export interface FrozenTeacher {
  readonly kind: 'portraitseg' | 'external';
  /** Human-readable description for logs and the run's config. */
  readonly describe: string;
  /** [height, width] the teacher was trained on / expects; null when unknown. */
  readonly frameSize: [number, number] | null;
  /** Channels of the teacher's `features` map; null when it has none (external models). */
  readonly featureChannels: number | null;
  readonly meta: ModelMeta | null;
  /** Runs the teacher on frames in 0..1 [B,H,W,3]. Never records gradients. */
  predict(frames: tf.Tensor4D, withFeatures: boolean): TeacherOutputs;
  /** Sum of |w| over all teacher weights (tests check it does not change). */
  weightChecksum(): number;
  dispose(): void;
}

/** What src/eval/external.ts gives us: a model that turns 0..1 frames into logits at the frame size. */
export interface ExternalPredictor {
  predictLogits(frames: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
  describe?: string;
  inputSize?: [number, number] | null;
  /** src/eval's Segmenter info (name, inputSize), when the predictor is one. */
  info?: { name: string; inputSize: [number, number] | null };
}

/** Runs `fn` with no gradient tape recording, whatever the caller is inside of. */
export function untaped<T>(fn: () => T): T {
  // tf.variableGrads / optimizer.minimize record every kernel run inside them; the teacher's
  // kernels need no backward pass and must not keep their activations alive. The engine's
  // tape is skipped while gradientDepth is 0 (tfjs-core engine.ts: shouldCheckForMemLeaks /
  // isTapeOn), so we set it to 0 for the duration of the teacher forward pass.
  const engine = tf.engine() as unknown as { state: { gradientDepth: number } };
  const depth = engine.state.gradientDepth;
  engine.state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    engine.state.gradientDepth = depth;
  }
}

function checksum(vars: tf.Tensor[]): number {
  let s = 0;
  for (const v of vars) {
    const d = v.dataSync();
    for (let i = 0; i < d.length; i++) s += Math.abs(d[i]);
  }
  return s;
}

/**
 * Freezes one of our models: non-trainable, inference-mode, with its `features` layer exposed.
 * `runtime` (config runtime.frozen; tfjs when not given) may put its logits-only forward on
 * onnxruntime-node (src/export/native.ts); `describe` then says which runtime runs it.
 */
export function freezeModel(model: tf.LayersModel, meta: ModelMeta | null, describe = meta ? `${meta.name} (portraitseg)` : 'teacher', runtime: FrozenRuntime = 'tfjs'): FrozenTeacher {
  model.trainable = false;
  let native: NativePredictor | null = null;
  if (runtime !== 'tfjs' && meta) {
    const choice = nativePredictor(model, { runtime, name: meta.name, frameSize: [meta.frameSize[0], meta.frameSize[1]] });
    native = choice.predictor;
    describe = `${describe} on ${choice.reason}`;
  }
  let featureModel: tf.LayersModel | null = null;
  let featureChannels: number | null = null;
  try {
    const layer = model.getLayer('features');
    const out = layer.output as tf.SymbolicTensor;
    featureChannels = out.shape[out.shape.length - 1] ?? null;
    featureModel = tf.model({ inputs: model.inputs, outputs: [model.outputs[0], out] });
    featureModel.trainable = false;
  } catch {
    featureModel = null;
  }
  return {
    kind: 'portraitseg',
    describe,
    frameSize: meta ? [meta.frameSize[0], meta.frameSize[1]] : null,
    featureChannels,
    meta,
    predict(frames, withFeatures) {
      return untaped(() =>
        tf.tidy(() => {
          if (withFeatures) {
            if (!featureModel) throw new Error(`teacher ${describe} has no layer named "features"; set distill.feature=0`);
            const [logits, features] = featureModel.apply(frames, { training: false }) as tf.Tensor4D[];
            return { logits, features };
          }
          if (native) {
            const r = native.predict(frames.dataSync() as Float32Array, frames.shape);
            return { logits: tf.tensor4d(r.data, r.dims as [number, number, number, number]) };
          }
          return { logits: model.apply(frames, { training: false }) as tf.Tensor4D };
        }),
      );
    },
    weightChecksum: () => checksum(model.getWeights()),
    dispose() {
      native?.dispose();
      model.dispose();
    },
  };
}

/** Wraps an external model (no features; the adapter already maps its output to logits). */
export function freezeExternal(ext: ExternalPredictor, describe = ext.describe ?? (ext.info ? `external ${ext.info.name}` : 'external model')): FrozenTeacher {
  return {
    kind: 'external',
    describe,
    frameSize: ext.inputSize ?? ext.info?.inputSize ?? null,
    featureChannels: null,
    meta: null,
    predict(frames, withFeatures) {
      if (withFeatures) throw new Error(`teacher ${describe} is an external model without a "features" map; set distill.feature=0`);
      return untaped(() => tf.tidy(() => ({ logits: ext.predictLogits(frames) })));
    },
    weightChecksum: () => {
      const m = (ext as unknown as { model?: { weights?: tf.Tensor[] } }).model;
      return m && Array.isArray(m.weights) ? checksum(m.weights) : 0;
    },
    dispose: () => ext.dispose(),
  };
}

/**
 * Checks at start that a teacher can label the student's frames: one person-logit channel at
 * the frame's size, and a training frame of the same aspect ratio. Throws one clear line.
 */
export function checkCompatible(teacher: FrozenTeacher, studentMeta: ModelMeta): void {
  const [h, w] = studentMeta.frameSize;
  if (teacher.frameSize) {
    const [th, tw] = teacher.frameSize;
    if (Math.abs(th / tw - h / w) > 0.02 * (h / w)) {
      throw new Error(
        `teacher ${teacher.describe} works on ${th}x${tw} (HxW) frames but student ${studentMeta.name} on ${h}x${w}: ` +
          `aspect ratios differ; pick a student inputSize with the teacher's aspect ratio (model.args.inputSize)`,
      );
    }
  }
  const probe = tf.zeros([1, h, w, 3]) as tf.Tensor4D;
  let out: TeacherOutputs | null = null;
  try {
    out = teacher.predict(probe, false);
    const s = out.logits.shape;
    if (s.length !== 4 || s[0] !== 1 || s[1] !== h || s[2] !== w || s[3] !== 1) {
      throw new Error(
        `teacher ${teacher.describe} returned shape [${s.join(',')}] for a 1x${h}x${w}x3 frame; ` +
          'distillation needs one person-logit channel at the frame size (for external models check --output and --input-size)',
      );
    }
  } finally {
    probe.dispose();
    out?.logits.dispose();
    out?.features?.dispose();
  }
}

/** 64-bit (two FNV-1a lanes) hash of one frame's float32 bits, as a string key. */
export function frameKey(data: Float32Array, offset: number, length: number): string {
  const u = new Uint32Array(data.buffer, data.byteOffset + offset * 4, length);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ length;
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ ((x >>> 16) | (x << 16)), 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}.${length}`;
}

interface CachedRow {
  logits: Float32Array;
  features?: Float32Array;
}

export interface TargetStats {
  /** Rows served from an earlier step's teacher output (the cache saved a teacher pass). */
  hits: number;
  /** Rows the teacher had to compute. */
  misses: number;
  /** Milliseconds spent in teacher forward passes. */
  teacherMs: number;
}

export interface TeacherTargetsOptions {
  /** Keep teacher outputs by frame content (cfg.distill.cacheTeacher). */
  cache: boolean;
  withFeatures: boolean;
  /** Upper bound on cached bytes; the oldest entries go first. Default 512 MiB. */
  maxBytes?: number;
  now?: () => number;
}

/**
 * Serves teacher targets for the frames the student trains on. `targets(images)` is what the
 * distillation loss calls (synchronously, inside the loop's step); `prefetch(batch)` computes a
 * host batch's targets ahead of the step. Without `cache`, only prefetched rows are kept, and
 * each is dropped once used.
 */
export class TeacherTargets {
  readonly stats: TargetStats = { hits: 0, misses: 0, teacherMs: 0 };
  private readonly rows = new Map<string, CachedRow>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private featShape: [number, number, number] | null = null;
  /** Rows prefetched for the coming step: found in targets() without being a reuse. */
  private fresh = new Set<string>();

  constructor(readonly teacher: FrozenTeacher, private readonly opts: TeacherTargetsOptions) {
    this.maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.rows.size;
  }

  private store(key: string, row: CachedRow): void {
    if (this.rows.has(key)) return;
    const b = row.logits.byteLength + (row.features?.byteLength ?? 0);
    while (this.bytes + b > this.maxBytes && this.rows.size > 0) {
      const [k, old] = this.rows.entries().next().value as [string, CachedRow];
      this.rows.delete(k);
      this.bytes -= old.logits.byteLength + (old.features?.byteLength ?? 0);
    }
    this.rows.set(key, row);
    this.bytes += b;
  }

  /** Runs the teacher on `frames` [n,H,W,3] and returns per-row host copies. */
  private compute(frames: tf.Tensor4D): CachedRow[] {
    const t0 = this.now();
    const out = this.teacher.predict(frames, this.opts.withFeatures);
    const n = frames.shape[0];
    const logits = out.logits.dataSync() as Float32Array;
    const per = logits.length / n;
    let feats: Float32Array | null = null;
    let fper = 0;
    if (out.features) {
      const [, fh, fw, fc] = out.features.shape;
      this.featShape = [fh, fw, fc];
      feats = out.features.dataSync() as Float32Array;
      fper = feats.length / n;
    }
    out.logits.dispose();
    out.features?.dispose();
    this.stats.teacherMs += this.now() - t0;
    this.stats.misses += n;
    const rows: CachedRow[] = [];
    for (let i = 0; i < n; i++) {
      rows.push({
        logits: logits.slice(i * per, (i + 1) * per),
        features: feats ? feats.slice(i * fper, (i + 1) * fper) : undefined,
      });
    }
    return rows;
  }

  /** Computes and keeps the targets of a host batch before the student step needs them. */
  prefetch(batch: HostBatch): void {
    const px = batch.height * batch.width * 3;
    const missing: number[] = [];
    const keys: string[] = [];
    for (let i = 0; i < batch.size; i++) {
      const k = frameKey(batch.images, i * px, px);
      keys.push(k);
      if (!this.rows.has(k)) missing.push(i);
    }
    if (missing.length === 0) return;
    const rowsData = new Float32Array(missing.length * px);
    missing.forEach((r, j) => rowsData.set(batch.images.subarray(r * px, (r + 1) * px), j * px));
    const frames = tf.tensor4d(rowsData, [missing.length, batch.height, batch.width, 3]);
    try {
      const rows = this.compute(frames);
      missing.forEach((r, j) => {
        this.store(keys[r], rows[j]);
        this.fresh.add(keys[r]);
      });
    } finally {
      frames.dispose();
    }
  }

  /**
   * Like prefetch, for a teacher labelling at its own resolution: the teacher runs on `big` (the
   * same frames at a larger size), its P(person) is area-resampled to `batch`'s size and stored,
   * as logits, under the keys of `batch`'s frames (which the loss then asks for).
   */
  prefetchAt(batch: HostBatch, big: HostBatch): void {
    if (this.opts.withFeatures) throw new Error('a teacher labelling at its own resolution gives no features; set distill.feature=0');
    const px = batch.height * batch.width * 3;
    const keys = Array.from({ length: batch.size }, (_, i) => frameKey(batch.images, i * px, px));
    if (keys.every((k) => this.rows.has(k))) return;
    const frames = tf.tensor4d(big.images, [big.size, big.height, big.width, 3]);
    try {
      const t0 = this.now();
      const out = this.teacher.predict(frames, false);
      const p = untaped(() => tf.tidy(() => out.logits.sigmoid()));
      const prob = p.dataSync() as Float32Array;
      tf.dispose([p, out.logits]);
      const small = areaResize(prob, big.size, big.height, big.width, 1, batch.height, batch.width);
      this.stats.teacherMs += this.now() - t0;
      this.stats.misses += batch.size;
      const per = batch.height * batch.width;
      for (let i = 0; i < batch.size; i++) {
        const logits = new Float32Array(per);
        for (let j = 0; j < per; j++) {
          const q = Math.min(1 - 1e-6, Math.max(1e-6, small[i * per + j]));
          logits[j] = Math.log(q / (1 - q));
        }
        this.store(keys[i], { logits });
        this.fresh.add(keys[i]);
      }
    } finally {
      frames.dispose();
    }
  }

  /**
   * Teacher targets for `images` [B,H,W,3]: logits [B,H,W,1] (and features). Cached rows are
   * reused; the rest are computed in one teacher call. The caller owns the returned tensors.
   */
  targets(images: tf.Tensor4D): TeacherOutputs {
    const [n, h, w] = images.shape;
    const px = h * w * 3;
    const data = untaped(() => images.dataSync() as Float32Array);
    const keys: string[] = [];
    const found: (CachedRow | undefined)[] = [];
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = frameKey(data, i * px, px);
      keys.push(k);
      const row = this.rows.get(k);
      found.push(row);
      if (!row) missing.push(i);
      else if (!this.fresh.delete(k)) this.stats.hits += 1;
    }
    if (missing.length > 0) {
      const frames = untaped(() =>
        missing.length === n ? images.clone() : (tf.gather(images, tf.tensor1d(missing, 'int32')) as tf.Tensor4D),
      );
      try {
        const rows = this.compute(frames);
        missing.forEach((r, j) => {
          found[r] = rows[j];
          if (this.opts.cache) this.store(keys[r], rows[j]);
        });
      } finally {
        frames.dispose();
      }
    }
    const per = h * w;
    const logits = new Float32Array(n * per);
    found.forEach((r, i) => logits.set(r!.logits, i * per));
    let features: tf.Tensor4D | undefined;
    if (this.opts.withFeatures) {
      const [fh, fw, fc] = this.featShape!;
      const fper = fh * fw * fc;
      const f = new Float32Array(n * fper);
      found.forEach((r, i) => f.set(r!.features!, i * fper));
      features = tf.tensor4d(f, [n, fh, fw, fc]);
    }
    if (!this.opts.cache) {
      // Prefetched rows are used once: without a cache nothing outlives its step.
      for (const k of keys) {
        const r = this.rows.get(k);
        if (r) {
          this.rows.delete(k);
          this.bytes -= r.logits.byteLength + (r.features?.byteLength ?? 0);
        }
      }
    }
    return { logits: tf.tensor4d(logits, [n, h, w, 1]), features };
  }

  /** Wraps a batch iterator so each batch's teacher targets are computed before it is yielded. */
  async *prefetchAll(batches: AsyncIterator<HostBatch>): AsyncGenerator<HostBatch> {
    for (;;) {
      const r = await batches.next();
      if (r.done) return;
      this.prefetch(r.value);
      yield r.value;
    }
  }

  clear(): void {
    this.fresh.clear();
    this.rows.clear();
    this.bytes = 0;
  }
}
