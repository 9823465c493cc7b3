import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { bceLoss, diceLoss, lovaszHingeLoss, boundaryBand, boundaryBceLoss, labelWeights, segmentationLoss } from '../../src/train/losses';
import { resolveConfig } from '../../src/config/load';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);
const val = (t: tf.Tensor) => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

describe('train/losses', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  // Golden values computed with numpy (reference formulas; Lovasz: Berman et al.'s lovasz_hinge_flat).
  const logits = () => tf.tensor4d([2, -1, 0, 3], [1, 2, 2, 1]);
  const masks = () => tf.tensor4d([1, 0, 1, 0], [1, 2, 2, 1]);
  const one = () => tf.tensor1d([1]);

  it('BCE with logits: golden value, stable for huge logits', () => {
    close(val(bceLoss(logits(), masks(), one())), 1.0454810576737206);
    const big = val(bceLoss(tf.tensor4d([1e4, -1e4], [1, 1, 2, 1]), tf.tensor4d([1, 0], [1, 1, 2, 1]), one()));
    assert.ok(Number.isFinite(big) && big < 1e-6);
    close(val(bceLoss(tf.tensor4d([-1e4], [1, 1, 1, 1]), tf.tensor4d([1], [1, 1, 1, 1]), one())), 1e4, 1e-1);
  });

  it('soft Dice: golden value', () => {
    close(val(diceLoss(logits(), masks(), one())), 0.32856404007443696);
  });

  it('Lovasz hinge: golden values and a finite gradient', () => {
    close(val(lovaszHingeLoss(logits(), masks(), one())), 1.666666666666667);
    const x2 = tf.tensor4d([0.5, -2, 1, 1.5, -0.3, 0.2], [1, 2, 3, 1]);
    const y2 = tf.tensor4d([1, 0, 0, 1, 1, 0], [1, 2, 3, 1]);
    close(val(lovaszHingeLoss(x2, y2, one())), 1.045);
    const g = tf.grad((x: tf.Tensor) => lovaszHingeLoss(x as tf.Tensor4D, y2, one()))(x2);
    const gv = Array.from(g.dataSync());
    assert.ok(gv.every(Number.isFinite) && gv.some((v) => v !== 0), `grad ${gv}`);
    g.dispose();
  });

  it('rows with hasMask 0 contribute nothing (all losses); all-unlabeled gives 0', () => {
    const l2 = tf.concat([logits(), tf.tensor4d([-50, 50, -50, 50], [1, 2, 2, 1])]) as tf.Tensor4D;
    const m2 = tf.concat([masks(), tf.tensor4d([1, 1, 1, 1], [1, 2, 2, 1])]) as tf.Tensor4D;
    const h = tf.tensor1d([1, 0]);
    close(val(bceLoss(l2, m2, h)), 1.0454810576737206);
    close(val(diceLoss(l2, m2, h)), 0.32856404007443696);
    close(val(lovaszHingeLoss(l2, m2, h)), 1.666666666666667);
    close(val(bceLoss(l2, m2, tf.tensor1d([0, 0]))), 0);
  });

  it('boundary band: the columns either side of a vertical edge, not the frame border', () => {
    const m = tf.tensor4d(Array.from({ length: 36 }, (_, i) => (i % 6 < 3 ? 1 : 0)), [1, 6, 6, 1]);
    const band = boundaryBand(m, 1).reshape([6, 6]).arraySync() as number[][];
    for (const row of band) assert.deepEqual(row, [0, 0, 1, 1, 0, 0]);
    const band2 = boundaryBand(m, 2).reshape([6, 6]).arraySync() as number[][];
    assert.deepEqual(band2[0], [0, 1, 1, 1, 1, 0]);
    // logits 0 in the band (BCE = ln 2), confidently wrong elsewhere: only the band counts.
    const lg = tf.tensor4d(Array.from({ length: 36 }, (_, i) => (i % 6 === 2 || i % 6 === 3 ? 0 : i % 6 < 3 ? -9 : 9)), [1, 6, 6, 1]);
    close(val(boundaryBceLoss(lg, m, one(), 1)), Math.log(2));
  });

  it('segmentationLoss weights the parts and skips zero weights', () => {
    const out = segmentationLoss(logits(), masks(), one(), { bce: 2, dice: 0.5, lovasz: 0, boundary: 0, boundaryWidth: 1, ignoreBand: 0 });
    assert.deepEqual(Object.keys(out.parts).sort(), ['bce', 'dice']);
    close(out.total.dataSync()[0], 2 * 1.0454810576737206 + 0.5 * 0.32856404007443696);
    tf.dispose([out.total, ...Object.values(out.parts)]);
  });

  describe('ignoreBand (the label does not count near its edges)', () => {
    // 8x8, person in the left half: the edge lies between columns 3 and 4.
    const m8 = () => tf.tensor4d(Array.from({ length: 64 }, (_, i) => (i % 8 < 4 ? 1 : 0)), [1, 8, 8, 1]);
    // confidently right everywhere except columns 2..5 (within 2 px of the edge), confidently wrong there
    const wrongNearEdge = () => tf.tensor4d(Array.from({ length: 64 }, (_, i) => {
      const c = i % 8;
      const right = c < 4 ? 9 : -9;
      return c >= 2 && c <= 5 ? -right : right;
    }), [1, 8, 8, 1]);
    const cfg = (ignoreBand: number) => ({ bce: 1, dice: 1, lovasz: 0, boundary: 0, boundaryWidth: 3, ignoreBand });

    it('labelWeights: 0 within the band, 1 elsewhere; all ones at width 0', () => {
      const w = labelWeights(m8(), 2).reshape([8, 8]).arraySync() as number[][];
      for (const row of w) assert.deepEqual(row, [1, 1, 0, 0, 0, 0, 1, 1]);
      assert.equal(labelWeights(m8(), 0).sum().dataSync()[0], 64);
    });

    it('errors inside the band cost nothing, errors outside it still do', () => {
      const off = segmentationLoss(wrongNearEdge(), m8(), one(), cfg(0));
      const on = segmentationLoss(wrongNearEdge(), m8(), one(), cfg(2));
      assert.ok(off.parts.bce.dataSync()[0] > 4, `without the band the wrong columns cost ${off.parts.bce.dataSync()[0]}`);
      // right everywhere the label counts: BCE = log(1 + e^-9), Dice ~ 0
      close(on.parts.bce.dataSync()[0], Math.log1p(Math.exp(-9)), 1e-6);
      assert.ok(on.parts.dice.dataSync()[0] < 1e-3, `dice ${on.parts.dice.dataSync()[0]}`);
      // a band of 1 px leaves columns 2 and 5 counted: wrong there, so the loss is large again
      const narrow = segmentationLoss(wrongNearEdge(), m8(), one(), cfg(1));
      assert.ok(narrow.parts.bce.dataSync()[0] > 2);
    });

    it('no gradient reaches the logits within the band', () => {
      const g = tf.grad((l: tf.Tensor) => segmentationLoss(l as tf.Tensor4D, m8(), one(), cfg(2)).total)(tf.zeros([1, 8, 8, 1]));
      const rows = g.reshape([8, 8]).arraySync() as number[][];
      for (const row of rows) {
        for (const c of [2, 3, 4, 5]) assert.equal(row[c], 0);
        for (const c of [0, 1, 6, 7]) assert.notEqual(row[c], 0);
      }
    });

    it('the config refuses what the band makes meaningless, naming the keys', () => {
      assert.throws(() => resolveConfig({ set: ['train.loss.ignoreBand=4', 'train.loss.lovasz=1'] }), /train\.loss\.ignoreBand \(4\) cannot be used with train\.loss\.lovasz/);
      assert.throws(() => resolveConfig({ set: ['train.loss.ignoreBand=4', 'train.loss.boundary=0.5', 'train.loss.boundaryWidth=3'] }), /train\.loss\.boundaryWidth \(3\) must exceed train\.loss\.ignoreBand \(4\)/);
      assert.throws(() => resolveConfig({ set: ['train.loss.ignoreBand=-1'] }), /train\.loss\.ignoreBand: must be >= 0/);
      assert.equal(resolveConfig({ set: ['train.loss.ignoreBand=4', 'train.loss.boundary=0'] }).train.loss.ignoreBand, 4);
    });
  });

  it('leaks no tensors', () => {
    const l = logits();
    const m = masks();
    const h = one();
    const before = tf.memory().numTensors;
    const out = segmentationLoss(l, m, h, { bce: 1, dice: 1, lovasz: 1, boundary: 1, boundaryWidth: 1, ignoreBand: 0 });
    tf.dispose([out.total, ...Object.values(out.parts)]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([l, m, h]);
  });
});
