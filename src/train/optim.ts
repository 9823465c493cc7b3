/**
 * Optimizers with explicit, serialisable state (for bit-for-bit --resume), the LR schedule and
 * global-norm gradient clipping. Our own small implementations rather than tf.train.* so that
 * AdamW's decoupled weight decay (Loshchilov & Hutter, ICLR 2019) and the state layout are ours.
 *
 * Variables are identified by their position in the list given to `apply` (model.trainableWeights
 * order), not by name: tfjs variable names depend on how many layers a process created before.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate } from '../backend/fused';

export type OptimizerName = 'adam' | 'adamw' | 'sgd';

export interface OptimizerState {
  name: OptimizerName;
  /** Number of updates applied so far (Adam's bias-correction counter). */
  t: number;
  /** Slot tensors, `slot/index` -> values, e.g. 'm/3'. */
  slots: Record<string, { shape: number[]; values: Float32Array }>;
}

export interface Optimizer {
  readonly name: OptimizerName;
  /** Applies one update with learning rate `lr`. grads[i] belongs to vars[i]. Does not dispose grads. */
  apply(vars: tf.Variable[], grads: tf.Tensor[], lr: number): void;
  getState(): OptimizerState;
  setState(state: OptimizerState, vars: tf.Variable[]): void;
  dispose(): void;
}

export interface OptimizerOptions {
  name: OptimizerName;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  momentum?: number;
}

/** Weight decay applies to kernels only (rank >= 2): never to biases, BN scales/offsets or scalars. */
export function decays(v: tf.Variable): boolean {
  return v.rank >= 2;
}

class SlotOptimizer implements Optimizer {
  readonly name: OptimizerName;
  private t = 0;
  private slots = new Map<string, tf.Variable>();
  constructor(private readonly o: Required<OptimizerOptions>) {
    this.name = o.name;
  }

  private slot(kind: string, i: number, v: tf.Variable): tf.Variable {
    const key = `${kind}/${i}`;
    let s = this.slots.get(key);
    if (!s) {
      const zeros = tf.zerosLike(v);
      s = tf.variable(zeros, false); // shares the buffer; the initial tensor itself must go
      zeros.dispose();
      this.slots.set(key, s);
    } else if (s.size !== v.size) {
      throw new Error(`optimizer slot ${key} has shape [${s.shape}], variable ${v.name} has [${v.shape}]: the optimizer state belongs to another model`);
    }
    return s;
  }

  apply(vars: tf.Variable[], grads: tf.Tensor[], lr: number): void {
    if (vars.length !== grads.length) throw new Error(`optimizer: ${vars.length} variables but ${grads.length} gradients`);
    this.t += 1;
    const { beta1, beta2, epsilon, momentum, weightDecay } = this.o;
    const t = this.t;
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i];
      const g = grads[i];
      if (!g) continue;
      if (this.name === 'sgd') {
        const buf = this.slot('m', i, v);
        tf.tidy(() => {
          const m = buf.mul(momentum).add(g);
          buf.assign(m);
          let upd = m.mul(lr);
          if (weightDecay > 0 && decays(v)) upd = upd.add(v.mul(lr * weightDecay));
          v.assign(v.sub(upd));
        });
      } else {
        const m = this.slot('m', i, v);
        const s = this.slot('v', i, v);
        const c1 = 1 - Math.pow(beta1, t);
        const c2 = 1 - Math.pow(beta2, t);
        // One pass per variable on wasm (src/backend/fused.ts); the tensor ops below elsewhere.
        const fused = fusedAdamUpdate(v, m, s, g, { lr, beta1, beta2, epsilon, c1, c2, decay: weightDecay > 0 && decays(v) ? lr * weightDecay : 0 });
        if (fused) {
          m.assign(fused[1]);
          s.assign(fused[2]);
          v.assign(fused[0]);
          tf.dispose(fused);
          continue;
        }
        tf.tidy(() => {
          const m1 = m.mul(beta1).add(g.mul(1 - beta1));
          const v1 = s.mul(beta2).add(g.square().mul(1 - beta2));
          m.assign(m1);
          s.assign(v1);
          let next = v.sub(m1.div(c1).div(v1.div(c2).sqrt().add(epsilon)).mul(lr));
          // AdamW: decay decoupled from the adaptive step (createOptimizer gives plain adam weightDecay 0).
          if (weightDecay > 0 && decays(v)) next = next.sub(v.mul(lr * weightDecay));
          v.assign(next);
        });
      }
    }
  }

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [k, s] of this.slots) slots[k] = { shape: s.shape.slice(), values: s.dataSync() as Float32Array };
    return { name: this.name, t: this.t, slots };
  }

  setState(state: OptimizerState, vars: tf.Variable[]): void {
    if (state.name !== this.name) throw new Error(`optimizer state is for "${state.name}", this run uses "${this.name}"`);
    this.dispose();
    this.t = state.t;
    for (const [k, s] of Object.entries(state.slots)) {
      const i = Number(k.split('/')[1]);
      const v = vars[i];
      if (!v || v.size !== s.values.length) throw new Error(`optimizer state slot ${k} does not match the model's variable ${i}`);
      const init = tf.tensor(s.values, v.shape, 'float32');
      this.slots.set(k, tf.variable(init, false));
      init.dispose();
    }
  }

  dispose(): void {
    for (const s of this.slots.values()) s.dispose();
    this.slots.clear();
  }
}

export function createOptimizer(o: OptimizerOptions): Optimizer {
  if (!['adam', 'adamw', 'sgd'].includes(o.name)) throw new Error(`unknown optimizer "${o.name}" (known: adam, adamw, sgd)`);
  return new SlotOptimizer({
    name: o.name,
    // Plain adam gets no weight decay; adamw's is decoupled; sgd's is added to the update.
    weightDecay: o.name === 'adam' ? 0 : (o.weightDecay ?? 0),
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    epsilon: o.epsilon ?? 1e-8,
    momentum: o.momentum ?? 0.9,
  });
}

/** LR as a function of images seen: linear warm-up from 0 to `lr`, then cosine decay to `minLr` at `total`. */
export type Schedule = (imagesSeen: number) => number;

export function warmupCosine(o: { lr: number; minLr: number; warmupImages: number; totalImages: number }): Schedule {
  return (seen: number) => {
    if (o.warmupImages > 0 && seen < o.warmupImages) return o.lr * ((seen + 1) / o.warmupImages);
    const span = Math.max(1, o.totalImages - o.warmupImages);
    const p = Math.min(1, Math.max(0, (seen - o.warmupImages) / span));
    return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * p));
  };
}

/**
 * Global-norm clipping (Pascanu et al. 2013): scales all gradients by min(1, maxNorm / ||g||).
 * Returns the new gradient list (the inputs are disposed when replaced) and the norm before clipping.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number | null): { grads: tf.Tensor[]; norm: number } {
  const normT = tf.tidy(() => tf.addN(grads.map((g) => g.square().sum())).sqrt());
  const norm = normT.dataSync()[0];
  normT.dispose();
  if (maxNorm === null || !(norm > maxNorm) || !Number.isFinite(norm)) return { grads, norm };
  const scale = maxNorm / norm;
  const out = grads.map((g) => {
    const c = g.mul(scale);
    g.dispose();
    return c;
  });
  return { grads: out, norm };
}
