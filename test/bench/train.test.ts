import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { aggregate, benchTrainCase } from '../../src/bench/train';

describe('bench/train: per-kernel profile of one training step', function () {
  this.timeout(120000);

  it('aggregates by kernel, leaves out op wrappers (their time is their inner kernel)', () => {
    const t = aggregate([
      { name: 'fusedConv2d__op', kernelTimeMs: 10 },
      { name: 'FusedConv2D', kernelTimeMs: 9 },
      { name: 'Add', kernelTimeMs: 0.5 },
      { name: 'Add', kernelTimeMs: 0.5 },
      { name: 'Sum', kernelTimeMs: { error: 'n/a' } },
    ]);
    assert.deepEqual(t.map((k) => [k.kernel, k.ms, k.calls]), [['FusedConv2D', 9, 1], ['Add', 1, 2], ['Sum', 0, 1]]);
    assert.equal(t[0].share, 0.9);
  });

  it('a wasm step of the student runs the fused kernels, leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const logs: string[] = [];
    const r = await benchTrainCase({ model: 'mnv2_student_s', size: 64, batch: 2, backend: 'wasm', steps: 1, warmup: 0, profile: true, seed: 1, microBatch: null }, (l) => logs.push(l));
    assert.equal(r.error, null);
    assert.ok(r.imgPerSec! > 0 && Number.isFinite(r.loss!));
    const names = r.profile!.map((k) => k.kernel);
    for (const k of ['PortraitsegBatchNormGrad', 'PortraitsegClipByValueGrad', 'PortraitsegAdamUpdate', 'Conv2DBackpropFilter']) assert.ok(names.includes(k), `${k} in ${names.join(',')}`);
    assert.ok(!names.some((n) => n.endsWith('__op')));
    assert.ok(!logs.some((l) => /tensors left/.test(l)), logs.join('\n'));
    assert.equal(tf.memory().numTensors, before);
  });
});
