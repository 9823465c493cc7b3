import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../src/train/loop';
import { createOptimizer, warmupCosine } from '../../src/train/optim';
import { makeSegLossFn } from '../../src/train/losses';
import { checkpointer } from '../../src/train/callbacks';
import { CheckpointManager, loadCheckpoint } from '../../src/train/checkpoint';
import { loadModel, saveModel, writeDirAtomic } from '../../src/models/io';
import { tinyModel, synthStream, weightsOf } from './helpers';

const LOSS = { bce: 1, dice: 1, lovasz: 0, boundary: 0, boundaryWidth: 1 };
const BS = 4;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'psg-ckpt-'));
}

describe('train/checkpoint', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('resume is bit-for-bit: N steps + resume + M steps == N+M steps straight', async () => {
    const N = 3;
    const M = 3;
    const total = (N + M) * BS;
    const schedule = warmupCosine({ lr: 0.01, minLr: 1e-4, warmupImages: 8, totalImages: total });
    const common = { lossFn: makeSegLossFn(LOSS), schedule, batchSize: BS, gradClip: 1 };

    const a = tinyModel(5);
    const optA = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    await train({ ...common, ...a, optimizer: optA, batches: synthStream(0, BS), totalImages: total });
    const straight = weightsOf(a.model);

    const run = tmpDir();
    const b = tinyModel(5);
    const optB = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    await train({ ...common, ...b, optimizer: optB, batches: synthStream(0, BS), totalImages: N * BS, callbacks: [checkpointer({ runDir: run, every: 1000, keep: 1, config: { hello: 1 } })] });
    const ck = await loadCheckpoint(run);
    assert.equal(ck.state.step, N);
    assert.equal(ck.state.imagesSeen, N * BS);
    assert.deepEqual(ck.config, { hello: 1 });
    const optC = createOptimizer({ name: 'adamw', weightDecay: 1e-3 });
    optC.setState(ck.optimizerState!, ck.model.trainableWeights.map((w) => w.read() as tf.Variable));
    await train({ ...common, model: ck.model, meta: ck.meta, optimizer: optC, batches: synthStream(ck.state.step, BS), totalImages: total, startState: ck.state });
    const resumed = weightsOf(ck.model);
    assert.equal(resumed.length, straight.length);
    for (let i = 0; i < straight.length; i++) assert.deepEqual(Buffer.from(resumed[i].buffer), Buffer.from(straight[i].buffer), `weight ${i} differs`);
    [optA, optB, optC].forEach((o) => o.dispose());
    [a.model, b.model, ck.model].forEach((m) => m.dispose());
  });

  it('keeps last, best and `keep` numbered checkpoints; leaves no temp folders', async () => {
    const run = tmpDir();
    const m = tinyModel(2);
    const opt = createOptimizer({ name: 'sgd' });
    let i = 0;
    const scores = [0.3, 0.6, 0.5, 0.4];
    await train({
      ...m,
      optimizer: opt,
      lossFn: makeSegLossFn(LOSS),
      schedule: () => 0.01,
      batchSize: BS,
      batches: synthStream(0, BS),
      totalImages: 6 * BS,
      evalEvery: BS,
      valFn: async () => ({ miou: scores[Math.min(i++, scores.length - 1)] }),
      callbacks: [checkpointer({ runDir: run, every: BS, keep: 2 })],
    });
    const mgr = new CheckpointManager(run, 2);
    assert.deepEqual(mgr.list().map((d) => path.basename(d)), ['step-00000005', 'step-00000006']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'last', 'state.json'), 'utf8')).state.step, 6);
    const best = JSON.parse(fs.readFileSync(path.join(run, 'best', 'state.json'), 'utf8')).state;
    assert.equal(best.step, 2);
    assert.equal(best.bestScore, 0.6);
    const leftovers = fs.readdirSync(run).filter((n) => n.includes('.tmp-') || n.includes('.old-'));
    assert.deepEqual(leftovers, []);
    opt.dispose();
    m.model.dispose();
  });

  it('an interrupt (Ctrl-C -> abort signal) saves a resumable checkpoint of the last finished step', async () => {
    const run = tmpDir();
    const m = tinyModel(4);
    const opt = createOptimizer({ name: 'adam' });
    const ac = new AbortController();
    const r = await train({
      ...m,
      optimizer: opt,
      lossFn: makeSegLossFn(LOSS),
      schedule: () => 0.01,
      batchSize: BS,
      batches: synthStream(0, BS),
      totalImages: 100 * BS,
      signal: ac.signal,
      callbacks: [checkpointer({ runDir: run, every: 1000 * BS, keep: 0 }), { onStepEnd: (_c, l) => void (l.step === 2 && ac.abort()) }],
    });
    assert.equal(r.stopReason, 'interrupted');
    const ck = await loadCheckpoint(run);
    assert.equal(ck.state.step, 2);
    assert.equal(ck.optimizerState!.t, 2);
    assert.deepEqual(weightsOf(ck.model), weightsOf(m.model));
    opt.dispose();
    m.model.dispose();
    ck.model.dispose();
  });

  it('writes folders atomically: a failure while writing leaves the previous folder intact', async () => {
    const dir = path.join(tmpDir(), 'ck');
    await writeDirAtomic(dir, (t) => fs.writeFileSync(path.join(t, 'a.txt'), 'one'));
    await assert.rejects(
      writeDirAtomic(dir, (t) => {
        fs.writeFileSync(path.join(t, 'a.txt'), 'two');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'one');
    assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['ck']);
  });

  it('loadModel accepts a run folder (best, else last), a checkpoint folder and a model.json', async () => {
    const root = tmpDir();
    const { model, meta } = tinyModel(9);
    const x = tf.randomUniform([1, 12, 20, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ref = (model.predict(x) as tf.Tensor).dataSync();
    await saveModel(path.join(root, 'run', 'last'), model, meta);
    const check = async (spec: string, expectDir: string) => {
      const l = await loadModel(spec);
      assert.equal(l.meta.name, 'tiny_test');
      assert.equal(path.resolve(l.path), path.resolve(expectDir));
      const y = l.model.predict(x) as tf.Tensor;
      assert.deepEqual(y.shape, [1, 12, 20, 1]);
      const d = y.dataSync();
      for (let i = 0; i < d.length; i++) assert.ok(Math.abs(d[i] - ref[i]) < 1e-6);
      y.dispose();
      l.model.dispose();
    };
    await check(path.join(root, 'run'), path.join(root, 'run', 'last'));
    await saveModel(path.join(root, 'run', 'best'), model, meta);
    await check(path.join(root, 'run'), path.join(root, 'run', 'best'));
    await check(path.join(root, 'run', 'last'), path.join(root, 'run', 'last'));
    await check(path.join(root, 'run', 'last', 'model.json'), path.join(root, 'run', 'last'));
    await assert.rejects(loadModel(path.join(root, 'nope')), /model not found: .*nope/);
    fs.mkdirSync(path.join(root, 'empty'));
    await assert.rejects(loadModel(path.join(root, 'empty')), /no model\.json in it/);
    fs.rmSync(path.join(root, 'run', 'last', 'portraitseg.json'));
    await assert.rejects(loadModel(path.join(root, 'run', 'last', 'model.json')), /no portraitseg\.json beside it/);
    await assert.rejects(loadCheckpoint(path.join(root, 'run', 'best')), /--resume .*no checkpoint there/);
    x.dispose();
    model.dispose();
  });
});
