import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/backend';
import { importModel, loadReference, readGraph, UnsupportedOpError } from '../../../src/models/import';
import { referenceParity } from '../../../src/export/import-check';
import { tfl } from '../../../src/util/tflite';
import { loadModel, saveModel } from '../../../src/models/io';
import { GRAPH_FIXTURE_IR_OPS, TFLITE_FIXTURE_IR_OPS, tmpDir, writeGraphFixture, writeTfliteFixture } from './fixtures';
import { cli } from '../../helpers/cli';

const WEIGHTED = ['Conv2D', 'DepthwiseConv2D', 'Conv2DTranspose', 'Dense'];

function opsOf(spec: string): string[] {
  return [...new Set(readGraph(spec).nodes.map((n) => n.op))].sort();
}

/** Gradient of a loss on the logits w.r.t. every trainable weight; returns [name, max |grad|]. */
function gradNorms(model: tf.LayersModel, x: tf.Tensor4D): [string, number][] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const target = tf.tidy(() => tf.randomUniform([x.shape[0], x.shape[1], x.shape[2], 1], 0, 1, 'float32', 3).round());
  const { grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.sigmoidCrossEntropy(target, logits) as tf.Scalar;
  }, vars);
  const out = model.trainableWeights.map((w, i) => [w.name, tf.tidy(() => grads[vars[i].name].abs().max().dataSync()[0])] as [string, number]);
  tf.dispose(Object.values(grads));
  target.dispose();
  return out;
}

