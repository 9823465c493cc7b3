import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/backend';
import { registerCustomLayers } from '../../../src/models/layers';
import { bilinearMatrix, BilinearResize, ConstantOp, HardSwish, resizeBilinearExact } from '../../../src/models/imported_layers';

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

/** Central-difference gradient of sum(f(x) * w) w.r.t. x at a few coordinates vs tf.grad. */
function checkGrad(f: (x: tf.Tensor4D) => tf.Tensor, shape: [number, number, number, number], seed: number): number {
  return tf.tidy(() => {
    const x = tf.randomUniform(shape, -1, 1, 'float32', seed) as tf.Tensor4D;
    const probe = f(x);
    const w = tf.randomUniform(probe.shape, -1, 1, 'float32', seed + 1);
    const loss = (t: tf.Tensor4D) => f(t).mul(w).sum() as tf.Scalar;
    const g = tf.grad(loss)(x).dataSync();
    const xs = x.dataSync();
    let worst = 0;
    const eps = 1e-2;
    for (let k = 0; k < 12; k++) {
      const i = (k * 7919) % xs.length;
      const plus = Float32Array.from(xs);
      const minus = Float32Array.from(xs);
      plus[i] += eps;
      minus[i] -= eps;
      const num = (loss(tf.tensor4d(plus, shape)).dataSync()[0] - loss(tf.tensor4d(minus, shape)).dataSync()[0]) / (2 * eps);
      worst = Math.max(worst, Math.abs(num - g[i]));
    }
    return worst;
  });
}

describe('models/imported_layers', () => {
  before(async () => {
    registerCustomLayers();
    await tf.setBackend('cpu');
  });

  it('bilinearMatrix rows sum to 1 and follow TF (half-pixel 2x up: 0.75/0.25 taps)', () => {
    const m = bilinearMatrix(4, 8, false, true);
    for (let o = 0; o < 8; o++) assert.ok(Math.abs(m.slice(o * 4, o * 4 + 4).reduce((a, b) => a + b, 0) - 1) < 1e-6);
    // output 1 samples input at (1 + 0.5) / 2 - 0.5 = 0.25
    assert.deepEqual(Array.from(m.slice(4, 8)).map((v) => +v.toFixed(4)), [0.75, 0.25, 0, 0]);
    // output 0 samples -0.25: clamped to input 0
    assert.deepEqual(Array.from(m.slice(0, 4)), [1, 0, 0, 0]);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`BilinearResize equals tf.image.resizeBilinear forward, and its gradient is right (numerically), all modes (${backend})`, async () => {
      await selectBackend(backend);
      const cases: [[number, number], boolean, boolean][] = [
        [[10, 6], false, true],
        [[3, 7], false, true],
        [[9, 4], true, false],
        [[8, 12], false, false],
      ];
      for (const [size, align, half] of cases) {
        const x = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
        const ours = resizeBilinearExact(x, size, align, half);
        const theirs = tf.image.resizeBilinear(x, size, align, half);
        assert.deepEqual(ours.shape, [2, ...size, 3]);
        assert.ok(maxDiff(ours, theirs) < 1e-5, `forward ${size} align=${align} half=${half}: ${maxDiff(ours, theirs)}`);
        const err = checkGrad((t) => resizeBilinearExact(t, size, align, half), [1, 5, 6, 2], 3);
        assert.ok(err < 2e-3, `grad ${size} align=${align} half=${half}: ${err}`);
        tf.dispose([x, ours, theirs]);
      }
      // the stock gradient is the reason the layer exists: it ignores halfPixelCenters
      const stockErr = checkGrad((t) => tf.image.resizeBilinear(t, [10, 12], false, true), [1, 5, 6, 2], 3);
      assert.ok(stockErr > 1e-2, `tfjs' ResizeBilinearGrad now honours halfPixelCenters (${stockErr}): the layer could use it`);
      await tf.setBackend('cpu');
    });
  }

  it('HardSwish is x * relu6(x + 3) / 6 with the right gradient', () => {
    const x = tf.tensor4d([-4, -3, -1.5, 0, 1, 3, 4], [1, 1, 7, 1]);
    const y = new HardSwish({}).apply(x) as tf.Tensor;
    const want = [-4, -3, -1.5, 0, 1, 3, 4].map((v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6);
    Array.from(y.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${i}: ${v} vs ${want[i]}`));
    const err = checkGrad((t) => new HardSwish({}).apply(t) as tf.Tensor, [1, 3, 4, 2], 5);
    assert.ok(err < 2e-3, `grad ${err}`);
    tf.dispose([x, y]);
  });

  it('ConstantOp adds / multiplies a broadcast constant, trainable or frozen, and round-trips through model.json', async () => {
    const inp = tf.input({ shape: [4, 4, 3] });
    const add = new ConstantOp({ op: 'add', shape: [3], valueTrainable: true, name: 'c_add' });
    const mul = new ConstantOp({ op: 'mul', shape: [], valueTrainable: false, name: 'c_mul' });
    const rs = new BilinearResize({ size: [8, 6], halfPixelCenters: true, name: 'rs' });
    const out = rs.apply(new HardSwish({ name: 'hs' }).apply(mul.apply(add.apply(inp)))) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    add.setWeights([tf.tensor1d([1, 2, 3])]);
    mul.setWeights([tf.scalar(0.5)]);
    assert.equal(model.trainableWeights.length, 1);
    assert.equal(model.nonTrainableWeights.length, 1);
    const x = tf.randomUniform([1, 4, 4, 3], 0, 1, 'float32', 2);
    const y = model.predict(x) as tf.Tensor;
    const manual = tf.tidy(() => {
      const z = x.add(tf.tensor1d([1, 2, 3])).mul(0.5);
      return tf.image.resizeBilinear(z.mul(tf.relu6(z.add(3))).div(6) as tf.Tensor4D, [8, 6], false, true);
    });
    assert.ok(maxDiff(y, manual) < 1e-5);
    let saved: tf.io.ModelArtifacts | null = null;
    await model.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const re = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const y2 = re.predict(x) as tf.Tensor;
    assert.equal(maxDiff(y, y2), 0);
    assert.equal(re.trainableWeights.length, 1);
    const cfg = (re.getLayer('rs') as BilinearResize).getConfig();
    assert.deepEqual([cfg.size, cfg.alignCorners, cfg.halfPixelCenters], [[8, 6], false, true]);
    tf.dispose([x, y, y2, manual]);
    model.dispose();
    re.dispose();
  });
});
