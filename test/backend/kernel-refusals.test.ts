import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { relErr } from '../helpers/close';

/**
 * Issue #12: every kernel we register on wasm must check its inputs as the stock kernel does and
 * fall back (or throw) outside its fast path: the same shape and values as the cpu backend, or
 * both throw. Inputs here are the cases tfjs' own op tests found.
 */
function seq(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37 + seed) * 0.5;
  return tf.tensor(v, shape);
}

type Outcome = { shape: number[]; values: Float32Array } | { error: string };

function outcome(f: () => tf.Tensor): Outcome {
  try {
    const t = tf.tidy(f);
    const r = { shape: t.shape, values: t.dataSync() as Float32Array };
    t.dispose();
    return r;
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

const run = (name: string, inputs: Record<string, number[]>, attrs: Record<string, unknown>) => () => {
  const ins: Record<string, tf.Tensor> = {};
  let seed = 1;
  for (const [k, s] of Object.entries(inputs)) ins[k] = seq(s, seed++);
  return tf.engine().runKernel(name, ins as never, attrs as never) as tf.Tensor;
};

const CASES: [string, () => tf.Tensor][] = [
  ['conv2dTranspose with an outputShape smaller than dy implies', () => tf.conv2dTranspose(seq([1, 8, 8, 8], 1) as tf.Tensor4D, seq([8, 8, 8, 8], 2) as tf.Tensor4D, [1, 4, 4, 8], 1, 'same')],
  ['Conv2DBackpropInput with dy larger than the geometry', run('Conv2DBackpropInput', { dy: [1, 8, 8, 8], filter: [3, 3, 8, 8] }, { inputShape: [1, 4, 4, 8], strides: 1, pad: 'same', dataFormat: 'NHWC' })],
  ['Conv2DBackpropInput with dy smaller than the geometry', run('Conv2DBackpropInput', { dy: [1, 3, 3, 4], filter: [3, 3, 2, 4] }, { inputShape: [1, 6, 6, 2], strides: 1, pad: 'same', dataFormat: 'NHWC' })],
  ['DepthwiseConv2dNativeBackpropInput with dy larger than the geometry', run('DepthwiseConv2dNativeBackpropInput', { dy: [1, 8, 8, 8], filter: [3, 3, 8, 1] }, { inputShape: [1, 4, 4, 8], strides: 1, pad: 'same', dilations: 1 })],
  ['DepthwiseConv2dNativeBackpropInput with dy smaller than the geometry', run('DepthwiseConv2dNativeBackpropInput', { dy: [1, 3, 3, 4], filter: [3, 3, 4, 1] }, { inputShape: [1, 6, 6, 4], strides: 1, pad: 'same', dilations: 1 })],
  ['Conv2DBackpropFilter with dy smaller than the geometry', run('Conv2DBackpropFilter', { x: [1, 8, 8, 3], dy: [1, 4, 4, 2] }, { filterShape: [3, 3, 3, 2], strides: 1, pad: 'same', dataFormat: 'NHWC' })],
  ['Conv2DBackpropFilter with dy larger than the geometry', run('Conv2DBackpropFilter', { x: [1, 4, 4, 3], dy: [1, 8, 8, 2] }, { filterShape: [3, 3, 3, 2], strides: 1, pad: 'same', dataFormat: 'NHWC' })],
  ['DepthwiseConv2dNativeBackpropFilter with dy smaller than the geometry', run('DepthwiseConv2dNativeBackpropFilter', { x: [1, 8, 8, 3], dy: [1, 4, 4, 3] }, { filterShape: [3, 3, 3, 1], strides: 1, pad: 'same', dilations: 1 })],
  ['Concat [2,2] + [1,2] on axis 1', () => tf.concat([seq([2, 2], 1), seq([1, 2], 2)], 1)],
  ['Concat [1,1,3] + [2,2,3] on axis 1', () => tf.concat([seq([1, 1, 3], 1), seq([2, 2, 3], 2)], 1)],
  ['Concat [2,1] + [2,3] on axis 1 (valid, small runs)', () => tf.concat([seq([2, 1], 1), seq([2, 3], 2)], 1)],
  ['Slice past the end', run('Slice', { x: [2, 5, 6, 7] }, { begin: [0, 0, 0, 5], size: [2, 5, 6, 4] })],
  ['SplitV with sizes that do not add up', run('SplitV', { x: [2, 5, 6, 7] }, { numOrSizeSplits: [2, 4], axis: 3 })],
  ['Sum over an axis out of range', run('Sum', { x: [2, 3, 4] }, { axis: [3], keepDims: false })],
  ['Mean over leading axes', run('Mean', { x: [2, 3, 4] }, { axis: [0, 1], keepDims: true })],
];

describe('backend/wasm-kernels: refuse what they cannot compute (issue #12)', function () {
  this.timeout(60000);
  const want = new Map<string, Outcome>();
  before(async () => {
    await tf.setBackend('cpu');
    for (const [name, f] of CASES) want.set(name, outcome(f));
    await selectBackend('wasm');
  });
  after(async () => {
    await selectBackend('wasm');
  });

  for (const [name, f] of CASES) {
    it(`${name}: same as cpu`, () => {
      const exp = want.get(name)!;
      const got = outcome(f);
      if ('values' in exp && exp.values.some((v) => !Number.isFinite(v))) {
        // cpu reads past the end of a too-small dy (NaN): ours must refuse with one line.
        assert.ok('error' in got && /dy has shape .* but the geometry implies/.test(got.error), `wasm must refuse, got ${JSON.stringify(got).slice(0, 120)}`);
        return;
      }
      if ('error' in exp) {
        assert.ok('error' in got, `cpu throws (${exp.error}) but wasm returned shape [${'shape' in got ? got.shape : ''}]`);
        return;
      }
      assert.ok(!('error' in got), `wasm threw: ${'error' in got ? got.error : ''}`);
      if ('error' in got) return;
      assert.deepEqual(got.shape, exp.shape);
      assert.ok(relErr(got.values, exp.values) <= 1e-4, `relative error ${relErr(got.values, exp.values)}`);
    });
  }
});
