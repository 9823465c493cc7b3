import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { describeParity, exportModel, exportOnnxBytes, runOnnx } from '../../src/export';
import { importedLayersModel, importedModelMeta, layerVariants } from '../helpers/imported-model';

/** ONNX export of the layer classes imported models are made of (src/models/imported_layers.ts + built-ins). */
describe('export onnx: imported-model layers', function () {
  this.timeout(60000);
  let tmp: string;
  before(async () => {
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-onnx-imported-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('export --format onnx reloads in onnxruntime and matches the tfjs model (<= 1e-4)', async () => {
    const model = importedLayersModel(2);
    const before = tf.memory().numTensors;
    const res = await exportModel(model, importedModelMeta(model), { format: 'onnx', out: path.join(tmp, 'onnx') });
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    assert.ok(res.parity.ok, describeParity(res.parity));
    assert.ok(res.parity.maxAbsLogits! <= 1e-4);
    assert.equal(res.parity.shapes.length, 2, 'checked at the frame size and an odd size');
    model.dispose();
  });

  it('keeps dynamic N, H, W: batch 2 at a size never checked', async () => {
    const model = importedLayersModel(3);
    const x = tf.randomUniform([2, 45, 37, 3], 0, 1, 'float32', 9);
    const ref = model.predict(x) as tf.Tensor;
    const got = await runOnnx(exportOnnxBytes(model), x.dataSync() as Float32Array, [2, 45, 37, 3]);
    assert.deepEqual(got.dims, [2, 45, 37, 1]);
    const r = ref.dataSync();
    let m = 0;
    for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i] - got.data[i]));
    assert.ok(m <= 1e-4, `max diff ${m}`);
    tf.dispose([x, ref]);
    model.dispose();
  });

  it('every BilinearResize sampling mode and Conv2DTranspose padding variant matches', async () => {
    const variants = layerVariants();
    assert.ok(variants.length >= 14);
    for (const { label, model } of variants) {
      const x = tf.randomUniform([1, 6, 6, 2], -1, 1, 'float32', 4);
      const ref = model.predict(x) as tf.Tensor;
      const got = await runOnnx(exportOnnxBytes(model), x.dataSync() as Float32Array, [1, 6, 6, 2]);
      assert.deepEqual(got.dims, ref.shape, label);
      const r = ref.dataSync();
      let m = 0;
      for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i] - got.data[i]));
      assert.ok(m <= 1e-5, `${label}: max diff ${m}`);
      tf.dispose([x, ref]);
      model.dispose();
    }
  });
});
