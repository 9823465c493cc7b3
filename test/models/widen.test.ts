/**
 * Function-preserving widening (src/models/widen.ts): a wider net that computes what the narrow
 * one did, whose copies can diverge in training.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { createModel, modelNames } from '../../src/models/registry';
import { widenModel, WidenError } from '../../src/models/widen';
import { importedLayersModel, importedModelMeta } from '../helpers/imported-model';
import { randomiseForExport } from '../helpers/weights';

function maxDiff(a: tf.LayersModel, b: tf.LayersModel, frame: [number, number]): number {
  return tf.tidy(() => {
    const x = tf.randomUniform([2, frame[0], frame[1], 3], 0, 1, 'float32', 3);
    return (a.predict(x) as tf.Tensor).sub(b.predict(x) as tf.Tensor).abs().max().dataSync()[0];
  });
}

describe('models: widen (Net2Net, function-preserving)', function () {
  this.timeout(60000);
  before(async () => {
    await tf.setBackend('cpu');
  });

  let ran = 0;
  after(() => assert.equal(ran, modelNames().length, 'every registered model was widened'));
  for (const name of modelNames()) {
    it(`${name}: 1.5x wider, same logits`, async () => {
      const { model, meta } = createModel(name, { inputSize: 32 }, { seed: 1 });
      randomiseForExport(model);
      const w = await widenModel(model, meta, 1.5, 7);
      assert.ok(w.meta.params > 1.5 * meta.params, `${meta.params} -> ${w.meta.params}`);
      assert.equal(w.meta.params, w.model.countParams());
      assert.equal(w.meta.args.widen, 1.5);
      const d = maxDiff(model, w.model, meta.frameSize);
      assert.ok(d < 1e-4, `max |logits diff| ${d}`);
      ran++;
      model.dispose();
      w.model.dispose();
    });
  }

  it('every layer class of imported nets (Dense, Concatenate, squeeze-excite, transposed conv, constants)', async () => {
    const model = importedLayersModel(5);
    const meta = importedModelMeta(model);
    const w = await widenModel(model, meta, 2, 3);
    assert.ok(w.meta.params > 2 * meta.params);
    const d = maxDiff(model, w.model, meta.frameSize);
    assert.ok(d < 1e-4, `max |logits diff| ${d}`);
    model.dispose();
    w.model.dispose();
  });

  it('the copies get different gradients, so training can tell them apart', async () => {
    const { model, meta } = createModel('mnv2_student_s', { inputSize: 32 }, { seed: 1 });
    const w = await widenModel(model, meta, 2, 1);
    // a conv whose output space was doubled: its first channel and that channel's copy
    const conv = w.model.layers.find((l) => l.getClassName() === 'Conv2D' && (l.getWeights()[0].shape[3] as number) === 2 * (model.getLayer(l.name).getWeights()[0].shape[3] as number))!;
    assert.ok(conv, 'a widened conv');
    const kernel = conv.weights[0].read() as tf.Variable;
    const c = kernel.shape[3] as number;
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 4);
    const y = tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 5);
    const { grads, value } = tf.variableGrads(() => tf.losses.sigmoidCrossEntropy(y, w.model.apply(x) as tf.Tensor) as tf.Scalar, [kernel]);
    const g = grads[kernel.name];
    // weights of the copies are equal; their gradients are not
    const wv = kernel.arraySync() as number[][][][];
    const gv = g.arraySync() as number[][][][];
    let copies = 0;
    let differ = 0;
    for (let o = c / 2; o < c; o++) {
      for (let j = 0; j < c / 2; j++) {
        if (wv[0][0].every((row, i) => row[o] === wv[0][0][i][j])) {
          copies++;
          if (gv[0][0].some((row, i) => Math.abs(row[o] - gv[0][0][i][j]) > 1e-9)) differ++;
          break;
        }
      }
    }
    assert.ok(copies > 0, 'found copied channels');
    assert.equal(differ, copies, `${differ} of ${copies} copies get a gradient of their own`);
    tf.dispose([x, y, g, value]);
    model.dispose();
    w.model.dispose();
  });

  it('bad factors and unsupported layers fail naming what is wrong', async () => {
    const { model, meta } = createModel('mnv2_student_xs', { inputSize: 32 }, { seed: 1 });
    await assert.rejects(widenModel(model, meta, 0.5), /widen: factor must be a number >= 1, got 0\.5/);
    const inp = tf.input({ shape: [8, 8, 3] });
    const odd = tf.model({ inputs: inp, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(tf.layers.permute({ dims: [2, 1, 3], name: 'swap' }).apply(inp) as tf.SymbolicTensor) as tf.SymbolicTensor });
    await assert.rejects(widenModel(odd, meta, 2), (e: Error) => e instanceof WidenError && /layer swap \(Permute\) is not supported/.test(e.message));
    model.dispose();
    odd.dispose();
  });
});