describe('models/import', function () {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = tmpDir();
  });

  describe('a TFLite file written by the test (every supported op)', () => {
    it('reads every op, folds DEQUANTIZE, and builds from built-in + imported layers only', () => {
      const f = writeTfliteFixture(dir);
      assert.deepEqual(opsOf(f), [...TFLITE_FIXTURE_IR_OPS].sort());
      const imp = importModel(f);
      const classes = new Set(imp.model.layers.map((l) => l.getClassName()));
      for (const c of ['Conv2D', 'DepthwiseConv2D', 'Conv2DTranspose', 'Dense', 'HardSwish', 'BilinearResize', 'GlobalAveragePooling2D', 'AveragePooling2D', 'ZeroPadding2D', 'Concatenate', 'Multiply', 'Add', 'ConstantOp']) {
        assert.ok(classes.has(c), `no ${c} layer`);
      }
      assert.equal(imp.output, 'sigmoid');
      assert.deepEqual(imp.inputSize, [16, 16]);
      assert.equal(imp.meta.name, 'imported:fixture');
      assert.equal(imp.meta.output, 'logits');
      // the final sigmoid is dropped: the model returns logits
      assert.ok(!imp.model.layers.some((l) => l.name.includes('output')));
      imp.model.dispose();
    });

    it('matches the reference interpreter within 1e-4 (P) after save + reload, on cpu and wasm', async () => {
      const f = writeTfliteFixture(dir);
      for (const backend of ['cpu', 'wasm'] as const) {
        await selectBackend(backend);
        const imp = importModel(f);
        const out = path.join(dir, `tfl-${backend}`);
        await saveModel(out, imp.model, imp.meta);
        const re = await loadModel(out);
        await referenceParity(re.model, imp, f, 4); // first use loads kernels / caches
        const before = tf.memory().numTensors;
        const p = await referenceParity(re.model, imp, f, 5);
        assert.equal(tf.memory().numTensors, before, 'parity check leaks tensors');
        assert.ok(p.ok && p.maxAbsProb <= 1e-4, `${backend}: ${JSON.stringify(p)}`);
        assert.deepEqual(p.shapes, [[2, 16, 16, 3]]);
        assert.ok(p.maxAbsLogits! < 1e-4, `${backend}: logits differ by ${p.maxAbsLogits}`);
        assert.deepEqual(re.meta, JSON.parse(JSON.stringify(imp.meta)));
        imp.model.dispose();
        re.model.dispose();
      }
      await tf.setBackend('cpu');
    });

    it('a softmax head gives logits z_person - z_background exactly', async () => {
      const f = writeTfliteFixture(dir, { head: 'softmax' }, 'softmax.tflite');
      const imp = importModel(f);
      assert.equal(imp.output, 'softmax1');
      const p = await referenceParity(imp.model, imp, f, 2);
      assert.ok(p.ok && p.maxAbsLogits! < 1e-4, JSON.stringify(p));
      imp.model.dispose();
    });

    it('an unsupported op fails with one line naming the op and the node (exit 2 in the CLI)', () => {
      const f = writeTfliteFixture(dir, { unsupported: tfl.BuiltinOperator.TANH }, 'tanh.tflite');
      assert.throws(() => importModel(f), (e: Error) => e instanceof UnsupportedOpError && /unsupported op TANH \(node "output"\)/.test(e.message) && !e.message.includes('\n'));
      const r = cli(['import', '--backend', 'cpu', '--model', f, '--out', path.join(dir, 'never')]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /portraitseg: error: .*tanh\.tflite: unsupported op TANH \(node "output"\)/);
      assert.ok(!fs.existsSync(path.join(dir, 'never')));
    });
  });

  describe('a TensorFlow.js graph model written by the test (every supported op)', () => {
    it('folds biases (also grappler\'s AddV2(const, AddN(conv, y))) and the hard-swish composite', () => {
      const f = writeGraphFixture(dir);
      const g = readGraph(f);
      assert.deepEqual([...new Set(g.nodes.map((n) => n.op))].sort(), [...GRAPH_FIXTURE_IR_OPS].sort());
      const convs = g.nodes.filter((n) => ['conv2d', 'depthwise', 'conv2dTranspose', 'dense'].includes(n.op));
      assert.equal(convs.length, 8);
      for (const c of convs) assert.equal(c.inputs.length, 3, `${c.name} has no bias`);
      // the only constant add left is the one after Mean (no conv to fold into)
      const constAdds = g.nodes.filter((n) => n.op === 'add' && n.inputs.some((i) => g.consts.has(i)));
      assert.deepEqual(constAdds.map((n) => n.name), ['mnb']);
      assert.equal(g.nodes.filter((n) => n.op === 'hardswish').length, 1);
    });

    it('matches tfjs\' own loadGraphModel within 1e-4 after save + reload', async () => {
      const f = writeGraphFixture(dir);
      const imp = importModel(f);
      const out = path.join(dir, 'graph');
      await saveModel(out, imp.model, imp.meta);
      const re = await loadModel(out);
      const p = await referenceParity(re.model, imp, f, 9);
      assert.ok(p.ok && p.maxAbsLogits! < 1e-4, JSON.stringify(p));
      imp.model.dispose();
      re.model.dispose();
    });

    it('an unsupported op fails naming the op and the node', () => {
      const d = tmpDir();
      const f = writeGraphFixture(d, { unsupported: 'Elu' });
      assert.throws(() => importModel(f), /fixture\.json: unsupported op Elu \(node "output"\)/);
    });
  });

  describe('imported models train', () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      it(`every imported weight gets a non-zero gradient (${backend})`, async () => {
        await selectBackend(backend);
        for (const f of [writeTfliteFixture(dir), writeGraphFixture(dir)]) {
          const imp = importModel(f);
          const trainable = imp.model.trainableWeights.length;
          const convWeights = imp.model.layers.filter((l) => WEIGHTED.includes(l.getClassName())).reduce((n, l) => n + l.trainableWeights.length, 0);
          assert.ok(convWeights >= 12 && trainable >= convWeights, `${trainable} trainable, ${convWeights} conv/dense`);
          const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
          for (const [name, g] of gradNorms(imp.model, x)) assert.ok(g > 0 && Number.isFinite(g), `${path.basename(f)} ${backend}: ${name} grad ${g}`);
          x.dispose();
          imp.model.dispose();
        }
        await tf.setBackend('cpu');
      });
    }
  });

  it('import, reference and parity leave no tensors behind', async () => {
    for (const f of [writeTfliteFixture(dir), writeGraphFixture(dir)]) {
      importModel(f).model.dispose(); // first use registers kernels / caches
      const before = tf.memory().numTensors;
      const imp = importModel(f);
      const ref = await loadReference(f, imp);
      ref.dispose();
      await referenceParity(imp.model, imp, f, 0);
      imp.model.dispose();
      assert.equal(tf.memory().numTensors, before, path.basename(f));
    }
  });

  it('with --mask-filter the net feeds the guided filter at 2x its size', () => {
    const f = writeTfliteFixture(dir);
    const imp = importModel(f, { maskFilter: true });
    assert.equal(imp.model.getLayer('logits').getClassName(), 'GuidedFilter');
    assert.deepEqual(imp.meta.frameSize, [32, 32]);
    assert.equal(imp.meta.maskFilter?.enabled, true);
    const y = imp.model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 32, 32, 1]);
    y.dispose();
    imp.model.dispose();
  });

  it('--input-range maps 0..1 inside the model (Normalize) and the reference sees the same range', async () => {
    const f = writeTfliteFixture(dir);
    const imp = importModel(f, { inputRange: '-1..1' });
    assert.deepEqual(imp.meta.mean, [0.5, 0.5, 0.5]);
    assert.deepEqual(imp.meta.std, [0.5, 0.5, 0.5]);
    assert.ok((await referenceParity(imp.model, imp, f, 0)).ok);
    imp.model.dispose();
  });
});
