/**
 * The native TensorFlow backend (tfjs-node-gpu, else tfjs-node), when one loads here: convolution
 * gradients, two training steps of both model families and two of an imported model equal the
 * cpu backend's. Without a native backend these tests skip, unless PORTRAITSEG_EXPECT_NATIVE=1
 * (set by .ci/run after scripts/build-tfjs-node.sh): then its absence is a failure.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { benchLoss } from '../../src/bench/train';
import { makeTrainStep } from '../../src/backend/step';
import type { HostBatch } from '../../src/data/types';
import { createModel } from '../../src/models/registry';
import { importedLayersModel } from '../helpers/imported-model';
import { pseudoRandom } from '../helpers/pseudo';


function batchOf(size: number, px: number): HostBatch {
  const masks = pseudoRandom(size * px * px, 7).map((v) => (v > 0.5 ? 1 : 0));
  return { size, height: px, width: px, images: pseudoRandom(size * px * px * 3, 3), masks, hasMask: new Uint8Array(size).fill(1), ids: Array.from({ length: size }, (_, i) => `s${i}`) };
}

/** max |a - b| / max |a| over all values. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 1e-12;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}

interface Trained {
  losses: number[];
  /** The weights before the first step and after the second, as host arrays. */
  init: { values: Float32Array; shape: number[] }[];
  weights: Float32Array[];
}

/**
 * Builds the model on the active backend, loads `init` weights when given (so both backends
 * start equal), then trains two SGD steps of the project's default step on a fixed batch.
 */
async function trainTwo(build: () => tf.LayersModel, init: Trained['init'] | null, batch: HostBatch): Promise<Trained> {
  const model = build();
  if (init) {
    const ts = init.map((w) => tf.tensor(w.values, w.shape));
    model.setWeights(ts);
    tf.dispose(ts);
  }
  const start = model.getWeights().map((w) => ({ values: w.dataSync() as Float32Array, shape: w.shape }));
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const opt = tf.train.sgd(0.05);
  const step = makeTrainStep();
  const lossFn = benchLoss();
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = await step({ model, vars, batch, lossFn, microBatch: batch.size, step: i });
    losses.push(out.loss);
    opt.applyGradients(Object.fromEntries(vars.map((v, k) => [v.name, out.grads[k]])));
    tf.dispose(out.grads);
  }
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  opt.dispose();
  model.dispose();
  return { losses, init: start, weights };
}

