import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/backend';
import { makeParallelTrainStep, sliceBatch } from '../../../src/backend/parallel';
import { planMicroBatch } from '../../../src/backend/memory';
import { importModel } from '../../../src/models/import';
import { createModel } from '../../../src/models/registry';
import { makeTrainStep } from '../../../src/train/loop';
import { benchLoss } from '../../../src/bench/train';
import { synthBatch } from '../../train/helpers';
import { relErr } from '../../helpers/close';
import { tmpDir, writeTfliteFixture } from './fixtures';

describe('models/import: code that rebuilds a model from its meta (micro-batch probe, two-thread step)', function () {
  this.timeout(120000);
  before(async () => {
    await selectBackend('wasm');
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('createModel(meta.name, meta.args) re-imports the source: same architecture and weights', () => {
    const f = writeTfliteFixture(tmpDir());
    const a = importModel(f);
    const b = createModel(a.meta.name, a.meta.args);
    assert.equal(b.meta.name, a.meta.name);
    assert.deepEqual(b.model.layers.map((l) => l.getClassName()), a.model.layers.map((l) => l.getClassName()));
    const wa = a.model.getWeights();
    const wb = b.model.getWeights();
    wa.forEach((w, i) => assert.deepEqual(Array.from(wb[i].dataSync()), Array.from(w.dataSync())));
    assert.ok(planMicroBatch({ meta: a.meta, frameSize: a.meta.frameSize, batchSize: 4, backend: 'wasm' }) >= 1);
    assert.throws(() => createModel(a.meta.name, { ...a.meta.args, imported: { source: '/nonexistent/x.tflite' } }), /model\.name imported:fixture: an imported model is rebuilt from its source file .*\/nonexistent\/x\.tflite.*not there/);
    a.model.dispose();
    b.model.dispose();
  });

  it('the two-thread step gives the mean of the single-thread steps on the two halves', async () => {
    const f = writeTfliteFixture(tmpDir());
    const { model, meta } = importModel(f);
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const batch = synthBatch(0, 4, 16, 16);
    const lossFn = benchLoss();
    const parallel = await makeParallelTrainStep({ workers: 1, model: { name: meta.name, args: meta.args }, loss: { module: path.resolve(__dirname, '../../../src/bench/train.ts'), exportName: 'benchLoss' } });
    try {
      const step = makeTrainStep();
      const h0 = await step({ model, vars, batch: sliceBatch(batch, 0, 2), lossFn, microBatch: 2, step: 0 });
      const h1 = await step({ model, vars, batch: sliceBatch(batch, 2, 2), lossFn, microBatch: 2, step: 0 });
      const par = await parallel({ model, vars, batch, lossFn, microBatch: 4, step: 0 });
      assert.equal(par.grads.length, vars.length);
      assert.ok(Math.abs(par.loss - (h0.loss + h1.loss) / 2) < 1e-5, `loss ${par.loss} vs ${(h0.loss + h1.loss) / 2}`);
      par.grads.forEach((g, i) => {
        const want = tf.tidy(() => h0.grads[i].add(h1.grads[i]).div(2).dataSync() as Float32Array);
        assert.ok(relErr(g.dataSync(), want) <= 1e-4, `${vars[i].name}: ${relErr(g.dataSync(), want)}`);
      });
      tf.dispose([...h0.grads, ...h1.grads, ...par.grads]);
    } finally {
      await parallel.close();
      model.dispose();
    }
  });
});
