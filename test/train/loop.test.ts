import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { train, makeTrainStep, NonFiniteLossError, Callback, trainableVariables, TrainContext } from '../../src/train/loop';
import { createOptimizer, warmupCosine, clipByGlobalNorm } from '../../src/train/optim';
import { makeSegLossFn } from '../../src/train/losses';
import { earlyStopping, progressLogger, metricsJsonl, readMetrics, validationSummary } from '../../src/train/callbacks';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tinyModel, synthStream, synthBatch } from './helpers';

const LOSS = { bce: 1, dice: 1, lovasz: 0, boundary: 0.5, boundaryWidth: 1 };

function baseOpts(seed = 1) {
  const { model, meta } = tinyModel(seed);
  return {
    model,
    meta,
    batches: synthStream(0),
    lossFn: makeSegLossFn(LOSS),
    optimizer: createOptimizer({ name: 'adamw', weightDecay: 1e-4 }),
    schedule: warmupCosine({ lr: 0.02, minLr: 1e-4, warmupImages: 8, totalImages: 160 }),
    totalImages: 160,
    batchSize: 4,
    gradClip: 5,
  };
}

describe('train/loop', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('decreases the loss of a tiny conv net on tiny synthetic data', async () => {
    const o = baseOpts();
    const losses: number[] = [];
    const r = await train({ ...o, callbacks: [{ onStepEnd: (_c, l) => void losses.push(l.loss) }] });
    assert.equal(r.stopReason, 'done');
    assert.equal(r.state.step, 40);
    assert.equal(r.state.imagesSeen, 160);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < first * 0.7, `loss ${first} -> ${last}`);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('fires callbacks in order and validates every evalEvery images and at the end', async () => {
    const o = baseOpts();
    const events: string[] = [];
    const cb: Callback = {
      onTrainBegin: () => void events.push('begin'),
      onStepEnd: (_c, l) => void events.push(`step${l.step}`),
      onEval: (_c, l) => void events.push(`eval${l.step}${l.isBest ? '*' : ''}`),
      onTrainEnd: (_c, r) => void events.push(`end:${r.stopReason}`),
    };
    let calls = 0;
    const scores = [0.5, 0.7, 0.6];
    await train({ ...o, totalImages: 20, evalEvery: 8, valFn: async () => ({ miou: scores[calls++] }), callbacks: [cb] });
    assert.deepEqual(events, ['begin', 'step1', 'eval2*', 'step2', 'step3', 'eval4*', 'step4', 'step5', 'eval5', 'end:done']);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('evalAtStart scores the start before step 1: it competes for best and is kept as startScore', async () => {
    const o = baseOpts();
    const events: string[] = [];
    const cb: Callback = {
      onStepEnd: (_c, l) => void events.push(`step${l.step}`),
      onEval: (_c, l) => void events.push(`eval${l.step}${l.isBest ? '*' : ''}`),
    };
    let calls = 0;
    const scores = [0.9, 0.5, 0.4];
    const r = await train({ ...o, totalImages: 16, evalEvery: 8, evalAtStart: true, valFn: async () => ({ miou: scores[calls++] }), callbacks: [cb] });
    assert.deepEqual(events, ['eval0*', 'step1', 'eval2', 'step2', 'step3', 'eval4', 'step4']);
    assert.equal(r.state.startScore, 0.9);
    assert.equal(r.state.bestScore, 0.9);
    assert.equal(r.state.bestStep, 0);
    assert.match(validationSummary(r.state, r.lastEval!.miou)!, /^validation mIoU: start 0\.9000, best 0\.9000 at step 0 \(\+0\.00 points\), last 0\.4000; no validation beat the start: best\/ holds the start model$/);
    // without evalAtStart the first validation is after training began and there is no start score
    calls = 0;
    const r2 = await train({ ...baseOpts(), totalImages: 8, evalEvery: 8, valFn: async () => ({ miou: scores[calls++] }) });
    assert.equal(r2.state.startScore, undefined);
    assert.equal(validationSummary(r2.state, 0.9), null);
    assert.match(validationSummary({ startScore: 0.947, bestScore: 0.9512, bestStep: 250 }, 0.95)!, /start 0\.9470, best 0\.9512 at step 250 \(\+0\.42 points\), last 0\.9500$/);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('stops on a NaN loss with an error naming the step and the part, before touching the trainable weights', async () => {
    const o = baseOpts();
    const inner = makeSegLossFn(LOSS);
    const lossFn: typeof inner = (ctx) => {
      const out = inner(ctx);
      if ((ctx as unknown as { step: number }).step === 2) {
        const nan = out.parts.dice.mul(NaN) as tf.Scalar;
        return { total: out.total.add(nan) as tf.Scalar, parts: { ...out.parts, dice: nan } };
      }
      return out;
    };
    let before: Float32Array[] = [];
    const snap: Callback = { onStepEnd: (c, l) => void (l.step === 2 && (before = c.model.trainableWeights.map((w) => w.read().dataSync() as Float32Array))) };
    await assert.rejects(
      () => train({ ...o, lossFn, callbacks: [snap] }),
      (e: Error) => e instanceof NonFiniteLossError && /step 3: loss is NaN/.test(e.message) && /non-finite part: dice/.test(e.message),
    );
    const after = o.model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
    assert.deepEqual(after, before);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('early-stops after `patience` evaluations without improvement', async () => {
    const o = baseOpts();
    const r = await train({ ...o, evalEvery: 4, valFn: async () => ({ miou: 0.5 }), callbacks: [earlyStopping(2)] });
    assert.equal(r.stopReason, 'early-stop');
    assert.equal(r.state.step, 3);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('stops when the abort signal fires (Ctrl-C)', async () => {
    const o = baseOpts();
    const ac = new AbortController();
    const r = await train({ ...o, signal: ac.signal, callbacks: [{ onStepEnd: (_c, l) => void (l.step === 2 && ac.abort()) }] });
    assert.equal(r.stopReason, 'interrupted');
    assert.equal(r.state.step, 2);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('leaks no tensors per step', async () => {
    const o = baseOpts();
    const counts: number[] = [];
    await train({ ...o, totalImages: 40, microBatch: 3, callbacks: [{ onStepEnd: () => void counts.push(tf.memory().numTensors) }] });
    assert.equal(counts.length, 10);
    assert.equal(counts[9], counts[1], `tensors per step: ${counts.join(',')}`);
    o.optimizer.dispose();
    o.model.dispose();
  });

  it('micro-batch gradient accumulation equals the whole-batch gradient (no BN)', async () => {
    const { model } = tinyModel(3, { bn: false });
    const vars = trainableVariables(model);
    const step = makeTrainStep();
    const batch = synthBatch(0, 4);
    const lossFn = makeSegLossFn({ bce: 1, dice: 0, lovasz: 0, boundary: 0, boundaryWidth: 1 });
    const whole = await step({ model, vars, batch, lossFn, microBatch: 4, step: 0 });
    const split = await step({ model, vars, batch, lossFn, microBatch: 1, step: 0 });
    assert.ok(Math.abs(whole.loss - split.loss) < 1e-5);
    for (let i = 0; i < vars.length; i++) {
      const a = whole.grads[i].dataSync();
      const b = split.grads[i].dataSync();
      for (let j = 0; j < a.length; j++) assert.ok(Math.abs(a[j] - b[j]) < 1e-5, `grad ${i}[${j}] ${a[j]} vs ${b[j]}`);
    }
    tf.dispose([...whole.grads, ...split.grads]);
    model.dispose();
  });

  it('schedule warms up linearly and decays by cosine to minLr; clipping caps the global norm', () => {
    const s = warmupCosine({ lr: 1, minLr: 0.1, warmupImages: 10, totalImages: 110 });
    assert.ok(Math.abs(s(0) - 0.1) < 1e-9);
    assert.ok(Math.abs(s(9) - 1) < 1e-9);
    assert.ok(Math.abs(s(10) - 1) < 1e-9);
    assert.ok(Math.abs(s(60) - 0.55) < 1e-9);
    assert.ok(Math.abs(s(110) - 0.1) < 1e-9);
    const g = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])];
    const { grads, norm } = clipByGlobalNorm(g, 1);
    assert.ok(Math.abs(norm - 5) < 1e-5);
    assert.deepEqual(Array.from(grads[0].dataSync()).map((v) => +v.toFixed(5)), [0.6, 0]);
    assert.deepEqual(Array.from(grads[1].dataSync()).map((v) => +v.toFixed(5)), [0, 0.8]);
    tf.dispose(grads);
  });

  it('adamw decays kernels but not biases / BN parameters', () => {
    const k = tf.variable(tf.ones([2, 2]));
    const b = tf.variable(tf.ones([2]));
    const opt = createOptimizer({ name: 'adamw', weightDecay: 0.5 });
    opt.apply([k, b], [tf.zeros([2, 2]), tf.zeros([2])], 0.1);
    assert.ok(Math.abs(k.dataSync()[0] - 0.95) < 1e-6);
    assert.ok(Math.abs(b.dataSync()[0] - 1) < 1e-6);
    opt.dispose();
    tf.dispose([k, b]);
  });
});

describe('train/callbacks', function () {
  it('progress lines and metrics.jsonl average loss and parts over the logging window', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'psg-cb-')), 'metrics.jsonl');
    const lines: string[] = [];
    const cbs = [progressLogger(2, (l) => void lines.push(l)), metricsJsonl(file, 2)];
    const ctx = { totalImages: 100, lastEval: null } as unknown as TrainContext;
    for (const cb of cbs) await cb.onTrainBegin?.(ctx);
    const step = (i: number, loss: number) => ({ step: i, imagesSeen: 4 * i, loss, parts: { bce: loss / 2 }, lr: 0.1, gradNorm: 1, imagesPerSec: 1, etaSec: 10, elapsedSec: i });
    for (const [i, l] of [[1, 1], [2, 3], [3, 10], [4, 20]] as const) for (const cb of cbs) await cb.onStepEnd?.(ctx, step(i, l));
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^step 2 \| 8\/100 img \| [\d.]+ img\/s \| ETA 10s \| loss 2\.0000 \(bce 1\.000\) \| lr 1\.00e-1$/);
    assert.match(lines[1], /^step 4 \| 16\/100 img \| 4\.00 img\/s .*loss 15\.0000 \(bce 7\.500\)/);
    const recs = readMetrics(file);
    assert.deepEqual(recs.map((r) => r.loss), [2, 15]);
  });
});
