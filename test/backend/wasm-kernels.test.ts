import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { wasmTrainingKernelsRegistered } from '../../src/backend/wasm-kernels';
import { relErr } from '../helpers/close';

/** Deterministic host data (no tfjs RNG, so both backends see the same numbers). */
function hostRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);


interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}

/** dx, dW of sum(conv(x, W) * r) for r random: exercises BackpropInput and BackpropFilter with dy = r. */
function convGrads(c: ConvCase, depthwise: boolean): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(hostRandom(size(c.x), 1), c.x);
    const w = tf.tensor4d(hostRandom(size(c.f), 2), c.f);
    const y0 = depthwise ? tf.depthwiseConv2d(x, w, c.stride, c.pad) : tf.conv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(hostRandom(y0.size, 3), y0.shape);
    const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => {
      const y = depthwise ? tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad) : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad);
      return tf.sum(tf.mul(y, r));
    })([x, w]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
}

const CONV_CASES: ConvCase[] = [
  { x: [1, 9, 9, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 4], f: [3, 3, 4, 5], stride: 2, pad: 'same' },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 5], stride: 2, pad: 'same' },
  { x: [2, 10, 9, 3], f: [3, 3, 3, 2], stride: 2, pad: 'valid' },
  { x: [3, 7, 7, 2], f: [3, 3, 2, 3], stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 6], stride: 1, pad: 'same' }, // 1x1: dW as one matrix product
  { x: [2, 7, 5, 12], f: [1, 1, 12, 5], stride: 1, pad: 'valid' }, // 1x1, dy narrower than x
  { x: [2, 8, 8, 4], f: [1, 1, 4, 6], stride: 2, pad: 'same' }, // 1x1 strided: conv form
  { x: [2, 11, 11, 3], f: [5, 5, 3, 4], stride: 2, pad: 'same' },
  { x: [1, 8, 8, 3], f: [2, 2, 3, 4], stride: 2, pad: 'valid' },
  { x: [2, 16, 16, 16], f: [3, 3, 16, 16], stride: 1, pad: 'same' },
  // stride-2 dx by phases: a 1x1 filter (phases without taps), odd sizes with >= 8 channels
  { x: [2, 9, 9, 3], f: [1, 1, 3, 4], stride: 2, pad: 'valid' },
  { x: [1, 7, 6, 8], f: [3, 3, 8, 8], stride: 2, pad: 'same' },
  { x: [2, 6, 6, 3], f: [4, 4, 3, 2], stride: 2, pad: 'same' },
];

const DW_CASES: ConvCase[] = [
  { x: [2, 9, 9, 4], f: [3, 3, 4, 1], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 4], f: [3, 3, 4, 1], stride: 2, pad: 'same' },
  { x: [1, 8, 8, 5], f: [3, 3, 5, 1], stride: 2, pad: 'same' },
  { x: [2, 10, 8, 3], f: [3, 3, 3, 1], stride: 2, pad: 'valid' },
  { x: [1, 7, 7, 2], f: [3, 3, 2, 1], stride: 1, pad: 'valid' },
  { x: [2, 12, 12, 6], f: [5, 5, 6, 1], stride: 2, pad: 'same' },
  { x: [2, 9, 7, 8], f: [3, 3, 8, 1], stride: 2, pad: 'same' },
  // channels % 4 == 0: the SIMD filter gradient (valid padding, 5x5, stride 2 odd sizes)
  { x: [2, 10, 9, 4], f: [3, 3, 4, 1], stride: 2, pad: 'valid' },
  { x: [1, 11, 11, 12], f: [5, 5, 12, 1], stride: 1, pad: 'same' },
  { x: [2, 6, 6, 3], f: [3, 3, 3, 2], stride: 1, pad: 'same' }, // multiplier 2: loop path
  { x: [2, 7, 7, 3], f: [3, 3, 3, 2], stride: 2, pad: 'same' },
];

function caseName(c: ConvCase): string {
  return `x ${c.x.join('x')} f ${c.f.join('x')} s${c.stride} ${c.pad}`;
}

