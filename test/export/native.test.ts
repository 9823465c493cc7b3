import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { nativePredictor } from '../../src/export/native';
import { freezeModel } from '../../src/distill/teacher';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createModel } from '../../src/models/registry';
import { saveModel } from '../../src/models/io';
import { loadSegmenter } from '../../src/eval/run';
import { defaultConfig } from '../../src/config/config';
import { exportOnnxBytes } from '../../src/export/onnx';
import { corruptOneWeight } from '../helpers/corrupt';
import { requireTool } from '../helpers/required';
import { pseudoRandom } from '../helpers/pseudo';

/** Skips with a line where onnxruntime-node does not load; under CI=true that is a failure naming it. */
function needOrt(ctx: Mocha.Context): void {
  let why: string | null = null;
  try {
    require('onnxruntime-node');
  } catch (e) {
    why = (e as Error).message.split('\n')[0];
  }
  requireTool(ctx, 'onnxruntime-node (optional dependency)', why);
}

const frames = (n: number, h: number, w: number, seed: number): Float32Array => pseudoRandom(n * h * w * 3, seed);

const sig = (v: number) => 1 / (1 + Math.exp(-v));

describe('export/native: frozen models on onnxruntime-node with a parity check, tfjs otherwise', function () {
  this.timeout(120000);
  let built: ReturnType<typeof createModel>;
  before(async () => {
    await selectBackend('wasm');
    built = createModel('mnv2_student_s', { inputSize: [64, 64] }, { seed: 3 });
  });
  after(() => built.model.dispose());

  it('runtime tfjs never loads onnxruntime', () => {
    const c = nativePredictor(built.model, { runtime: 'tfjs', name: 'm', frameSize: [64, 64] });
    assert.equal(c.predictor, null);
    assert.equal(c.runtime, 'tfjs');
  });

  it('falls back to tfjs when onnxruntime-node is absent (auto), refuses with one line (onnx)', () => {
    const c = nativePredictor(built.model, { runtime: 'auto', name: 'm', frameSize: [64, 64], ortModule: 'onnxruntime-node-not-installed' });
    assert.equal(c.predictor, null);
    assert.match(c.reason, /^tfjs \(onnxruntime-node-not-installed is not usable/);
    assert.throws(() => nativePredictor(built.model, { runtime: 'onnx', name: 'm', frameSize: [64, 64], ortModule: 'onnxruntime-node-not-installed' }), /^Error: runtime.frozen=onnx: onnxruntime-node-not-installed is not usable/);
  });

  it('runs the model on onnxruntime-node: same probabilities as tfjs within 1e-4 on new frames', function () {
    needOrt(this);
    const c = nativePredictor(built.model, { runtime: 'auto', name: built.meta.name, frameSize: [64, 64], threads: 2 });
    assert.ok(c.predictor, c.reason);
    try {
      assert.equal(c.runtime, 'onnxruntime-node');
      assert.match(c.reason, /onnxruntime-node .*CPU, 2 threads \(parity at load on portrait frames 2x64x64x3: max \|P\(person\) diff\| \S+, tolerance 0\.001\)$/);
      assert.ok(c.predictor.parity <= 1e-4);
      const x = frames(3, 64, 64, 9);
      const got = c.predictor.predict(x, [3, 64, 64, 3]);
      assert.deepEqual(got.dims, [3, 64, 64, 1]);
      const want = tf.tidy(() => (built.model.apply(tf.tensor4d(x, [3, 64, 64, 3]), { training: false }) as tf.Tensor).dataSync() as Float32Array);
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(sig(want[i]) - sig(got.data[i])));
      assert.ok(d <= 1e-4, `max |p| diff ${d}`);
    } finally {
      c.predictor.dispose();
    }
    assert.throws(() => c.predictor!.predict(frames(1, 64, 64, 1), [1, 64, 64, 3]), /already disposed/);
  });

  it('the check at load fails on one corrupted weight: falls back to tfjs naming model, format, max |P diff| and tolerance (auto), refuses (onnx)', function () {
    needOrt(this);
    // the ONNX export of the model with one bias changed, run against the unchanged tfjs model
    const bad = corruptOneWeight(built.model);
    const onnxBytes = exportOnnxBytes(built.model);
    bad.restore();
    const failure = /parity check failed: mnv2_student_s onnx on onnxruntime-node vs tfjs: max \|P\(person\) diff\| \S+ > tolerance 0\.001 \(portrait frames 2x64x64x3\)/;
    const c = nativePredictor(built.model, { runtime: 'auto', name: built.meta.name, frameSize: [64, 64], onnxBytes });
    assert.equal(c.predictor, null);
    assert.equal(c.runtime, 'tfjs');
    assert.match(c.reason, new RegExp(`^tfjs \\(${failure.source}\\)$`));
    assert.throws(() => nativePredictor(built.model, { runtime: 'onnx', name: built.meta.name, frameSize: [64, 64], onnxBytes }), new RegExp(`^Error: runtime.frozen=onnx: ${failure.source}$`));
    // the export of the model as it is passes
    const ok = nativePredictor(built.model, { runtime: 'onnx', name: built.meta.name, frameSize: [64, 64], onnxBytes: exportOnnxBytes(built.model) });
    assert.ok(ok.predictor);
    ok.predictor.dispose();
  });

  it('a frozen teacher on auto says which runtime runs it and labels as the tfjs teacher does', function () {
    needOrt(this);
    const other = createModel('mnv2_student_s', { inputSize: [64, 64] }, { seed: 3 });
    const onTfjs = freezeModel(built.model, built.meta, 'a');
    const onOrt = freezeModel(other.model, other.meta, 'b', 'auto');
    try {
      assert.doesNotMatch(onTfjs.describe, /onnxruntime/);
      assert.match(onOrt.describe, /^b on onnxruntime-node .*CPU/);
      const x = tf.tensor4d(frames(2, 64, 64, 4), [2, 64, 64, 3]);
      const before = tf.memory().numTensors;
      const a = onTfjs.predict(x, false).logits;
      const b = onOrt.predict(x, false).logits;
      assert.deepEqual(b.shape, [2, 64, 64, 1]);
      const [pa, pb] = [a.dataSync(), b.dataSync()];
      let d = 0;
      for (let i = 0; i < pa.length; i++) d = Math.max(d, Math.abs(sig(pa[i]) - sig(pb[i])));
      assert.ok(d <= 1e-4, `max |p| diff ${d}`);
      tf.dispose([a, b, x]);
      assert.equal(tf.memory().numTensors, before - 1);
    } finally {
      onOrt.dispose();
    }
  });

  it('eval: runtime.frozen=auto runs a saved model on onnxruntime-node (same logits as tfjs), tfjs when asked', async function () {
    needOrt(this);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-eval-'));
    try {
      await saveModel(dir, built.model, built.meta);
      const cfg = defaultConfig();
      const onOrt = await loadSegmenter(dir, cfg, false);
      cfg.runtime.frozen = 'tfjs';
      const onTfjs = await loadSegmenter(dir, cfg, false);
      try {
        assert.match(onOrt.info.runtime!, /^onnxruntime-node .*CPU/);
        assert.match(onTfjs.info.runtime!, /^tfjs \(runtime.frozen=tfjs\)/);
        const x = tf.tensor4d(frames(1, 64, 64, 7), [1, 64, 64, 3]);
        const a = onOrt.predictLogits(x);
        const b = onTfjs.predictLogits(x);
        assert.deepEqual(a.shape, b.shape);
        const [pa, pb] = [a.dataSync(), b.dataSync()];
        let d = 0;
        for (let i = 0; i < pa.length; i++) d = Math.max(d, Math.abs(sig(pa[i]) - sig(pb[i])));
        assert.ok(d <= 1e-4, `max |p| diff ${d}`);
        tf.dispose([a, b, x]);
      } finally {
        onOrt.dispose();
        onTfjs.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
