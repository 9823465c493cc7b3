/**
 * Exponential moving average of a model's weights (Polyak averaging; timm's ModelEmaV2,
 * TF's tf.train.ExponentialMovingAverage). Every weight of the model is averaged, trainable ones
 * and batch-norm statistics alike, after each optimizer step:
 *
 *   shadow <- d * shadow + (1 - d) * weight,   d = min(decay, (1 + t) / (10 + t))
 *
 * where t is the optimizer step. The warm-up of d (TF's `num_updates`) keeps the average from
 * being dominated by the random initial weights in short runs.
 *
 * The loop validates the averaged weights (they are much less noisy than the raw ones while the
 * learning rate is high), checkpoints store them as the model (so best/, eval, export and the
 * runtime use what was validated) and keep the raw training weights beside them for --resume.
 */
import * as tf from '@tensorflow/tfjs';

function modelVariables(model: tf.LayersModel): tf.Variable[] {
  return model.weights.map((w) => (w as unknown as { read(): tf.Variable }).read());
}

export class WeightEma {
  private readonly vars: tf.Variable[];
  private readonly shadow: tf.Variable[];
  private swapped = false;

  /**
   * @param decay in [0, 1): the long-run decay per step
   * @param init  starting averages (same order as model.weights); default the model's weights
   */
  constructor(
    model: tf.LayersModel,
    readonly decay: number,
    init?: Float32Array[],
  ) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`train.ema: expected a decay in [0, 1), got ${decay}`);
    this.vars = modelVariables(model);
    if (init && init.length !== this.vars.length) throw new Error(`EMA state has ${init.length} tensors, the model has ${this.vars.length} weights`);
    this.shadow = this.vars.map((v, i) => {
      if (init && init[i].length !== v.size) throw new Error(`EMA state for ${v.name}: ${init[i].length} values, expected ${v.size}`);
      return tf.variable(init ? tf.tensor(init[i], v.shape, 'float32') : v.clone(), false);
    });
  }

  /** The decay used after optimizer step `step` (1-based). */
  decayAt(step: number): number {
    return Math.min(this.decay, (1 + step) / (10 + step));
  }

  /** Folds the model's current weights into the average (call after each optimizer step). */
  update(step: number): void {
    if (this.swapped) throw new Error('WeightEma.update: the averaged weights are swapped in');
    const d = this.decayAt(step);
    tf.tidy(() => {
      this.shadow.forEach((s, i) => s.assign(s.mul(d).add(this.vars[i].mul(1 - d))));
    });
  }

  private exchange(): void {
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const tmp = v.clone();
        v.assign(this.shadow[i]);
        this.shadow[i].assign(tmp);
      });
    });
    this.swapped = !this.swapped;
  }

  /** Runs `fn` with the averaged weights in the model, then puts the training weights back. */
  async withAveraged<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.swapped) return fn();
    this.exchange();
    try {
      return await fn();
    } finally {
      this.exchange();
    }
  }

  /** The averaged weights, model.weights order. */
  values(): Float32Array[] {
    return (this.swapped ? this.vars : this.shadow).map((s) => new Float32Array(s.dataSync() as Float32Array));
  }

  dispose(): void {
    if (this.swapped) this.exchange();
    tf.dispose(this.shadow);
  }
}

/** The model's weights as arrays (model.weights order). */
export function weightValues(model: tf.LayersModel): Float32Array[] {
  return modelVariables(model).map((v) => new Float32Array(v.dataSync() as Float32Array));
}

/** Sets every model weight from arrays in model.weights order. */
export function setWeightValues(model: tf.LayersModel, values: Float32Array[]): void {
  const vars = modelVariables(model);
  if (values.length !== vars.length) throw new Error(`expected ${vars.length} weight tensors, got ${values.length}`);
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(values[i], v.shape, 'float32'))));
}

/** The run's weight average: null when `decay` is 0; resumed from a checkpoint's averages when it has them. */
export function createEma(decay: number, model: tf.LayersModel, resumed?: { ema: { values: Float32Array[] } | null } | null): WeightEma | null {
  if (!(decay > 0)) return null;
  return new WeightEma(model, decay, resumed?.ema?.values);
}
