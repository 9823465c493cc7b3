/**
 * The parity rule (src/export/parity.ts): its frames are portraits a portrait segmenter sees a
 * person on (uniform noise is not: MediaPipe's selfie net gives P ~ 0 on every pixel of it), its
 * measure fails on NaN and on size mismatches, and its lines and failure message name the model,
 * the format, the max |P diff| and the tolerance.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { importModel } from '../../src/models/import';
import { packagedFile } from '../../src/models/import/packaged';
import {
  assertParity,
  describeParity,
  parityFailure,
  ParityError,
  parityFrames,
  ParityMeter,
  parityResult,
  parityTensor,
  parityTolerance,
  PARITY_TOLERANCE,
  RUNTIME_TOLERANCE,
  sigmoid,
  uncheckedParity,
} from '../../src/export/parity';

const RULE = { model: 'm', format: 'onnx', against: 'the in-memory model', tolerance: 1e-4 };

describe('export/parity: one rule for every parity check', function () {
  this.timeout(120000);
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('parityFrames: seeded portraits in 0..1, the same bytes for the same seed, others for another', () => {
    const a = parityFrames(2, 24, 32, 5);
    assert.equal(a.length, 2 * 24 * 32 * 3);
    assert.deepEqual(a, parityFrames(2, 24, 32, 5));
    assert.notDeepEqual(a, parityFrames(2, 24, 32, 6));
    assert.ok(a.every((v) => v >= 0 && v <= 1));
    // the two rows differ (each its own portrait)
    assert.notDeepEqual(a.subarray(0, 24 * 32 * 3), a.subarray(24 * 32 * 3));
  });

  it('MediaPipe\'s selfie net sees a person on the parity frames (part person, part background, part uncertain), P ~ 0 on uniform noise', () => {
    const f = packagedFile('mediapipe:selfie');
    assert.ok(f, '@mediapipe/selfie_segmentation is a dependency');
    const imp = importModel(f);
    try {
      const stats = (x: tf.Tensor4D) =>
        tf.tidy(() => {
          const p = (imp.model.predict(x) as tf.Tensor).sigmoid();
          const n = p.size;
          return {
            person: p.greater(0.5).sum().dataSync()[0] / n,
            unsure: p.greater(0.01).logicalAnd(p.less(0.99)).sum().dataSync()[0] / n,
            max: p.max().dataSync()[0],
          };
        });
      const x = parityTensor(2, 256, 256, 1234);
      const portrait = stats(x);
      assert.ok(portrait.person > 0.1 && portrait.person < 0.9, JSON.stringify(portrait));
      assert.ok(portrait.unsure > 0.01, JSON.stringify(portrait));
      const noise = tf.randomUniform([2, 256, 256, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const onNoise = stats(noise);
      assert.ok(onNoise.max < 1e-3, `uniform noise: ${JSON.stringify(onNoise)}`);
      tf.dispose([x, noise]);
    } finally {
      imp.model.dispose();
    }
  });

  it('ParityMeter: P from logits by one sigmoid, or the file\'s own P; logits reported only where |ref| < 10', () => {
    const m = new ParityMeter();
    m.add({ logits: [0, 20, -3] }, { logits: [1e-5, 25, -3] }, [1, 1, 3, 1]);
    assert.ok(Math.abs(m.maxAbsProb - (sigmoid(1e-5) - sigmoid(0))) < 1e-12);
    assert.ok(Math.abs(m.maxAbsLogits! - 1e-5) < 1e-12, 'the 20 -> 25 logit (saturated) is not reported');
    m.add({ prob: [0.5] }, { logits: [0] }, [1, 1, 1, 1]);
    assert.deepEqual(m.shapes, [[1, 1, 3, 1], [1, 1, 1, 1]]);
    const p = parityResult(m, RULE);
    assert.ok(p.ok);
    const q = new ParityMeter().add({ prob: [0.5] }, { logits: [0] }, [1]);
    assert.equal(q.maxAbsLogits, null, 'no logits on one side: none reported');
  });

  it('NaN anywhere fails; outputs of different sizes throw', () => {
    const m = new ParityMeter().add({ logits: [0, 1] }, { logits: [NaN, 1] }, [2]).add({ logits: [0] }, { logits: [0] }, [1]);
    const p = parityResult(m, RULE);
    assert.equal(p.ok, false);
    assert.throws(() => assertParity(p), /^ParityError: parity check failed: m onnx vs the in-memory model: max \|P\(person\) diff\| NaN > tolerance 0\.0001/);
    assert.throws(() => new ParityMeter().add({ logits: [0, 1] }, { logits: [0] }, [2]), /output sizes differ \(2 vs 1\)/);
  });

  it('one tolerance rule: 1e-4 float32 on tfjs, 1e-3 against another runtime\'s kernels, 0.01 float16, 0.05 uint8; export.tolerance replaces the float32 one', () => {
    assert.equal(PARITY_TOLERANCE, 1e-4);
    assert.equal(RUNTIME_TOLERANCE, 1e-3);
    assert.equal(parityTolerance({ runtime: 'tfjs' }), 1e-4);
    assert.equal(parityTolerance({ runtime: 'other' }), 1e-3);
    assert.equal(parityTolerance({ runtime: 'other', float32: 2e-5 }), 2e-5);
    assert.equal(parityTolerance({ runtime: 'tfjs', float32: null }), 1e-4);
    assert.equal(parityTolerance({ quantize: 'float16', runtime: 'other', float32: 1e-5 }), 0.01);
    assert.equal(parityTolerance({ quantize: 'uint8', runtime: 'tfjs' }), 0.05);
  });

  it('lines and the failure message name the model, the format (with its quantisation), the max |P diff| and the tolerance', () => {
    const m = new ParityMeter().add({ logits: [0, 0] }, { logits: [0, 1] }, [1, 1, 2, 1]).add({ logits: [0] }, { logits: [0] }, [1, 1, 1, 1]);
    const p = { ...parityResult(m, { ...RULE, format: 'tfjs', tolerance: 0.01 }), quantize: 'float16' as const };
    assert.equal(p.ok, false);
    assert.equal(
      describeParity(p),
      'parity m tfjs float16 vs the in-memory model on portrait frames 1x1x2x1 and 1x1x1x1: max |P(person) diff| 2.31e-1 (tolerance 0.01, max |logits diff| 1.00e+0 where |logits| < 10) FAILED',
    );
    assert.equal(parityFailure(p), 'parity check failed: m tfjs float16 vs the in-memory model: max |P(person) diff| 2.31e-1 > tolerance 0.01 (portrait frames 1x1x2x1 and 1x1x1x1)');
    const e = new ParityError(p, 'files left in x');
    assert.equal(e.message, `${parityFailure(p)}; files left in x`);
    assert.equal(e.parity, p);
    // a check that could not run is never OK, and never thrown as a failure
    const u = uncheckedParity(RULE, 'no TFLite runtime: not installed');
    assert.equal(u.ok, false);
    assert.equal(describeParity(u), 'parity m onnx vs the in-memory model NOT CHECKED: no TFLite runtime: not installed');
    assert.equal(assertParity(u), u);
  });
});
