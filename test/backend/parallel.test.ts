import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { makeParallelTrainStep, sliceBatch, splitRows } from '../../src/backend/parallel';
import { createModel } from '../../src/models/registry';
import { makeTrainStep } from '../../src/train/loop';
import type { HostBatch } from '../../src/data/types';
import { benchLoss } from '../../src/bench/train';
import { relErr } from '../helpers/close';

function batchOf(n: number, size: number): HostBatch {
  const px = size * size;
  const images = new Float32Array(n * px * 3).map((_, i) => ((i * 7) % 101) / 101);
  const masks = new Float32Array(n * px).map((_, i) => ((i >> 3) % 2 === 0 ? 1 : 0));
  return { size: n, height: size, width: size, images, masks, hasMask: new Uint8Array(n).fill(1), ids: Array.from({ length: n }, (_, i) => `p${i}`) };
}

describe('backend/parallel: data-parallel train step over a worker thread', function () {
  this.timeout(120000);

  before(async () => {
    await selectBackend('wasm');
  });

  it('splits rows evenly and slices batches by row', () => {
    assert.deepEqual(splitRows(8, 2), [4, 4]);
    assert.deepEqual(splitRows(7, 2), [4, 3]);
    assert.deepEqual(splitRows(1, 2), [1, 0]);
    const b = batchOf(3, 4);
    const s = sliceBatch(b, 1, 2);
    assert.equal(s.size, 2);
    assert.deepEqual(Array.from(s.images), Array.from(b.images.subarray(48, 144)));
    assert.deepEqual(s.ids, ['p1', 'p2']);
  });

  it('equals the row-weighted mean of single-thread steps on the two halves (batch norm sees each half)', async () => {
    const name = 'mnv2_student_xs';
    const { model, meta } = createModel(name, { inputSize: [32, 32] }, { seed: 5 });
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const batch = batchOf(4, 32);
    const lossFn = benchLoss();
    const parallel = await makeParallelTrainStep({ workers: 1, model: { name, args: meta.args }, loss: { module: path.resolve(__dirname, '../../src/bench/train.ts'), exportName: 'benchLoss' } });
    try {
      const before = tf.memory().numTensors;
      const step = makeTrainStep();
      const h0 = await step({ model, vars, batch: sliceBatch(batch, 0, 2), lossFn, microBatch: 2, step: 0 });
      const h1 = await step({ model, vars, batch: sliceBatch(batch, 2, 2), lossFn, microBatch: 2, step: 0 });
      const par = await parallel({ model, vars, batch, lossFn, microBatch: 4, step: 0 });
      assert.equal(par.grads.length, vars.length);
      assert.ok(Math.abs(par.loss - (h0.loss + h1.loss) / 2) < 1e-5, `loss ${par.loss} vs ${(h0.loss + h1.loss) / 2}`);
      par.grads.forEach((g, i) => {
        assert.deepEqual(g.shape, vars[i].shape);
        const want = tf.tidy(() => h0.grads[i].add(h1.grads[i]).div(2).dataSync() as Float32Array);
        const e = relErr(g.dataSync(), want);
        assert.ok(e <= 1e-4, `${vars[i].name}: relative error ${e}`);
      });
      tf.dispose([...h0.grads, ...h1.grads, ...par.grads]);
      assert.equal(tf.memory().numTensors, before);
    } finally {
      await parallel.close();
      model.dispose();
    }
  });
});
