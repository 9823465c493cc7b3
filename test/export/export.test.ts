import { strict as assert } from 'assert';
import { randomiseForExport } from '../helpers/weights';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { createModel } from '../../src/models';
import { saveModel } from '../../src/models/io';
import { exportModel, checkExport, describeParity, exportOnnxBytes, runOnnx, toHalf, quantizeWeight, Quantize, fileHandler, META_FILE, ParityError } from '../../src/export';
import { cli } from '../helpers/cli';
import { corruptOneWeight } from '../helpers/corrupt';

const TEACHER = { inputSize: 32, widths: [4, 8, 8, 8, 8], contextChannels: 4 };
const STUDENT = { inputSize: 32, width: 0.35, expansion: 2, decoderChannels: 8 };


describe('export', function () {
  this.timeout(60000);
  let tmp: string;
  before(async () => {
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-export-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const cases: [string, Record<string, unknown>][] = [
    ['unet_teacher_s', TEACHER],
    ['unet_teacher_s_dgf', TEACHER],
    ['mnv2_student_s', STUDENT],
    ['mnv2_student_s_dgf', STUDENT],
    // the first mask filter (logits space), as models saved before 'prob' have it
    ['mnv2_student_s_dgf', { ...STUDENT, filterSpace: 'logits' }],
  ];
  const formats: [('tfjs' | 'onnx'), Quantize][] = [
    ['onnx', 'none'],
    ['tfjs', 'none'],
    ['tfjs', 'float16'],
    ['tfjs', 'uint8'],
  ];
  let ran = 0;
  after(() => assert.equal(ran, cases.length * formats.length, 'every parity case ran'));

  for (const [name, args] of cases) {
    describe(`${name}${args.filterSpace ? ` (filterSpace ${args.filterSpace})` : ''}`, () => {
      let model: tf.LayersModel;
      let meta: ReturnType<typeof createModel>['meta'];
      before(() => {
        ({ model, meta } = createModel(name, args, { seed: 7 }));
        randomiseForExport(model);
      });
      after(() => model.dispose());
      for (const [format, quantize] of formats) {
        it(`${format} ${quantize}: reloads and matches the in-memory model`, async () => {
          const out = path.join(tmp, `${name}${args.filterSpace ? `-${args.filterSpace}` : ''}-${format}-${quantize}`);
          const before = tf.memory().numTensors;
          const res = await exportModel(model, meta, { format, quantize, out });
          assert.equal(tf.memory().numTensors, before, 'no tensor leak');
          ran++;
          const p = res.parity;
          assert.ok(p.ok, describeParity(p));
          assert.equal(p.shapes.length, 2);
          assert.equal(p.metric, 'probability');
          if (quantize === 'none') {
            assert.ok(p.maxAbsProb <= 1e-4, `P diff ${p.maxAbsProb}`);
            // our models' logits are small: the reported logit difference is tight too
            assert.ok(p.maxAbsLogits! <= 1e-4, `logits diff ${p.maxAbsLogits}`);
          } else {
            // quantisation must change something, but not much
            assert.ok(p.maxAbsLogits! > 0, 'quantised weights differ from float32');
            assert.ok(p.maxAbsProb <= (quantize === 'float16' ? 0.01 : 0.05), `P diff ${p.maxAbsProb}`);
          }
          const written = JSON.parse(fs.readFileSync(path.join(out, META_FILE), 'utf8'));
          assert.equal(written.name, name);
          assert.deepEqual(written.inputSize, meta.inputSize);
          assert.equal(written.export.format, format);
          assert.equal(written.export.parity.ok, true);
          if (format === 'onnx') assert.match(written.export.layout, /NHWC at the interface/);
          if (format === 'tfjs') {
            const mj = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
            const entries = mj.weightsManifest[0].weights as { quantization?: { dtype: string; scale?: number; min?: number } }[];
            if (quantize === 'none') assert.ok(entries.every((e) => !e.quantization));
            else assert.ok(entries.every((e) => e.quantization?.dtype === quantize && (quantize === 'float16' || typeof e.quantization.scale === 'number')));
          }
        });
      }
    });
  }

  it('the tfjs export loads with tf.loadLayersModel and keeps working for odd frame sizes', async () => {
    const { model, meta } = createModel('unet_teacher_s_dgf', TEACHER, { seed: 4 });
    const out = path.join(tmp, 'odd-tfjs');
    await exportModel(model, meta, { format: 'tfjs', out });
    model.dispose();
    const m = await tf.loadLayersModel(fileHandler(path.join(out, 'model.json')));
    const y = m.predict(tf.zeros([1, 45, 51, 3])) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 45, 51, 1]);
    tf.dispose(y);
    m.dispose();
  });

  it('the ONNX export has dynamic H, W (runs at a size never checked)', async () => {
    const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 2 });
    void meta;
    const x = tf.randomUniform([2, 40, 24, 3], 0, 1, 'float32', 5);
    const ref = model.predict(x) as tf.Tensor;
    const got = await runOnnx(exportOnnxBytes(model), x.dataSync() as Float32Array, [2, 40, 24, 3]);
    assert.deepEqual(got.dims, [2, 40, 24, 1]);
    const r = ref.dataSync();
    let m = 0;
    for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i] - got.data[i]));
    assert.ok(m < 1e-4, `max diff ${m}`);
    tf.dispose([x, ref]);
    model.dispose();
  });

  it('unsupported layers fail with an error naming the layer', () => {
    const inp = tf.input({ shape: [8, 8, 3] });
    const y = tf.layers.cropping2D({ cropping: 1, name: 'my_crop' }).apply(inp) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: y });
    assert.throws(() => exportOnnxBytes(model), /layer "my_crop" \(Cropping2D\) is not supported/);
    const inp2 = tf.input({ shape: [8, 8, 3] });
    const z = tf.layers.activation({ activation: 'softmax', name: 'sm' }).apply(inp2) as tf.SymbolicTensor;
    assert.throws(() => exportOnnxBytes(tf.model({ inputs: inp2, outputs: z })), /layer "sm" \(Activation\) is not supported: activation "softmax"/);
    model.dispose();
  });

  it('float16 encoding matches IEEE half (golden bits)', () => {
    assert.equal(toHalf(1), 0x3c00);
    assert.equal(toHalf(-2), 0xc000);
    assert.equal(toHalf(65504), 0x7bff);
    assert.equal(toHalf(1e6), 0x7c00); // overflow -> inf
    assert.equal(toHalf(0.1), 0x2e66);
    assert.equal(toHalf(5.960464477539063e-8), 0x0001); // smallest subnormal
    assert.equal(toHalf(0), 0);
  });

  it('uint8 quantisation round-trips through tf.io.decodeWeights within scale/2', () => {
    const v = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 3 - 0.5);
    const q = quantizeWeight(v, 'uint8');
    const spec = { name: 'w', shape: [50], dtype: 'float32' as const, quantization: q.quantization as { dtype: 'uint8'; scale: number; min: number } };
    const back = tf.io.decodeWeights(q.bytes.buffer as ArrayBuffer, [spec]).w;
    const d = back.dataSync();
    const scale = spec.quantization.scale;
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(d[i] - v[i]) <= scale / 2 + 1e-6, `i=${i}`);
    back.dispose();
  });

  it('CLI: export --format onnx prints the parity check; bad flag combos are usage errors', async () => {
    const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 3 });
    const dir = path.join(tmp, 'saved');
    await saveModel(dir, model, meta);
    model.dispose();
    const out = path.join(tmp, 'cli-onnx');
    const r = cli(['export', '--model', dir, '--format', 'onnx', '--out', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /parity mnv2_student_s onnx vs the in-memory model on portrait frames 1x32x32x3 and 1x38x42x3: max \|P\(person\) diff\| \S+ \(tolerance 0\.001, max \|logits diff\| \S+ where \|logits\| < 10\) OK/);
    assert.ok(fs.existsSync(path.join(out, 'model.onnx')));
    const bad = cli(['export', '--model', dir, '--format', 'onnx', '--quantize', 'uint8', '--out', out, '--backend', 'cpu']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--quantize uint8 applies to --format tfjs only/);
  });

  describe('the export check fails on one corrupted weight (it compares the file with the model, not a reload with itself)', () => {
    for (const format of ['tfjs', 'onnx'] as const) {
      it(`${format}: a changed bias in the in-memory model is a ParityError naming model, format, max |P diff| and tolerance`, async () => {
        const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 5 });
        const out = path.join(tmp, `gate-${format}`);
        try {
          assert.ok((await exportModel(model, meta, { format, out })).parity.ok);
          const bad = corruptOneWeight(model);
          try {
            await assert.rejects(checkExport(model, meta, { format, out }), (e: Error) => {
              assert.ok(e instanceof ParityError, String(e));
              // float32: 1e-4 where tfjs reloads it, 1e-3 where onnxruntime runs it (another runtime's kernels)
              const tol = format === 'tfjs' ? '0\\.0001' : '0\\.001';
              assert.match(e.message, new RegExp(`^parity check failed: mnv2_student_s ${format} vs the in-memory model: max \\|P\\(person\\) diff\\| \\S+ > tolerance ${tol} \\(portrait frames 1x32x32x3 and 1x38x42x3\\)$`));
              assert.ok(e.parity.maxAbsProb > 1e-2, `a +1 bias moves P by more than 1e-2: ${e.parity.maxAbsProb}`);
              return true;
            });
          } finally {
            bad.restore();
          }
          // the same export and the restored model pass again: the weight failed the check
          assert.ok((await checkExport(model, meta, { format, out })).ok);
        } finally {
          model.dispose();
        }
      });
    }

    it('tfjs: a weight changed in the written weights file fails the check', async () => {
      const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 6 });
      const out = path.join(tmp, 'gate-tfjs-file');
      try {
        await exportModel(model, meta, { format: 'tfjs', out });
        const mj = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
        const entries = mj.weightsManifest[0].weights as { name: string; shape: number[] }[];
        // the byte offset of the last bias in the (single) shard
        let offset = 0;
        let at = -1;
        for (const e of entries) {
          if (/bias/.test(e.name)) at = offset;
          offset += 4 * e.shape.reduce((a, b) => a * b, 1);
        }
        assert.ok(at >= 0);
        const shard = path.join(out, mj.weightsManifest[0].paths[0]);
        const bytes = fs.readFileSync(shard);
        bytes.writeFloatLE(bytes.readFloatLE(at) + 1, at);
        fs.writeFileSync(shard, bytes);
        await assert.rejects(checkExport(model, meta, { format: 'tfjs', out }), /^ParityError: parity check failed: mnv2_student_s tfjs vs the in-memory model: max \|P\(person\) diff\| \S+ > tolerance 0\.0001/);
      } finally {
        model.dispose();
      }
    });

    it('exportModel: a failed check throws, leaves the files and records the figures in portraitseg.json', async () => {
      const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 6 });
      const out = path.join(tmp, 'gate-record');
      try {
        // a negative tolerance: no export can pass it
        await assert.rejects(exportModel(model, meta, { format: 'onnx', out, tolerance: -1 }), /^ParityError: parity check failed: mnv2_student_s onnx vs the in-memory model: max \|P\(person\) diff\| \S+ > tolerance -1 \(portrait frames [^)]*\); files left in .*gate-record for inspection$/);
        const written = JSON.parse(fs.readFileSync(path.join(out, META_FILE), 'utf8'));
        assert.equal(written.export.parity.ok, false);
        assert.equal(written.export.parity.tolerance, -1);
        assert.ok(fs.existsSync(path.join(out, 'model.onnx')));
      } finally {
        model.dispose();
      }
    });
  });
});
