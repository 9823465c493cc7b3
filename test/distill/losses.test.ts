import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import {
  softTargetLoss,
  softTargetMap,
  boundaryLoss,
  boundaryWeights,
  maskedBceDice,
  featureLoss,
  FeatureAdapter,
  shiftedView,
  consistencyLoss,
  drawShift,
  distillLoss,
  DistillLossWeights,
} from '../../src/distill/losses';
import { makeRng } from '../../src/util/rng';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

describe('distill/losses', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const s = () => tf.tensor4d([2, -1, 0.5, -3], [1, 2, 2, 1]);
  const t = () => tf.tensor4d([1, -2, 3, 0], [1, 2, 2, 1]);

  it('soft-target loss: binary KL * T^2, golden values', () => {
    // Golden values computed by hand from KL(p_t||p_s), p = sigmoid(z/T), mean over 4 pixels, * T^2.
    close(softTargetLoss(s(), t(), 1).dataSync()[0], 0.3280259);
    close(softTargetLoss(s(), t(), 2).dataSync()[0], 0.4590600);
    close(softTargetLoss(s(), t(), 4).dataSync()[0], 0.5160370);
  });

  it('soft-target loss is 0 when student equals teacher, and >= 0 per pixel', () => {
    close(softTargetLoss(t(), t(), 2).dataSync()[0], 0);
    const m = softTargetMap(s(), t(), 3).dataSync();
    for (const v of m) assert.ok(v >= 0);
  });

  it('soft-target gradient is (p_s - p_t) * T / N per pixel', () => {
    const T = 2;
    const g = tf.grad((x: tf.Tensor) => softTargetLoss(x as tf.Tensor4D, t(), T))(s()).dataSync();
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const sv = [2, -1, 0.5, -3];
    const tv = [1, -2, 3, 0];
    sv.forEach((z, i) => close(g[i], ((sig(z / T) - sig(tv[i] / T)) * T) / 4, 1e-4));
  });

  it('hard loss ignores unlabeled rows', () => {
    const m = tf.tensor4d([1, 0, 1, 0, 0, 0, 0, 0], [2, 2, 2, 1]);
    const both = tf.tensor4d([2, -1, 0.5, -3, 5, 5, 5, 5], [2, 2, 2, 1]);
    const a = maskedBceDice(both, m, tf.tensor1d([1, 0], 'int32')).dataSync()[0];
    const b = maskedBceDice(s(), m.slice([0], [1]) as tf.Tensor4D, tf.tensor1d([1], 'int32')).dataSync()[0];
    close(a, 0.4094217);
    close(a, b);
    close(maskedBceDice(both, m, tf.tensor1d([0, 0], 'int32')).dataSync()[0], 0);
  });

  it('boundary weights cover the teacher edge band and uncertain pixels', () => {
    // 1x1x8 row: person on the left 4 pixels, confident everywhere.
    const teacher = tf.tensor4d([9, 9, 9, 9, -9, -9, -9, -9], [1, 1, 8, 1]);
    const w = Array.from(boundaryWeights(teacher, 2).dataSync()).map((v) => Math.round(v * 100) / 100);
    assert.deepEqual(w, [0, 0, 1, 1, 1, 1, 0, 0]);
    assert.deepEqual(Array.from(boundaryWeights(teacher, 1).dataSync()).map(Math.round), [0, 0, 0, 1, 1, 0, 0, 0]);
    const unsure = tf.tensor4d([0, 0, 0, 0], [1, 1, 4, 1]);
    assert.deepEqual(Array.from(boundaryWeights(unsure, 1).dataSync()), [1, 1, 1, 1]);
    // All four pixels get weight 1 here, so the term equals the KL at T = 1.
    close(boundaryLoss(s(), t(), 1).dataSync()[0], 0.3280259);
  });

  it('feature loss: l2 and attention golden values, resize to the teacher size', () => {
    const fs_ = tf.tensor4d([1, 2, 3, 4, 0, 1, 1, 0], [1, 2, 2, 2]);
    const ft = tf.tensor4d([1, 0, 0, 1, 2, 2, 0, 0], [1, 2, 2, 2]);
    close(featureLoss(fs_, ft, 'l2').dataSync()[0], 3.5);
    close(featureLoss(fs_, ft, 'attention').dataSync()[0], 1.6336313);
    close(featureLoss(ft, ft, 'attention').dataSync()[0], 0);
    const small = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
    close(featureLoss(small, tf.ones([1, 4, 4, 2]) as tf.Tensor4D, 'l2').dataSync()[0], 0);
    assert.throws(() => featureLoss(tf.ones([1, 2, 2, 3]) as tf.Tensor4D, ft, 'l2'), /3 channels, teacher 2/);
  });

  it('adapter maps channels and is seeded', () => {
    const a = new FeatureAdapter(3, 5, 7);
    const b = new FeatureAdapter(3, 5, 7);
    const x = tf.randomUniform([1, 4, 4, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ya = a.apply(x);
    assert.deepEqual(ya.shape, [1, 4, 4, 5]);
    assert.deepEqual(Array.from(ya.dataSync()), Array.from(b.apply(x).dataSync()));
    assert.equal(a.variables.length, 2);
    a.dispose();
    b.dispose();
  });

  it('shifted view re-aligns: consistency of a shift-equivariant map is 0', () => {
    const img = tf.randomUniform([2, 12, 10, 1], -3, 3, 'float32', 3) as tf.Tensor4D;
    const d = { dy: 2, dx: -1, gain: 1 };
    const view = shiftedView(img, d);
    // view[y, x] = img[y + dy, x + dx] inside the frame
    const iv = img.arraySync() as number[][][][];
    const vv = view.arraySync() as number[][][][];
    close(vv[1][3][4][0], iv[1][5][3][0]);
    close(consistencyLoss(img, view, d).dataSync()[0], 0);
    const other = shiftedView(img, { dy: 0, dx: 2, gain: 1 });
    assert.ok(consistencyLoss(img, other, d).dataSync()[0] > 0.01);
  });

  it('drawShift is seeded and never the identity', () => {
    const a = drawShift(makeRng(1).fork('c'), 3);
    const b = drawShift(makeRng(1).fork('c'), 3);
    assert.deepEqual(a, b);
    for (let i = 0; i < 50; i++) {
      const d = drawShift(makeRng(i), 1);
      assert.ok(d.dx !== 0 || d.dy !== 0);
      assert.ok(Math.abs(d.dx) <= 1 && Math.abs(d.dy) <= 1);
    }
  });

  it('distillLoss combines weighted terms, skips zero weights, no leaks', () => {
    const w: DistillLossWeights = {
      temperature: 2, soft: 1, hard: 0.5, feature: 0, featureMode: 'attention',
      boundary: 0.25, boundaryWidth: 1, consistency: 0, consistencyShift: 2,
    };
    const st = s(); const te = t();
    const masks = tf.tensor4d([1, 0, 1, 0], [1, 2, 2, 1]);
    const hasMask = tf.tensor1d([1], 'int32');
    const before = tf.memory().numTensors;
    const out = distillLoss({ student: st, teacher: te, masks, hasMask }, w, 1);
    assert.deepEqual(Object.keys(out.parts).sort(), ['boundary', 'hard', 'soft']);
    const expect = 0.4590600 + 0.5 * out.parts.hard.dataSync()[0] + 0.25 * 0.3280259;
    close(out.total.dataSync()[0], expect);
    tf.dispose([out.total, ...Object.values(out.parts)]);
    assert.equal(tf.memory().numTensors, before);
    const unl = distillLoss({ student: st, teacher: te, masks, hasMask: tf.tensor1d([0], 'int32') }, w, 0);
    assert.equal(unl.parts.hard, undefined);
  });
});
