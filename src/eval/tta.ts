/**
 * Test-time augmentation and ensembles, for any model that turns 0..1 frames into person logits
 * (ours, imported, external): the mean of P(person) over the members and, with `flip`, over each
 * frame and its horizontal mirror (the mirror's prediction mirrored back); logits come from that
 * mean, log(p / (1 - p)) with p clipped to [1e-6, 1 - 1e-6] (as src/eval/external.ts does).
 *
 * Probabilities are averaged, not logits: an ensemble member that is sure (|logit| large) must
 * not outvote the others by its scale alone (the usual rule of segmentation ensembles and
 * flip TTA, e.g. PortraitNet's and PP-HumanSeg's evaluation with --aug_eval --flip_horizontal).
 *
 * Also, per-model input options in one string, shared by `eval --model`, `distill --teacher` and
 * `label --teacher`: `PATH,inputSize=WxH,inputRange=0..1,output=sigmoid`.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../config/schema';
import type { Segmenter } from './evaluate';
import { parseWidthHeight, sizeErrorMessage } from '../util/size';

/** frames [B,H,W,3] -> person logits [B,H,W,1]. */
export type LogitFn = (frames: tf.Tensor4D) => tf.Tensor4D;

const EPS = 1e-6;

/** P(person) [B,H,W,1] -> logits, p clipped to [EPS, 1 - EPS]. */
export function probToLogits(p: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const q = p.clipByValue(EPS, 1 - EPS);
    return q.div(tf.scalar(1).sub(q)).log() as tf.Tensor4D;
  });
}

/** Horizontal mirror of [B,H,W,C] (exact: a permutation of the columns). */
export function mirror<T extends tf.Tensor4D>(x: T): T {
  return tf.reverse(x, 2) as T;
}

/** Mean P(person) [B,H,W,1] over `fns` (and, with `flip`, over the mirrored frames, mirrored back). */
export function meanProbability(fns: readonly LogitFn[], frames: tf.Tensor4D, flip: boolean): tf.Tensor4D {
  if (fns.length === 0) throw new Error('meanProbability: no models');
  return tf.tidy(() => {
    let sum: tf.Tensor4D | null = null;
    let n = 0;
    const add = (p: tf.Tensor4D) => {
      sum = sum ? (sum.add(p) as tf.Tensor4D) : p;
      n++;
    };
    const mirrored = flip ? mirror(frames) : null;
    for (const f of fns) {
      add(f(frames).sigmoid() as tf.Tensor4D);
      if (mirrored) add(mirror(f(mirrored).sigmoid() as tf.Tensor4D));
    }
    return sum!.div(n) as tf.Tensor4D;
  });
}

/** Logits of the mean probability; one member without flip is returned as it is (no round trip through P). */
export function averagedLogits(fns: readonly LogitFn[], frames: tf.Tensor4D, flip: boolean): tf.Tensor4D {
  if (fns.length === 1 && !flip) return fns[0](frames);
  return tf.tidy(() => probToLogits(meanProbability(fns, frames, flip)));
}

/** A Segmenter averaging the members' probabilities (and flips). One member without flip: that member. */
export function ensembleSegmenter(members: readonly Segmenter[], flip: boolean): Segmenter {
  if (members.length === 0) throw new Error('ensembleSegmenter: no models');
  if (members.length === 1 && !flip) return members[0];
  const first = members[0].info;
  const name = (members.length > 1 ? `ensemble(${members.map((m) => m.info.name).join(' + ')})` : first.name) + (flip ? ' +flip' : '');
  const sizes = members.map((m) => m.info.inputSize).filter((s): s is [number, number] => s !== null);
  const largest = sizes.length ? sizes.reduce((a, b) => (b[0] * b[1] > a[0] * a[1] ? b : a)) : null;
  const params = members.every((m) => m.info.params !== null) ? members.reduce((n, m) => n + (m.info.params ?? 0), 0) : null;
  const fns = members.map((m) => (x: tf.Tensor4D) => m.predictLogits(x));
  return {
    predictLogits: (frames) => averagedLogits(fns, frames, flip),
    info: {
      name,
      kind: members.length === 1 ? first.kind : members.every((m) => m.info.kind === 'portraitseg') ? 'portraitseg' : 'external',
      inputSize: largest,
      params,
      maskFilter: members.some((m) => m.info.maskFilter),
      ...(members.length === 1 && first.meta ? { meta: first.meta } : {}),
    },
    dispose: () => members.forEach((m) => m.dispose()),
  };
}

// ------------------------------------------------------------------------------- per-model options

/** Input options of one model given on the command line or in config (null: not set for this model). */
export interface ModelOptions {
  path: string;
  /** [height, width] */
  inputSize: [number, number] | null;
  inputRange: '0..1' | '-1..1' | '0..255' | null;
  output: 'sigmoid' | 'softmax1' | 'logits' | null;
}

const RANGES = ['0..1', '-1..1', '0..255'] as const;
const OUTPUTS = ['sigmoid', 'softmax1', 'logits'] as const;

/** True when any input option is set: the model is read as an external one with these options. */
export function hasInputOptions(m: ModelOptions): boolean {
  return m.inputSize !== null || m.inputRange !== null || m.output !== null;
}

/**
 * `PATH[,inputSize=WxH][,inputRange=0..1|-1..1|0..255][,output=sigmoid|softmax1|logits]` ->
 * ModelOptions; errors name the flag and the bad part. A path containing commas cannot take options.
 */
export function parseModelOptions(flag: string, v: string): ModelOptions {
  const parts = String(v).split(',');
  const out: ModelOptions = { path: parts[0], inputSize: null, inputRange: null, output: null };
  if (!out.path) throw new ConfigError(`${flag} ${v}: no path before the options (expected PATH,inputSize=WxH,inputRange=0..1,output=sigmoid)`);
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    const k = i > 0 ? p.slice(0, i).trim() : p.trim();
    const val = i > 0 ? p.slice(i + 1).trim() : '';
    if (k === 'inputSize') {
      const r = parseWidthHeight(val);
      if (!Array.isArray(r)) throw new ConfigError(`${flag} ${v}: ${sizeErrorMessage('inputSize=', val, r, '256x256', '')}`);
      out.inputSize = r;
    } else if (k === 'inputRange') {
      if (!(RANGES as readonly string[]).includes(val)) throw new ConfigError(`${flag} ${v}: inputRange=${val}: expected one of ${RANGES.join('|')}`);
      out.inputRange = val as ModelOptions['inputRange'];
    } else if (k === 'output') {
      if (!(OUTPUTS as readonly string[]).includes(val)) throw new ConfigError(`${flag} ${v}: output=${val}: expected one of ${OUTPUTS.join('|')}`);
      out.output = val as ModelOptions['output'];
    } else {
      throw new ConfigError(`${flag} ${v}: unknown option "${k}" (known: inputSize=WxH, inputRange=${RANGES.join('|')}, output=${OUTPUTS.join('|')})`);
    }
  }
  return out;
}

/** The external-model options of one member: its own where set, the command's (cfg.external) otherwise. */
export function externalOptionsFor<E extends { inputSize: [number, number] | null; inputRange: string; output: string }>(m: ModelOptions, base: E): E {
  return { ...base, inputSize: m.inputSize ?? base.inputSize, inputRange: m.inputRange ?? base.inputRange, output: m.output ?? base.output };
}