describe('backend/native: tfjs-node(-gpu) trains like the cpu backend', function () {
  this.timeout(300000);
  let native: 'tensorflow-gpu' | 'tensorflow' | null = null;

  before(async function () {
    const why: string[] = [];
    for (const which of ['tensorflow-gpu', 'tensorflow'] as const) {
      try {
        await selectBackend(which);
        native = which;
        break;
      } catch (e) {
        why.push((e as Error).message);
      }
    }
    if (!native) {
      if (process.env.PORTRAITSEG_EXPECT_NATIVE === '1') throw new Error(`PORTRAITSEG_EXPECT_NATIVE=1 but no native backend loads: ${why.join('; ')}`);
      this.skip();
    }
    process.stderr.write(`      (native backend: ${native})\n`);
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  it('conv2d, depthwise and transposed-conv gradients equal the cpu backend\'s', async () => {
    const run = async (backend: 'cpu' | 'native') => {
      await selectBackend(backend === 'cpu' ? 'cpu' : native!);
      return tf.tidy(() => {
        const x = tf.tensor4d(pseudoRandom(2 * 9 * 9 * 3, 1), [2, 9, 9, 3]);
        const w = tf.tensor4d(pseudoRandom(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
        const dw = tf.tensor4d(pseudoRandom(3 * 3 * 3 * 2, 4), [3, 3, 3, 2]);
        const tw = tf.tensor4d(pseudoRandom(2 * 2 * 5 * 3, 5), [2, 2, 5, 3]);
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
          const conv = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
          const dep = tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, 'valid');
          const up = tf.conv2dTranspose(a as tf.Tensor4D, d as tf.Tensor4D, [2, 18, 18, 5], 2, 'same');
          return tf.addN([conv.square().sum(), dep.square().sum(), up.square().sum()]) as tf.Scalar;
        };
        return tf.grads(f)([x, w, dw, tw]).map((g) => g.dataSync() as Float32Array);
      });
    };
    const cpu = await run('cpu');
    const nat = await run('native');
    assert.equal(tf.getBackend(), 'tensorflow');
    for (let i = 0; i < cpu.length; i++) assert.ok(relDiff(cpu[i], nat[i]) < 1e-5, `gradient ${i}: relative difference ${relDiff(cpu[i], nat[i])}`);
  });

  it('1x1 convolutions with many channels: the input gradient is dy . W^T (oneDNN got it 56% wrong)', async () => {
    await selectBackend(native!);
    const errs: string[] = [];
    for (const [b, hw, cin, cout] of [[2, 2, 72, 24], [1, 2, 72, 24], [2, 4, 72, 24], [2, 4, 144, 24], [2, 3, 16, 24]]) {
      const err = tf.tidy(() => {
        const x = tf.randomUniform([b, hw, hw, cin], 0, 6, 'float32', 1) as tf.Tensor4D;
        const k = tf.randomUniform([1, 1, cin, cout], -1, 1, 'float32', 2) as tf.Tensor4D;
        const r = tf.randomUniform([b, hw, hw, cout], -1, 1, 'float32', 3);
        const dx = tf.grad((a: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, k, 1, 'same').mul(r).sum())(x).dataSync();
        const truth = tf.matMul(r.reshape([-1, cout]), k.reshape([cin, cout]), false, true).dataSync();
        return relDiff(truth, dx);
      });
      if (!(err < 1e-5)) errs.push(`[${b},${hw},${hw},${cin}] -> ${cout}: ${err}`);
    }
    assert.deepEqual(errs, []);
  });

  const cases: { label: string; build: () => tf.LayersModel; px: number }[] = [
    { label: 'the teacher (unet_teacher_s, small widths)', build: () => createModel('unet_teacher_s', { inputSize: [32, 32], widths: [4, 4, 8, 8, 8], contextChannels: 4 }, { seed: 3 }).model, px: 32 },
    { label: 'the student (mnv2_student_xs)', build: () => createModel('mnv2_student_xs', { inputSize: [32, 32] }, { seed: 4 }).model, px: 32 },
    { label: 'an imported model (every imported layer class)', build: () => importedLayersModel(2, 32), px: 32 },
  ];
  assert.equal(cases.length, 3);
  for (const c of cases) {
    it(`${c.label}: two training steps give the cpu backend's losses and weights`, async () => {
      const batch = batchOf(2, c.px);
      await selectBackend('cpu');
      const cpu = await trainTwo(c.build, null, batch);
      await selectBackend(native!);
      const before = tf.memory().numTensors;
      const nat = await trainTwo(c.build, cpu.init, batch);
      assert.equal(tf.getBackend(), 'tensorflow');
      assert.equal(tf.memory().numTensors, before, `no tensors leak on ${native}`);
      for (let i = 0; i < 2; i++) assert.ok(Math.abs(cpu.losses[i] - nat.losses[i]) < 1e-4 * Math.max(1, Math.abs(cpu.losses[i])), `step ${i} loss: cpu ${cpu.losses[i]}, ${native} ${nat.losses[i]}`);
      assert.equal(nat.weights.length, cpu.weights.length);
      // Each weight tensor's update (after - before) on both backends, compared at the scale of the
      // largest update: batch norm amplifies rounding on tiny batches, so a tensor whose own
      // gradient is ~0 (a beta followed by another batch norm) differs by noise relative to itself.
      const upd = (w: Float32Array[]) => w.map((t, i) => t.map((v, j) => v - cpu.init[i].values[j]));
      const du = upd(cpu.weights);
      const dn = upd(nat.weights);
      const scale = Math.max(...du.map((t) => Math.max(...Array.from(t, Math.abs))));
      let moved = 0;
      let worst = 0;
      for (let i = 0; i < du.length; i++) {
        for (let j = 0; j < du[i].length; j++) worst = Math.max(worst, Math.abs(du[i][j] - dn[i][j]) / scale);
        if (Math.max(...Array.from(du[i], Math.abs)) > 1e-6 * scale) moved++;
      }
      process.stderr.write(`      (largest update ${scale.toExponential(2)}; largest difference between backends ${worst.toExponential(1)} of it)\n`);
      assert.ok(worst < 1e-3, `updates differ by ${worst} of the largest update`);
      // a backend that trained nothing would also "agree": most weight tensors moved
      assert.ok(moved > cpu.weights.length / 2, `${moved} of ${cpu.weights.length} weight tensors changed`);
    });
  }
});
