import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { fusedAvailable, FUSED_KERNELS } from '../../src/backend/fused';
import { simdKernels, setSimdEnabled } from '../../src/backend/simd';
import { createOptimizer } from '../../src/train/optim';
import { relErr } from '../helpers/close';

/** Deterministic host data in [-a, a). */
function host(n: number, seed: number, a = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * a;
  }
  return out;
}
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The gradients of a BN-training block (moments -> batchNorm -> relu / relu6 / none) the way
 * tfjs-layers computes it, with respect to x, gamma and beta, for a few shapes the models use.
 */
function bnBlockGrads(shape: number[], act: 'relu' | 'relu6' | 'none', seed: number): Float32Array[] {
  return tf.tidy(() => {
    const C = shape[shape.length - 1];
    const x = tf.tensor(host(size(shape), seed, 3), shape);
    const r = tf.tensor(host(size(shape), seed + 1), shape);
    const gamma = tf.tensor1d(host(C, seed + 2, 2));
    const beta = tf.tensor1d(host(C, seed + 3));
    const axes = shape.slice(0, -1).map((_, i) => i);
    const g = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      let y = tf.batchNorm(xx, mean, variance, bb, gg, 1e-3);
      if (act !== 'none') y = tf.relu(y);
      if (act === 'relu6') y = tf.clipByValue(y, 0, 6);
      return tf.sum(tf.mul(y, r));
    })([x, gamma, beta]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
}

const BN_CASES: [number[], 'relu' | 'relu6' | 'none'][] = [
  [[2, 8, 8, 16], 'relu6'],
  [[8, 16, 16, 24], 'relu'],
  [[4, 4, 4, 96], 'none'],
  [[3, 5, 7, 3], 'relu6'],
  [[6, 10], 'relu'],
];

/** A few Adam/AdamW steps through src/train/optim.ts. */
function adamSteps(name: 'adam' | 'adamw'): Float32Array[] {
  const opt = createOptimizer({ name, weightDecay: 0.05 });
  const vars = [tf.variable(tf.tensor(host(3 * 3 * 4 * 5, 21), [3, 3, 4, 5])), tf.variable(tf.tensor(host(5, 22), [5]))];
  for (let step = 0; step < 3; step++) {
    const grads = vars.map((v, i) => tf.tensor(host(v.size, 30 + 10 * step + i, 0.1 * (step + 1)), v.shape));
    opt.apply(vars, grads, 1e-2);
    tf.dispose(grads);
  }
  const out = vars.map((v) => v.dataSync() as Float32Array);
  opt.dispose();
  tf.dispose(vars);
  return out;
}

describe('backend/fused: fused training kernels match the cpu reference', function () {
  this.timeout(60000);
  const ref = new Map<string, Float32Array[]>();
  before(async () => {
    await tf.setBackend('cpu');
    for (const [s, a] of BN_CASES) ref.set(`${s}${a}`, bnBlockGrads(s, a, 5));
    ref.set('adam', adamSteps('adam'));
    ref.set('adamw', adamSteps('adamw'));
    await selectBackend('wasm');
  });

  it('the fused kernels are registered on wasm, not on cpu', async () => {
    for (const k of Object.values(FUSED_KERNELS)) assert.ok(fusedAvailable(k), k);
    await tf.setBackend('cpu');
    assert.ok(!fusedAvailable(FUSED_KERNELS.batchNormGrad));
    await selectBackend('wasm');
  });

  for (const [s, a] of BN_CASES) {
    it(`moments + batchNorm + ${a} on [${s}]: dx, dgamma, dbeta within 1e-4, no leaks`, () => {
      const before = tf.memory().numTensors;
      const ids = tf.engine().backend.numDataIds();
      const got = bnBlockGrads(s, a, 5);
      const want = ref.get(`${s}${a}`)!;
      for (let i = 0; i < 3; i++) assert.ok(relErr(got[i], want[i]) <= 1e-4, `input ${i}: ${relErr(got[i], want[i])}`);
      assert.equal(tf.memory().numTensors, before);
      assert.equal(tf.engine().backend.numDataIds(), ids);
    });
  }

  it('relu/clip gradients at the edges (0, 6, NaN) match cpu; non-leading Mean falls back', async () => {
    const run = () => tf.tidy(() => {
      // SIMD lanes take the first 8, the JS tail the last 3
      const x = tf.tensor1d([NaN, 0, 0.5, 6, 7, -1, 3, -2, NaN, 0, 6]);
      const dy = tf.tensor1d([1, 2, 3, Infinity, 5, Infinity, 7, NaN, 9, Infinity, NaN]);
      const gr = tf.grad((t: tf.Tensor) => tf.relu(t), dy)(x);
      const gc = tf.grad((t: tf.Tensor) => tf.clipByValue(t, 0, 6), dy)(x);
      const m = tf.tensor3d(host(24, 3), [2, 3, 4]);
      const gm = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [1, 2]), tf.tensor1d([1, 2]))))(m);
      const gm0 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [0, 1]), tf.tensor1d([1, 2, 3, 4]))))(m);
      const gs = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(t), m)))(m);
      return [gr, gc, gm, gm0, gs].map((t) => [t.shape, Array.from(t.dataSync())]);
    });
    const got = run();
    await tf.setBackend('cpu');
    const want = run();
    await selectBackend('wasm');
    assert.deepEqual(got.map((g) => g[0]), want.map((g) => g[0]));
    assert.deepEqual(got[0][1], want[0][1]);
    assert.deepEqual(got[1][1], want[1][1]);
    for (let i = 2; i < got.length; i++) assert.ok(relErr(got[i][1] as number[], want[i][1] as number[]) <= 1e-6, `output ${i}`);
  });

  it('the SIMD module loads on wasm; the JS loops (no SIMD) give the same gradients and updates', () => {
    assert.ok(simdKernels(tf.engine().backend), 'wasm SIMD kernels loaded');
    setSimdEnabled(false);
    try {
      assert.equal(simdKernels(tf.engine().backend), null);
      for (const [s, a] of BN_CASES.slice(0, 3)) {
        const got = bnBlockGrads(s, a, 5);
        const want = ref.get(`${s}${a}`)!;
        for (let i = 0; i < 3; i++) assert.ok(relErr(got[i], want[i]) <= 1e-4, `[${s}] input ${i}: ${relErr(got[i], want[i])}`);
      }
      const got = adamSteps('adamw');
      const want = ref.get('adamw')!;
      for (let i = 0; i < 2; i++) assert.ok(relErr(got[i], want[i]) <= 1e-5, `variable ${i}`);
    } finally {
      setSimdEnabled(true);
    }
  });

  for (const name of ['adam', 'adamw'] as const) {
    it(`${name} (fused, one pass per variable) matches the tensor-op update on cpu`, () => {
      const got = adamSteps(name);
      const want = ref.get(name)!;
      for (let i = 0; i < 2; i++) assert.ok(relErr(got[i], want[i]) <= 1e-5, `variable ${i}: ${relErr(got[i], want[i])}`);
    });
  }
});
