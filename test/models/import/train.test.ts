import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { importModel } from '../../../src/models/import';
import { train } from '../../../src/train/loop';
import { createOptimizer, warmupCosine } from '../../../src/train/optim';
import { makeSegLossFn } from '../../../src/train/losses';
import { checkpointer } from '../../../src/train/callbacks';
import { loadCheckpoint } from '../../../src/train/checkpoint';
import { loadModel } from '../../../src/models/io';
import { synthStream, weightsOf } from '../../train/helpers';
import { tmpDir, writeGraphFixture, writeTfliteFixture } from './fixtures';

const LOSS = { bce: 1, dice: 1, lovasz: 0, boundary: 0, boundaryWidth: 1 };
const BS = 2;

describe('models/import: imported models in the training loop', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const kind of ['tflite', 'graph'] as const) {
    it(`2 steps of train() change every weight, checkpoint and reload bit-for-bit (${kind})`, async () => {
      const dir = tmpDir();
      const f = kind === 'tflite' ? writeTfliteFixture(dir) : writeGraphFixture(dir);
      const { model, meta } = importModel(f);
      const before = weightsOf(model).map((w) => Float32Array.from(w));
      const trainableBefore = model.trainableWeights.map((w) => Float32Array.from(w.read().dataSync()));
      const opt = createOptimizer({ name: 'adam' });
      const run = `${dir}/run`;
      const total = 2 * BS;
      await train({
        model,
        meta,
        lossFn: makeSegLossFn(LOSS),
        optimizer: opt,
        schedule: warmupCosine({ lr: 1e-3, minLr: 1e-4, warmupImages: 0, totalImages: total }),
        batches: synthStream(0, BS),
        totalImages: total,
        batchSize: BS,
        callbacks: [checkpointer({ runDir: run, every: 1000, keep: 1, config: { imported: true } })],
      });
      const after = model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
      after.forEach((w, i) => assert.notDeepEqual(Array.from(w), Array.from(trainableBefore[i]), `${model.trainableWeights[i].name} did not move`));
      // frozen constants (ConstantOp scalars, the softmax difference) stay put
      const frozen = model.nonTrainableWeights.map((w) => w.read().dataSync());
      const allBefore = new Map(model.weights.map((w, i) => [w.name, before[i]]));
      model.nonTrainableWeights.forEach((w, i) => assert.deepEqual(Array.from(frozen[i]), Array.from(allBefore.get(w.name)!)));

      const ck = await loadCheckpoint(run);
      assert.equal(ck.state.step, 2);
      assert.equal(ck.meta.name, meta.name);
      const a = weightsOf(model);
      const b = weightsOf(ck.model);
      assert.equal(a.length, b.length);
      a.forEach((w, i) => assert.deepEqual(Buffer.from(b[i].buffer), Buffer.from(w.buffer), `weight ${i} differs after reload`));
      const viaLoadModel = await loadModel(run);
      assert.equal(viaLoadModel.meta.name, meta.name);
      const x = tf.randomUniform([1, 24, 20, 3], 0, 1, 'float32', 1);
      const y1 = model.predict(x) as tf.Tensor;
      const y2 = viaLoadModel.model.predict(x) as tf.Tensor;
      assert.deepEqual(y2.shape, [1, 24, 20, 1]);
      assert.equal(tf.tidy(() => y1.sub(y2).abs().max().dataSync()[0]), 0);
      tf.dispose([x, y1, y2]);
      opt.dispose();
      [model, ck.model, viaLoadModel.model].forEach((m) => m.dispose());
    });
  }
});
