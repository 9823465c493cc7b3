/**
 * The parity rule: one for every check that a model in another form computes what the original
 * computes (timm's --check-forward). Used by the export check (tfjs, ONNX, TFLite in LiteRT.js:
 * export/index.ts), the import check (against the file's reference and against LiteRT.js:
 * export/import-check.ts, for `portraitseg import` and for the packaged imports of runs) and the
 * check at load of frozen models on onnxruntime-node (export/native.ts).
 *
 * - Frames: seeded synthetic portraits (src/data/synth.ts: a person with hair, a room or a scene
 *   behind, camera noise), the same numbers on every backend and runtime. Uniform noise is no
 *   test: MediaPipe's selfie net gives logits near -900 (P(person) = 0) on every pixel of it, so
 *   any two nets agree; a portrait has person, background and an uncertain boundary.
 * - Measure: max |P(person) diff| over every pixel, P = sigmoid(logits) (or the file's own
 *   probability output); NaN anywhere fails. The max |logits diff| where the reference's
 *   |logits| < PARITY_LOGIT_RANGE is reported too: further out, float32 rounding of logits in the
 *   hundreds (seen in imported MediaPipe models) says nothing about the mask.
 * - Tolerance (parityTolerance): float32 weights, 1e-4 (PARITY_TOLERANCE) where both sides run
 *   tfjs or the same plain float32 ops, 1e-3 (RUNTIME_TOLERANCE) where the other side is another
 *   runtime with its own float32 kernels (onnxruntime, LiteRT.js); quantised weights, which change
 *   on purpose, QUANTIZED_PROB_TOLERANCE. export.tolerance replaces the float32 one when set.
 * - Failure: a ParityError whose one-line message names the model, the format, the max |P diff|
 *   and the tolerance (`parityFailure`).
 */
import * as tf from '@tensorflow/tfjs';
import { synthSample } from '../data/synth';
import { makeRng } from '../util/rng';
import type { Quantize } from './tfjs';

/** Max |P(person) diff| accepted for float32 weights where both sides run tfjs (or the same plain float32 ops). */
export const PARITY_TOLERANCE = 1e-4;

/**
 * Max |P(person) diff| accepted for float32 weights against another runtime's own float32 kernels
 * (onnxruntime's, TFLite's XNNPACK in LiteRT.js). On MediaPipe's selfie net and the models
 * fine-tuned from it, whose logits reach +-900, the summation orders alone move P at the
 * uncertain pixels of the portrait frames by up to 3e-4 (measured: the ONNX and TFLite exports of
 * the imported selfie net, its onnxruntime-node load, the import's LiteRT.js check), while one
 * changed weight moves it by more than 1e-2 (the tests). Our own models stay below 1e-6.
 */
export const RUNTIME_TOLERANCE = 1e-3;

/** Max |P(person) diff| accepted for quantised weights. */
export const QUANTIZED_PROB_TOLERANCE: Record<Exclude<Quantize, 'none'>, number> = { float16: 0.01, uint8: 0.05 };

/**
 * The tolerance of a check. `runtime`: 'tfjs' when both sides run tfjs (or the same plain float32
 * ops), 'other' when one side is onnxruntime or LiteRT.js. `float32` (export.tolerance) replaces
 * the float32 default when given; quantised weights always get their own bound.
 */
export function parityTolerance(o: { quantize?: Quantize; runtime: 'tfjs' | 'other'; float32?: number | null }): number {
  const q = o.quantize ?? 'none';
  if (q !== 'none') return QUANTIZED_PROB_TOLERANCE[q];
  return o.float32 ?? (o.runtime === 'other' ? RUNTIME_TOLERANCE : PARITY_TOLERANCE);
}

/** Logits beyond this magnitude are saturated masks: their float rounding is not reported. */
export const PARITY_LOGIT_RANGE = 10;

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * `n` seeded portraits NHWC [n, h, w, 3] in 0..1: row i is synthSample(makeRng(`parity:${seed}`).fork(i)).
 * Plain JavaScript (no tfjs RNG): the same numbers on every backend.
 */
export function parityFrames(n: number, h: number, w: number, seed: number): Float32Array {
  const out = new Float32Array(n * h * w * 3);
  const rng = makeRng(`parity:${seed}`);
  for (let i = 0; i < n; i++) {
    const { data } = synthSample(rng.fork(i), w, h, `parity-${i}`).image;
    const o = i * h * w * 3;
    for (let k = 0; k < data.length; k++) out[o + k] = data[k] / 255;
  }
  return out;
}

/** parityFrames as a tensor [n, h, w, 3]. */
export function parityTensor(n: number, h: number, w: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(parityFrames(n, h, w, seed), [n, h, w, 3]);
}

/** One output of a check: logits, or P(person) (a file whose output is a probability), or both. */
export interface ParityOutput {
  logits?: ArrayLike<number>;
  prob?: ArrayLike<number>;
}

/** Worst differences over every output added. */
export class ParityMeter {
  maxAbsProb = 0;
  /** null while no pair of logits was compared. */
  maxAbsLogits: number | null = null;
  readonly shapes: number[][] = [];

