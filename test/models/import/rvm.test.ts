/**
 * Robust Video Matting (../shared/models/rvm-tfjs, GPL-3.0: read in place for tests only, never
 * copied) imported as a trainable model: recognised by its signature, one frame with zero
 * recurrent states, its alpha before the refiner. Skipped when the file is absent.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { importModel, loadReference } from '../../../src/models/import';
import { referenceParity } from '../../../src/export/import-check';
import { openDataset } from '../../../src/data';
import { readRgb } from '../../../src/util/image';
import { ROOT } from '../../helpers/cli';

const ALT_SHARED = '/work/shared';
const shared = (p: string) => (fs.existsSync(path.join(ROOT, '../shared', p)) ? path.join(ROOT, '../shared', p) : path.join(ALT_SHARED, p));
const RVM = shared('models/rvm-tfjs/rvm.json');
const EG1800 = shared('datasets/eg1800-val');

describe('models/import: Robust Video Matting (skips when ../shared/models/rvm-tfjs is absent)', function () {
  this.timeout(600000);
  before(async function () {
    if (!fs.existsSync(RVM)) {
      console.log(`      (skipped: ${RVM} is absent)`);
      this.skip();
    }
    await tf.setBackend('cpu');
  });

  it('imports at 96x96 with its preset: no control flow, shape arithmetic, slices or recurrent weights left; matches tfjs on seeded frames and on a portrait', async () => {
    const imp = importModel(RVM, { inputSize: [96, 96] });
    assert.match(imp.preset ?? '', /Robust Video Matting/);
    assert.deepEqual(imp.constInputs, { r1i: 0, r2i: 0, r3i: 0, r4i: 0, downsample_ratio: 1 });
    assert.equal(imp.outputNode, 'pha');
    assert.equal(imp.output, 'clip01');
    const ops = new Set(imp.graph.nodes.map((n) => n.op));
    for (const op of ['slice', 'crop']) assert.ok(!ops.has(op), `${op} left`);
    // 3 atrous depthwise convs of the last encoder stage, dilated 2
    assert.equal(imp.graph.nodes.filter((n) => n.op === 'depthwise' && (n.attrs.dilations as number[])[0] === 2).length, 3);
    // the 4 GRUs: z * tanh(conv(x)) only (the reset gate and the state's kernel rows go with the zero state)
    assert.equal(imp.graph.nodes.filter((n) => n.op === 'tanh').length, 4);
    assert.equal(imp.model.countParams(), 3651607);
    const p = await referenceParity(imp.model, imp, RVM, 3);
    assert.ok(p.ok, JSON.stringify(p));
    const ref = await loadReference(RVM, imp);
    if (fs.existsSync(EG1800)) {
      // a real portrait, where the alpha has edges (seeded blobs can leave it all 0 or 1)
      const ds = await openDataset(EG1800, { labeled: true });
      const img = await readRgb([...ds.refs].sort((a, b) => a.id.localeCompare(b.id))[0].imagePath);
      const x = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(img.data, [1, img.height, img.width, 3]).div(255) as tf.Tensor4D, [96, 96], false, true));
      const theirs = await ref.probability(x);
      const ours = tf.tidy(() => (imp.model.predict(x) as tf.Tensor).sigmoid());
      const edge = tf.tidy(() => theirs.greater(0.05).logicalAnd(theirs.less(0.95)).sum().dataSync()[0]);
      const person = tf.tidy(() => theirs.greater(0.5).mean().dataSync()[0]);
      const diff = tf.tidy(() => ours.sub(theirs).abs().max().dataSync()[0]);
      assert.ok(edge > 20 && person > 0.1 && person < 0.9, `alpha has ${edge} edge pixels, ${person} person`);
      assert.ok(diff <= 1e-4, `max |P diff| on a portrait ${diff}`);
      tf.dispose([x, theirs, ours]);
    } else console.log(`      (portrait check skipped: ${EG1800} is absent)`);
    ref.dispose();
    imp.model.dispose();
  });

  it('trains: every trainable weight gets a finite, non-zero gradient from a cross-entropy on its logits', () => {
    const imp = importModel(RVM, { inputSize: [32, 32] });
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const target = tf.tidy(() => tf.randomUniform([1, 32, 32, 1], 0, 1, 'float32', 5).round());
    const vars = imp.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads, value } = tf.variableGrads(() => tf.losses.sigmoidCrossEntropy(target, imp.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
    const bad = imp.model.trainableWeights.filter((w, i) => {
      const g = grads[vars[i].name].abs().max().dataSync()[0];
      return !(g > 0 && Number.isFinite(g));
    });
    assert.deepEqual(bad.map((w) => w.name), []);
    assert.ok(imp.model.trainableWeights.length > 150);
    tf.dispose([...Object.values(grads), value, x, target]);
    imp.model.dispose();
  });

  it('--input-const downsample_ratio=0.5 takes RVM into its deep guided filter, which is not imported: the error names the op and the node', () => {
    assert.throws(() => importModel(RVM, { inputSize: [64, 64], constInputs: { downsample_ratio: 0.5 } }), /unsupported op .* \(node ".*fast_guided_filter/);
  });
});
