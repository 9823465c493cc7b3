import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { pseudoRandom } from '../helpers/pseudo';

/**
 * A tiny net with every layer kind our models train through: strided and stride-1 convs,
 * a depthwise conv (stride 2), batch norm, ReLU6, a channel concat (skip), bilinear upsampling.
 */
function tinyNet(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const x = tf.input({ shape: [16, 16, 3] });
  const a = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init(1), useBias: false }).apply(x) as tf.SymbolicTensor;
  const an = tf.layers.batchNormalization().apply(a) as tf.SymbolicTensor;
  const ar = tf.layers.reLU({ maxValue: 6 }).apply(an) as tf.SymbolicTensor;
  const b = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthwiseInitializer: init(2), useBias: false }).apply(ar) as tf.SymbolicTensor;
  const c = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(3), activation: 'relu' }).apply(b) as tf.SymbolicTensor;
  const cu = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(c) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ axis: -1 }).apply([b, cu]) as tf.SymbolicTensor;
  const d = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(4), activation: 'relu' }).apply(cat) as tf.SymbolicTensor;
  const up = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(d) as tf.SymbolicTensor;
  const y = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', kernelInitializer: init(5) }).apply(up) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y });
}


/** Trains 5 SGD steps on a fixed batch and returns the loss curve. */
function lossCurve(): number[] {
  const model = tinyNet();
  const opt = tf.train.sgd(0.1);
  const xs = tf.tensor4d(pseudoRandom(4 * 16 * 16 * 3, 11), [4, 16, 16, 3]);
  const ys = tf.tensor4d(pseudoRandom(4 * 16 * 16, 12).map((v) => (v > 0.5 ? 1 : 0)), [4, 16, 16, 1]);
  const curve: number[] = [];
  for (let i = 0; i < 5; i++) {
    const loss = opt.minimize(() => tf.losses.sigmoidCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
    curve.push(loss.dataSync()[0]);
    loss.dispose();
  }
  tf.dispose([xs, ys]);
  opt.dispose();
  model.dispose();
  return curve;
}

describe('backend/training: the same seed trains the same on wasm and cpu', function () {
  this.timeout(60000);

  it('a tiny conv/depthwise/BN/concat/upsample net: equal loss curves, decreasing, no leaks', async () => {
    await tf.setBackend('cpu');
    const cpu = lossCurve();
    await selectBackend('wasm');
    const before = tf.memory().numTensors;
    const wasm = lossCurve();
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind on wasm');
    assert.equal(wasm.length, 5);
    for (let i = 0; i < 5; i++) {
      assert.ok(Number.isFinite(wasm[i]));
      assert.ok(Math.abs(wasm[i] - cpu[i]) <= 1e-3 * Math.abs(cpu[i]), `step ${i}: wasm ${wasm[i]} cpu ${cpu[i]}`);
    }
    assert.ok(wasm[4] < wasm[0], `loss decreases: ${wasm.join(', ')}`);
  });
});