  /** `ref`: the original (its |logits| gates the logits figure); `got`: the converted one. */
  add(ref: ParityOutput, got: ParityOutput, shape: number[]): this {
    const rl = ref.logits;
    const gl = got.logits;
    const rp = ref.prob;
    const gp = got.prob;
    const n = (rp ?? rl)!.length;
    if ((gp ?? gl)!.length !== n) throw new Error(`parity check: output sizes differ (${n} vs ${(gp ?? gl)!.length})`);
    let prob = this.maxAbsProb;
    let logits = this.maxAbsLogits ?? 0;
    for (let i = 0; i < n; i++) {
      const a = rp ? rp[i] : sigmoid(rl![i]);
      const b = gp ? gp[i] : sigmoid(gl![i]);
      // Math.max keeps a NaN once it is there: a NaN anywhere fails the check
      prob = Math.max(prob, Math.abs(a - b));
      if (rl && gl) {
        const d = Math.abs(rl[i] - gl[i]);
        if (Math.abs(rl[i]) < PARITY_LOGIT_RANGE || Number.isNaN(d)) logits = Math.max(logits, d);
      }
    }
    this.maxAbsProb = prob;
    if (rl && gl) this.maxAbsLogits = logits;
    this.shapes.push(shape);
    return this;
  }
}

export interface Parity {
  /** The model checked (its ModelMeta name). */
  model: string;
  /** The form that was run: `tfjs`, `onnx`, `tflite` (exports), `onnx on onnxruntime-node`, `tflite import`, ... */
  format: string;
  /** Weight quantisation of an export (`none` when absent). */
  quantize?: Quantize;
  /** What it was compared with. */
  against: string;
  /** NHWC shapes of the portrait frames. */
  shapes: number[][];
  /** Max |P(person) diff| (what is compared against the tolerance). */
  maxAbsProb: number;
  /** Max |logits diff| where the reference's |logits| < PARITY_LOGIT_RANGE; null when a side has no logits. */
  maxAbsLogits: number | null;
  tolerance: number;
  ok: boolean;
  /** Set when the check could not run here (an optional runtime is missing): why. `ok` is then false. */
  unchecked?: string;
}

export function parityResult(m: ParityMeter, o: { model: string; format: string; against: string; tolerance: number }): Parity {
  const ok = m.maxAbsProb <= o.tolerance && (m.maxAbsLogits === null || !Number.isNaN(m.maxAbsLogits));
  return { model: o.model, format: o.format, against: o.against, shapes: m.shapes, maxAbsProb: m.maxAbsProb, maxAbsLogits: m.maxAbsLogits, tolerance: o.tolerance, ok };
}

/** A check that could not run (`why`): never ok. */
export function uncheckedParity(o: { model: string; format: string; against: string; tolerance: number }, why: string): Parity {
  return { model: o.model, format: o.format, against: o.against, shapes: [], maxAbsProb: NaN, maxAbsLogits: null, tolerance: o.tolerance, ok: false, unchecked: why };
}

const shapesOf = (p: Parity) => p.shapes.map((s) => s.join('x')).join(' and ');
const formatOf = (p: Parity) => `${p.format}${p.quantize && p.quantize !== 'none' ? ` ${p.quantize}` : ''}`;
const num = (v: number) => v.toExponential(2);

/** One line: what was compared, on what, and the result (OK, FAILED or NOT CHECKED). */
export function describeParity(p: Parity): string {
  const what = `parity ${p.model} ${formatOf(p)} vs ${p.against}`;
  if (p.unchecked) return `${what} NOT CHECKED: ${p.unchecked}`;
  const logits = p.maxAbsLogits === null ? '' : `, max |logits diff| ${num(p.maxAbsLogits)} where |logits| < ${PARITY_LOGIT_RANGE}`;
  return `${what} on portrait frames ${shapesOf(p)}: max |P(person) diff| ${num(p.maxAbsProb)} (tolerance ${p.tolerance}${logits}) ${p.ok ? 'OK' : 'FAILED'}`;
}

/** The failure message every check throws: model, format, max |P diff| > tolerance, then the frames. */
export function parityFailure(p: Parity): string {
  return `parity check failed: ${p.model} ${formatOf(p)} vs ${p.against}: max |P(person) diff| ${num(p.maxAbsProb)} > tolerance ${p.tolerance} (portrait frames ${shapesOf(p)})`;
}

/** A failed parity check (`parity` holds the figures). */
export class ParityError extends Error {
  constructor(
    readonly parity: Parity,
    context?: string,
  ) {
    super(parityFailure(parity) + (context ? `; ${context}` : ''));
    this.name = 'ParityError';
  }
}

/** Throws ParityError when a check that ran did not pass; returns `p` otherwise (passed or not run). */
export function assertParity<P extends Parity>(p: P, context?: string): P {
  if (!p.ok && !p.unchecked) throw new ParityError(p, context);
  return p;
}
