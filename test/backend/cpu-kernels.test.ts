import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';

/** d/dx sum(resizeNearest(x) * w) on the active backend. */
function nearestGrad(x: tf.Tensor4D, w: tf.Tensor4D, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  return tf.tidy(() => tf.grad((a: tf.Tensor) => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [w.shape[1], w.shape[2]], alignCorners, halfPixelCenters).mul(w).sum())(x).dataSync() as Float32Array);
}

describe('backend/cpu-kernels: the cpu reference backend\'s corrected kernels', function () {
  this.timeout(60000);
  before(async () => {
    await selectBackend('cpu');
  });

  it('nearest-resize gradient with a batch of 2: each row gets its own gradient (stock cpu: 20,24 for row 1)', () => {
    const x = tf.zeros([2, 1, 1, 2]) as tf.Tensor4D;
    const w = tf.range(0, 16).reshape([2, 2, 2, 2]).toFloat() as tf.Tensor4D;
    // row 0: channel 0 = 0+2+4+6, channel 1 = 1+3+5+7; row 1: 8+10+12+14, 9+11+13+15
    assert.deepEqual(Array.from(nearestGrad(x, w, false, false)), [12, 16, 44, 48]);
    tf.dispose([x, w]);
  });

  it('nearest-resize gradient honours halfPixelCenters (2 -> 3: the forward reads x0,x1,x1 / x2,x3,x3 / x2,x3,x3)', () => {
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    const w = tf.range(1, 10).reshape([1, 3, 3, 1]).toFloat() as tf.Tensor4D;
    assert.deepEqual(Array.from(nearestGrad(x, w, false, true)), [1, 5, 11, 28]);
    assert.deepEqual(Array.from(nearestGrad(x, w, false, false)), [12, 9, 15, 9]);
    tf.dispose([x, w]);
  });

  it('is the exact adjoint of the forward resize: <resize(x), w> = <x, grad> for every mode, up and down, batch 2', () => {
    let cases = 0;
    for (const [ih, iw, oh, ow] of [[1, 1, 2, 2], [2, 3, 4, 6], [3, 5, 5, 4], [4, 4, 2, 3], [5, 2, 3, 7]]) {
      for (const [alignCorners, halfPixelCenters] of [[false, false], [true, false], [false, true]]) {
        const x = tf.randomUniform([2, ih, iw, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
        const w = tf.randomUniform([2, oh, ow, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
        const lhs = tf.tidy(() => tf.image.resizeNearestNeighbor(x, [oh, ow], alignCorners, halfPixelCenters).mul(w).sum().dataSync()[0]);
        const g = nearestGrad(x, w, alignCorners, halfPixelCenters);
        const xs = x.dataSync();
        let rhs = 0;
        for (let i = 0; i < xs.length; i++) rhs += xs[i] * g[i];
        assert.ok(Math.abs(lhs - rhs) < 1e-4, `${ih}x${iw} -> ${oh}x${ow} alignCorners=${alignCorners} halfPixelCenters=${halfPixelCenters}: ${lhs} vs ${rhs}`);
        tf.dispose([x, w]);
        cases++;
      }
    }
    assert.equal(cases, 15);
  });

  it('agrees with the wasm backend on the student\'s case (1x1 gate upsampled, batch 4)', async () => {
    const run = () => {
      const x = tf.randomUniform([4, 1, 1, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
      const w = tf.randomUniform([4, 2, 2, 8], 0, 1, 'float32', 4) as tf.Tensor4D;
      const g = nearestGrad(x, w, false, false);
      tf.dispose([x, w]);
      return g;
    };
    const cpu = run();
    await selectBackend('wasm');
    const wasm = run();
    await selectBackend('cpu');
    for (let i = 0; i < cpu.length; i++) assert.ok(Math.abs(cpu[i] - wasm[i]) < 1e-5, `${i}: cpu ${cpu[i]} wasm ${wasm[i]}`);
  });
});
