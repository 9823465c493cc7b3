/**
 * The one training loop (principle 5 in DEVELOPERS.md), used by `train teacher` and `distill student`.
 *
 * A plain async function: pull a HostBatch, compute loss and gradients (the replaceable `step`,
 * gradient accumulation over micro-batches), check the loss is finite, clip by global norm,
 * apply the optimizer at the scheduled LR, then validation and callbacks (logging, checkpoints,
 * early stop, curves). One batch per step, so `state.step` is also the loader position that
 * `--resume` restarts the deterministic DataLoader.stream(fromBatch) at.
 */
import * as tf from '@tensorflow/tfjs';
import type { HostBatch } from '../data/types';
import type { ModelMeta } from '../models/types';
import { makeTrainStep, type LossFn, type TrainStep } from '../backend/step';
import { clipByGlobalNorm, Optimizer, Schedule } from './optim';
import type { TrainState } from './checkpoint';
import type { WeightEma } from './ema';

export type { LossContext, LossFn, StepInput, StepOutput, TrainStep } from '../backend/step';

// the step itself lives in src/backend/step.ts (the data-parallel step runs it on every thread)
export { batchTensors, makeTrainStep } from '../backend/step';

export interface StepLog {
  step: number;
  imagesSeen: number;
  loss: number;
  parts: Record<string, number>;
  lr: number;
  gradNorm: number;
  /** Images per second over the last logging window. */
  imagesPerSec: number;
  /** Seconds left at the current rate. */
  etaSec: number;
  elapsedSec: number;
}

export interface ValResult {
  /** Score to maximise (mIoU). */
  miou: number;
  [metric: string]: number;
}

export interface EvalLog {
  step: number;
  imagesSeen: number;
  miou: number;
  /** Everything valFn returned (miou included). */
  metrics: ValResult;
  isBest: boolean;
}

export type StopReason = 'done' | 'early-stop' | 'interrupted';

export interface TrainContext {
  model: tf.LayersModel;
  meta: ModelMeta;
  optimizer: Optimizer;
  extraVars: tf.Variable[];
  /** Averaged weights (validated and checkpointed as the model), or null. */
  ema: WeightEma | null;
  state: TrainState;
  totalImages: number;
  batchSize: number;
  lastStep: StepLog | null;
  lastEval: EvalLog | null;
  /** Set by callbacks (early stop) or the abort signal; the loop ends after the current step. */
  stopReason: StopReason | null;
  requestStop(reason: StopReason): void;
}

/** tfjs-layers CallbackList style hooks, awaited in list order. */
export interface Callback {
  onTrainBegin?(ctx: TrainContext): void | Promise<void>;
  /** After each optimizer step (and after validation when one was due). */
  onStepEnd?(ctx: TrainContext, log: StepLog): void | Promise<void>;
  onEval?(ctx: TrainContext, log: EvalLog): void | Promise<void>;
  onTrainEnd?(ctx: TrainContext, result: TrainResult): void | Promise<void>;
}

export interface TrainOptions {
  model: tf.LayersModel;
  meta: ModelMeta;
  /** Batches from DataLoader.stream(startStep): one per step. */
  batches: AsyncIterator<HostBatch>;
  lossFn: LossFn;
  optimizer: Optimizer;
  schedule: Schedule;
  /** Stop when this many images have been seen (counting from 0, not from the resume point). */
  totalImages: number;
  batchSize: number;
  /** Rows per forward/backward pass; null = the whole batch. */
  microBatch?: number | null;
  /** Global-norm clipping; null = none. */
  gradClip?: number | null;
  /** State to continue from (resume); default a fresh run. */
  startState?: TrainState;
  /** @deprecated alias of startState.step for a fresh state with images = step * batchSize. */
  startStep?: number;
  callbacks?: Callback[];
  /** Validation (mIoU on the val split), run every `evalEvery` images and at the end. */
  valFn?: (model: tf.LayersModel) => Promise<ValResult>;
  evalEvery?: number;
  /**
   * Score the model before the first step of a fresh run (a fine-tune's start): it competes for
   * best like any later validation, so best/ is never worse than the start on validation.
   */
  evalAtStart?: boolean;
  /** With weight averaging, also score the raw weights (`miouRaw`; doubles the cost). Default true. */
  scoreRaw?: boolean;
  /** Abort (Ctrl-C): the loop stops after the current step and callbacks save a checkpoint. */
  signal?: AbortSignal;
  /** Replaceable step (default makeTrainStep()). */
  step?: TrainStep;
  /** Extra variables trained with the model (e.g. distillation adapters). */
  extraVars?: tf.Variable[];
  /**
   * Weight averaging (src/train/ema.ts): updated after every optimizer step; validation scores
   * the averaged weights (`miou`, the raw ones as `miouRaw`) and checkpoints store them.
   */
  ema?: WeightEma | null;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
}

export interface TrainResult {
  state: TrainState;
  stopReason: StopReason;
  lastStep: StepLog | null;
  lastEval: EvalLog | null;
  seconds: number;
}

