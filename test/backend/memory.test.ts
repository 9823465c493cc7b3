import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { planMicroBatch, planMicroBatchDetailed, wasmHeapBytes } from '../../src/backend/memory';
import { createModel } from '../../src/models/registry';
import { makeTrainStep } from '../../src/train/loop';
import type { HostBatch } from '../../src/data/types';

function batchOf(n: number, size: number): HostBatch {
  const px = size * size;
  const images = new Float32Array(n * px * 3).map((_, i) => (i % 97) / 97);
  const masks = new Float32Array(n * px).map((_, i) => ((i >> 5) % 2 === 0 ? 1 : 0));
  return { size: n, height: size, width: size, images, masks, hasMask: new Uint8Array(n).fill(1), ids: Array.from({ length: n }, (_, i) => `m${i}`) };
}

describe('backend/memory: micro-batch planning', function () {
  this.timeout(240000);

  before(async () => {
    await selectBackend('wasm');
  });

  it('probing memory leaves the model unchanged (batch-norm statistics included)', () => {
    const { model, meta } = createModel('mnv2_student_xs', { inputSize: [32, 32] }, { seed: 3 });
    try {
      const before = model.getWeights().map((w) => w.dataSync().slice());
      planMicroBatchDetailed({ model, meta: { ...meta, args: { ...meta.args, probeKey: 'bn-check' } }, frameSize: [32, 32], batchSize: 8, backend: 'wasm' });
      const after = model.getWeights().map((w) => w.dataSync());
      assert.ok(model.nonTrainableWeights.length > 0, 'the model has batch-norm statistics to check');
      for (let i = 0; i < before.length; i++) assert.deepEqual(Array.from(after[i]), Array.from(before[i]), `weight ${model.weights[i].name} changed`);
    } finally {
      model.dispose();
    }
  });

  it('fits the whole batch when the budget allows, splits evenly when it does not', () => {
    const { model, meta } = createModel('mnv2_student_xs', { inputSize: [32, 32] }, { seed: 1 });
    try {
      const big = planMicroBatchDetailed({ model, meta, frameSize: [32, 32], batchSize: 8, backend: 'wasm' });
      assert.equal(big.microBatch, 8);
      assert.ok(big.forwardBytesPerSample > 32 * 32 * 3 * 4, 'activations are larger than the input');
      // a budget for ~3 samples: 8 rows -> 3 micro-batches of 3, 3, 2 -> planned as 3
      const fixed = meta.params * 16;
      const three = planMicroBatch({ model, meta, frameSize: [32, 32], batchSize: 8, budgetBytes: fixed + 3.5 * 3 * big.forwardBytesPerSample });
      assert.equal(three, 3);
      // a budget for ~5 samples: 8 rows -> 2 micro-batches of 4 (not 5 + 3)
      const four = planMicroBatch({ model, meta, frameSize: [32, 32], batchSize: 8, budgetBytes: fixed + 5.5 * 3 * big.forwardBytesPerSample });
      assert.equal(four, 4);
      assert.equal(planMicroBatch({ model, meta, frameSize: [32, 32], batchSize: 8, budgetBytes: 1 }), 1);
      assert.throws(() => planMicroBatch({ model, meta, frameSize: [32, 32], batchSize: 0 }), /batchSize must be a positive integer/);
    } finally {
      model.dispose();
    }
  });

  it('the default teacher at 256x256 batch 8 is split on wasm and one step trains without crashing', async () => {
    const { model, meta } = createModel('unet_teacher_s', { inputSize: [256, 256] }, { seed: 3 });
    try {
      const mb = planMicroBatch({ model, meta, frameSize: [256, 256], batchSize: 8, backend: 'wasm' });
      assert.ok(mb >= 1 && mb < 8, `planned micro-batch ${mb}`);
      const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const before = tf.memory().numTensors;
      const out = await makeTrainStep()({
        model,
        vars,
        batch: batchOf(8, 256),
        microBatch: mb,
        step: 0,
        lossFn: ({ model: m, images, masks }) => ({ total: tf.losses.sigmoidCrossEntropy(masks, m.apply(images, { training: true }) as tf.Tensor) as tf.Scalar, parts: {} }),
      });
      assert.ok(Number.isFinite(out.loss));
      assert.equal(out.grads.length, vars.length);
      tf.dispose(out.grads);
      assert.equal(tf.memory().numTensors, before);
      assert.ok((wasmHeapBytes() ?? 0) < 4 * 2 ** 30);
    } finally {
      model.dispose();
    }
  });
});