describe('backend/wasm-kernels: gradients match the cpu reference', function () {
  this.timeout(60000);
  const ref = new Map<string, Float32Array[]>();

  before(async () => {
    await tf.setBackend('cpu');
    for (const c of CONV_CASES) ref.set('conv ' + caseName(c), convGrads(c, false));
    for (const c of DW_CASES) ref.set('dw ' + caseName(c), convGrads(c, true));
    await selectBackend('wasm');
  });

  it('registers the kernels when wasm is selected', () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.ok(wasmTrainingKernelsRegistered());
    for (const k of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
    }
  });

  assert.ok(CONV_CASES.length > 0 && DW_CASES.length > 0);
  for (const [kind, cases] of [['conv', CONV_CASES], ['dw', DW_CASES]] as const) {
    for (const c of cases) {
      it(`${kind} ${caseName(c)}: dx and dW within 1e-4`, () => {
        const backend = tf.engine().backend;
        const idsBefore = backend.numDataIds();
        const tensorsBefore = tf.memory().numTensors;
        const got = convGrads(c, kind === 'dw');
        const want = ref.get(`${kind} ${caseName(c)}`)!;
        assert.equal(got.length, 2);
        for (let i = 0; i < 2; i++) {
          const e = relErr(got[i], want[i]);
          assert.ok(e <= 1e-4, `${i === 0 ? 'dx' : 'dW'} relative error ${e}`);
        }
        assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leak');
        assert.equal(backend.numDataIds(), idsBefore, 'no wasm buffer leak');
      });
    }
  }

  it('conv2dTranspose (forward use of Conv2DBackpropInput) matches cpu', async () => {
    const run = () => tf.tidy(() => {
      const x = tf.tensor4d(hostRandom(2 * 5 * 5 * 6, 4), [2, 5, 5, 6]);
      const w = tf.tensor4d(hostRandom(3 * 3 * 4 * 6, 5), [3, 3, 4, 6]);
      return tf.conv2dTranspose(x, w, [2, 10, 10, 4], 2, 'same').dataSync() as Float32Array;
    });
    const got = run();
    await tf.setBackend('cpu');
    const want = run();
    await selectBackend('wasm');
    assert.ok(relErr(got, want) <= 1e-4);
  });

  it('channel slices (concat gradient) match cpu', async () => {
    const run = () => tf.tidy(() => {
      const x = tf.tensor4d(hostRandom(2 * 5 * 6 * 7, 6), [2, 5, 6, 7]);
      const a = tf.slice(x, [0, 0, 0, 2], [-1, -1, -1, 3]);
      const b = tf.slice(x, [1, 1, 2, 0], [1, 3, 3, 5]);
      const c = tf.slice(x.reshape([10, 6, 7]), [2, 1, 1], [5, 4, 4]);
      return [a, b, c].map((t) => [t.shape.join('x'), Array.from(t.dataSync())] as const);
    });
    const got = run();
    await tf.setBackend('cpu');
    const want = run();
    await selectBackend('wasm');
    assert.deepEqual(got, want);
  });

  it('split, concat, sum and mean fast paths match cpu (and fall back where not applicable)', async () => {
    const run = () => tf.tidy(() => {
      const x = tf.tensor4d(hostRandom(2 * 5 * 6 * 7, 9), [2, 5, 6, 7]);
      const y = tf.tensor4d(hostRandom(2 * 5 * 6 * 3, 10), [2, 5, 6, 3]);
      const outs: tf.Tensor[] = [
        ...tf.split(x, [2, 5], 3),
        ...tf.split(x, [1, 4], 1),
        tf.concat([x, y], 3),
        tf.concat([x, x], 0),
        tf.concat([x.reshape([60, 7]), y.reshape([60, 3])], 1),
        tf.sum(x, [0, 1, 2]),
        tf.sum(x, [0, 1, 2], true),
        tf.sum(x, [0]),
        tf.sum(x, [1, 2]),
        tf.sum(x),
        tf.mean(x, [0, 1, 2]),
        tf.mean(x, [0, 1], true),
        tf.mean(x, 3),
        tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0),
        // 8 columns: the SIMD column sum
        tf.sum(tf.tensor4d(hostRandom(2 * 5 * 6 * 8, 11), [2, 5, 6, 8]), [0, 1, 2]),
        tf.mean(tf.tensor4d(hostRandom(2 * 5 * 6 * 8, 12), [2, 5, 6, 8]), [0, 1], true),
      ];
      return outs.map((t) => [t.shape.join('x'), t.dtype, Array.from(t.dataSync())] as const);
    });
    const got = run();
    await tf.setBackend('cpu');
    const want = run();
    await selectBackend('wasm');
    assert.equal(got.length, want.length);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i][0], want[i][0], `output ${i} shape`);
      assert.equal(got[i][1], want[i][1], `output ${i} dtype`);
      const e = relErr(Float32Array.from(got[i][2]), Float32Array.from(want[i][2]));
      assert.ok(e <= 1e-5, `output ${i}: ${e}`);
    }
  });

  it('Identity (clone) shares the buffer: same values, outlives its source, frees it last', () => {
    const backend = tf.engine().backend;
    const ids = backend.numDataIds();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const c = tf.clone(x);
    const r = tf.reshape(c, [3, 2]);
    x.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(c.shape, [2, 3]);
    c.dispose();
    assert.deepEqual(Array.from(r.dataSync()), [1, 2, 3, 4, 5, 6]);
    r.dispose();
    assert.equal(backend.numDataIds(), ids);
  });

  it('batch-norm gradient (tile-free) matches autodiff of the unfused formula on cpu', async () => {
    const run = (fused: boolean) => tf.tidy(() => {
      const x = tf.tensor4d(hostRandom(2 * 4 * 4 * 3, 7), [2, 4, 4, 3]);
      const r = tf.tensor4d(hostRandom(2 * 4 * 4 * 3, 8), [2, 4, 4, 3]);
      const gamma = tf.tensor1d([1.5, 0.5, -1]);
      const beta = tf.tensor1d([0.1, 0.2, 0.3]);
      const g = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        const y = fused
          ? tf.batchNorm(xx, mean, variance, bb, gg, 1e-3)
          : tf.add(tf.mul(tf.mul(tf.sub(xx, mean), tf.rsqrt(tf.add(variance, 1e-3))), gg), bb);
        return tf.sum(tf.mul(y, r));
      })([x, gamma, beta]);
      return g.map((t) => t.dataSync() as Float32Array);
    });
    const got = run(true);
    await tf.setBackend('cpu');
    const want = run(false);
    const gotCpu = run(true);
    await selectBackend('wasm');
    for (let i = 0; i < 3; i++) {
      assert.ok(relErr(got[i], want[i]) <= 1e-4, `wasm input ${i}: ${relErr(got[i], want[i])}`);
      assert.ok(relErr(gotCpu[i], want[i]) <= 1e-4, `cpu input ${i}: ${relErr(gotCpu[i], want[i])}`);
    }
  });
});