export class NonFiniteLossError extends Error {
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

export function freshState(): TrainState {
  return { step: 0, imagesSeen: 0, bestScore: null, bestStep: null, evalsSinceBest: 0 };
}

/** The tf.Variables behind a model's trainable weights, in model order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
}

function crossed(before: number, after: number, every: number): boolean {
  return every > 0 && Math.floor(after / every) > Math.floor(before / every);
}

/**
 * The one training loop (STYLE.md §5). Longer than our ~100-line rule on purpose: the order of
 * one step (batch, step, non-finite check, schedule, callbacks, validation, checkpoint, yield)
 * reads top to bottom in one place, as in nanoGPT's visible loop; everything that is not the
 * loop itself is a callback or a helper.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const now = opts.now ?? (() => Date.now());
  const step = opts.step ?? makeTrainStep();
  const extraVars = opts.extraVars ?? [];
  const vars = [...trainableVariables(opts.model), ...extraVars];
  const state: TrainState = opts.startState
    ? { ...opts.startState }
    : { ...freshState(), step: opts.startStep ?? 0, imagesSeen: (opts.startStep ?? 0) * opts.batchSize };
  const callbacks = opts.callbacks ?? [];
  const ctx: TrainContext = {
    model: opts.model,
    meta: opts.meta,
    optimizer: opts.optimizer,
    extraVars,
    ema: opts.ema ?? null,
    state,
    totalImages: opts.totalImages,
    batchSize: opts.batchSize,
    lastStep: null,
    lastEval: state.lastEval ? { ...state.lastEval, metrics: { miou: state.lastEval.miou }, isBest: false } : null,
    stopReason: null,
    requestStop(reason) {
      if (!this.stopReason) this.stopReason = reason;
    },
  };
  const onAbort = () => ctx.requestStop('interrupted');
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) onAbort();

  const t0 = now();
  const startImages = state.imagesSeen;
  let winT = t0;
  let winImages = state.imagesSeen;
  let lastEvalStep = -1;

  const runEval = async () => {
    if (!opts.valFn) return;
    const ema = opts.ema;
    let r: ValResult;
    if (ema && state.step > 0) {
      const avg = await ema.withAveraged(() => opts.valFn!(opts.model));
      r = opts.scoreRaw === false ? avg : { ...avg, miouRaw: (await opts.valFn(opts.model)).miou };
    } else {
      r = await opts.valFn(opts.model);
    }
    if (state.step === 0) state.startScore = r.miou;
    const isBest = state.bestScore === null || r.miou > state.bestScore;
    if (isBest) {
      state.bestScore = r.miou;
      state.bestStep = state.step;
      state.evalsSinceBest = 0;
    } else {
      state.evalsSinceBest += 1;
    }
    const log: EvalLog = { step: state.step, imagesSeen: state.imagesSeen, miou: r.miou, metrics: r, isBest };
    state.lastEval = { step: state.step, imagesSeen: state.imagesSeen, miou: r.miou };
    ctx.lastEval = log;
    lastEvalStep = state.step;
    for (const c of callbacks) await c.onEval?.(ctx, log);
  };

  try {
    for (const c of callbacks) await c.onTrainBegin?.(ctx);
    if (opts.evalAtStart && state.step === 0 && !ctx.stopReason) await runEval();
    while (state.imagesSeen < opts.totalImages && !ctx.stopReason) {
      // Let the event loop run once per step: when batches come from memory every await resolves
      // as a microtask, and signal handlers (Ctrl-C -> abort) would never get a turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ctx.stopReason) break;
      const next = await opts.batches.next();
      if (next.done) break;
      const batch = next.value;
      const lr = opts.schedule(state.imagesSeen);
      const out = await step({ model: opts.model, vars, batch, lossFn: opts.lossFn, microBatch: opts.microBatch ?? batch.size, step: state.step });
      const badPart = Object.keys(out.parts).find((k) => !Number.isFinite(out.parts[k]));
      const bad = badPart ?? (!Number.isFinite(out.loss) ? 'total' : undefined);
      if (bad) {
        tf.dispose(out.grads);
        const detail = Object.entries(out.parts)
          .map(([k, v]) => `${k} = ${v}`)
          .join(', ');
        throw new NonFiniteLossError(
          `step ${state.step + 1}: loss is ${out.loss} (non-finite part: ${bad}${detail ? `; ${detail}` : ''}); stopped, the weights of the last good checkpoint are kept (try a lower train.lr)`,
          state.step + 1,
        );
      }
      const clipped = clipByGlobalNorm(out.grads, opts.gradClip ?? null);
      if (!Number.isFinite(clipped.norm)) {
        tf.dispose(clipped.grads);
        throw new NonFiniteLossError(`step ${state.step + 1}: gradient norm is ${clipped.norm} (loss ${out.loss}); stopped, the weights of the last good checkpoint are kept`, state.step + 1);
      }
      opts.optimizer.apply(vars, clipped.grads, lr);
      tf.dispose(clipped.grads);
      const before = state.imagesSeen;
      state.step += 1;
      opts.ema?.update(state.step);
      state.imagesSeen += batch.size;

      const t = now();
      const winSec = Math.max(1e-6, (t - winT) / 1000);
      const rate = (state.imagesSeen - winImages) / winSec;
      const overall = (state.imagesSeen - startImages) / Math.max(1e-6, (t - t0) / 1000);
      winT = t;
      winImages = state.imagesSeen;
      const log: StepLog = {
        step: state.step,
        imagesSeen: state.imagesSeen,
        loss: out.loss,
        parts: out.parts,
        lr,
        gradNorm: clipped.norm,
        imagesPerSec: rate,
        etaSec: Math.max(0, opts.totalImages - state.imagesSeen) / Math.max(1e-9, overall),
        elapsedSec: (t - t0) / 1000,
      };
      ctx.lastStep = log;
      if (opts.valFn && crossed(before, state.imagesSeen, opts.evalEvery ?? 0)) await runEval();
      for (const c of callbacks) await c.onStepEnd?.(ctx, log);
    }
    const reason: StopReason = ctx.stopReason ?? 'done';
    if (reason !== 'interrupted' && opts.valFn && lastEvalStep !== state.step && state.step > 0) await runEval();
    const result: TrainResult = { state, stopReason: reason, lastStep: ctx.lastStep, lastEval: ctx.lastEval, seconds: (now() - t0) / 1000 };
    for (const c of callbacks) await c.onTrainEnd?.(ctx, result);
    return result;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
