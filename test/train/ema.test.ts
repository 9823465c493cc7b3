import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { train, ValResult } from '../../src/train/loop';
import { createOptimizer, warmupCosine } from '../../src/train/optim';
import { makeSegLossFn } from '../../src/train/losses';
import { checkpointer } from '../../src/train/callbacks';
import { loadCheckpoint } from '../../src/train/checkpoint';
import { loadModel } from '../../src/models/io';
import { createEma, WeightEma } from '../../src/train/ema';
import { tinyModel, synthStream, weightsOf } from './helpers';

const LOSS = { bce: 1, dice: 1, lovasz: 0, boundary: 0, boundaryWidth: 1 };
const BS = 4;

function same(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.deepEqual(Buffer.from(a[i].buffer, a[i].byteOffset, a[i].byteLength), Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength), `${what}: weight ${i} differs`);
}

describe('train/ema (weight averaging)', function () {
  this.timeout(60000);
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('golden values: d = min(decay, (1+t)/(10+t)), shadow = d*shadow + (1-d)*w, over every weight (BN statistics too)', () => {
    const { model } = tinyModel(3);
    const ema = new WeightEma(model, 0.9);
    assert.equal(ema.decayAt(1), 2 / 11);
    assert.equal(ema.decayAt(1000), 0.9);
    const w0 = weightsOf(model).map((a) => a.slice());
    // Move every weight (trainable and moving statistics) to w0 + 1, then fold in at step 1.
    model.setWeights(w0.map((a, i) => tf.tensor(a.map((v) => v + 1), model.weights[i].shape)));
    ema.update(1);
    const d = 2 / 11;
    const got = ema.values();
    assert.equal(got.length, model.weights.length);
    assert.ok(model.weights.some((w) => /moving_mean/.test(w.name)), 'the tiny model has BN statistics');
    got.forEach((g, i) => g.forEach((v, j) => assert.ok(Math.abs(v - (d * w0[i][j] + (1 - d) * (w0[i][j] + 1))) < 1e-6, `weight ${i}[${j}]`)));
    ema.dispose();
    model.dispose();
  });

  it('withAveraged swaps the averages in and always puts the training weights back', async () => {
    const { model } = tinyModel(4);
    const ema = new WeightEma(model, 0.5, weightsOf(model).map((a) => a.map(() => 0.25)));
    const raw = weightsOf(model).map((a) => a.slice());
    const seen = await ema.withAveraged(() => weightsOf(model).map((a) => a.slice()));
    seen.forEach((a) => a.forEach((v) => assert.equal(v, 0.25)));
    same(weightsOf(model), raw, 'after withAveraged');
    await assert.rejects(ema.withAveraged(() => Promise.reject(new Error('boom'))), /boom/);
    same(weightsOf(model), raw, 'after a failing withAveraged');
    assert.equal(createEma(0, model), null);
    assert.throws(() => new WeightEma(model, 1), /train\.ema: expected a decay in \[0, 1\)/);
    ema.dispose();
    model.dispose();
  });

  it('validation scores the averaged weights (miou) and reports the raw ones (miouRaw)', async () => {
    const m = tinyModel(5);
    const ema = new WeightEma(m.model, 0.9);
    const opt = createOptimizer({ name: 'adam' });
    const evals: ValResult[] = [];
    // valFn "score" = first kernel value: tells which weights were in the model when it ran.
    const valFn = async (model: tf.LayersModel) => ({ miou: (model.weights[0].read().dataSync() as Float32Array)[0] });
    await train({
      ...m,
      ema,
      optimizer: opt,
      lossFn: makeSegLossFn(LOSS),
      schedule: () => 0.05,
      batchSize: BS,
      batches: synthStream(0, BS),
      totalImages: 3 * BS,
      evalEvery: 3 * BS,
      valFn,
      callbacks: [{ onEval: (_c, l) => void evals.push(l.metrics) }],
    });
    assert.equal(evals.length, 1);
    assert.equal(evals[0].miou, ema.values()[0][0]);
    assert.equal(evals[0].miouRaw, weightsOf(m.model)[0][0]);
    assert.notEqual(evals[0].miou, evals[0].miouRaw);
    ema.dispose();
    opt.dispose();
    m.model.dispose();
  });

  it('checkpoints hold the averages as the model and the raw weights for resume; resume is bit-for-bit (raw and averaged)', async () => {
    const N = 3;
    const M = 3;
    const total = (N + M) * BS;
    const schedule = warmupCosine({ lr: 0.01, minLr: 1e-4, warmupImages: 8, totalImages: total });
    const common = { lossFn: makeSegLossFn(LOSS), schedule, batchSize: BS, gradClip: 1 };

    const a = tinyModel(6);
    const emaA = new WeightEma(a.model, 0.8);
    const optA = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    await train({ ...common, ...a, ema: emaA, optimizer: optA, batches: synthStream(0, BS), totalImages: total });

    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-ema-'));
    const b = tinyModel(6);
    const emaB = new WeightEma(b.model, 0.8);
    const optB = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    await train({ ...common, ...b, ema: emaB, optimizer: optB, batches: synthStream(0, BS), totalImages: N * BS, callbacks: [checkpointer({ runDir: run, every: 1000, keep: 0 })] });
    assert.ok(fs.existsSync(path.join(run, 'last', 'train-weights.bin')));
    // What eval/export load (model.json) is the average; resume gets the raw weights back.
    const used = await loadModel(path.join(run, 'last'));
    same(weightsOf(used.model), emaB.values(), 'model.json = averaged weights');
    const ck = await loadCheckpoint(run);
    same(weightsOf(ck.model), weightsOf(b.model), 'resumed model = raw training weights');
    assert.ok(ck.ema);
    assert.equal(ck.ema!.decay, 0.8);

    const emaC = createEma(0.8, ck.model, ck)!;
    const optC = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    optC.setState(ck.optimizerState!, ck.model.trainableWeights.map((w) => w.read() as tf.Variable));
    await train({ ...common, model: ck.model, meta: ck.meta, ema: emaC, optimizer: optC, batches: synthStream(ck.state.step, BS), totalImages: total, startState: ck.state });
    same(weightsOf(ck.model), weightsOf(a.model), 'raw weights after resume');
    same(emaC.values(), emaA.values(), 'averaged weights after resume');
    [emaA, emaB, emaC].forEach((e) => e.dispose());
    [optA, optB, optC].forEach((o) => o.dispose());
    [a.model, b.model, ck.model, used.model].forEach((m) => m.dispose());
  });
});
