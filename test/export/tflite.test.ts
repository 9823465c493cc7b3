import { strict as assert } from 'assert';
import { randomiseForExport } from '../helpers/weights';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as flatbuffers from 'flatbuffers';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { createModel, modelNames } from '../../src/models';
import { saveModel } from '../../src/models/io';
import {
  checkExport,
  describeParity,
  exportModel,
  ParityError,
  parityFrames,
  META_FILE,
  ParityCheck,
  runTflite,
  tfliteIo,
  tfliteRuntimeUnavailable,
  QUANTIZED_PROB_TOLERANCE,
  RUNTIME_TOLERANCE,
} from '../../src/export';
import { modelToTflite, tfliteOperators } from '../../src/export/tflite';
import { readTfliteModel, tfl } from '../../src/util/tflite';
import { cli } from '../helpers/cli';
import { IMPORTED_MODEL_CLASSES, importedLayersModel, importedModelMeta, layerVariants } from '../helpers/imported-model';
import type { ModelMeta } from '../../src/models/types';
import { tfliteReference } from '../../src/models/import/tflite_reference';
import { corruptOneWeight } from '../helpers/corrupt';
import { requireTool } from '../helpers/required';

const TEACHER = { inputSize: 32, widths: [4, 8, 8, 8, 8], contextChannels: 4 };
const STUDENT = { inputSize: 32, width: 0.35, expansion: 2, decoderChannels: 8 };
const MEDIAPIPE = path.join(__dirname, '../../node_modules/@mediapipe/selfie_segmentation');


type Built = { model: tf.LayersModel; frame: [number, number]; meta: ModelMeta };

const CASES: [string, () => Built][] = [
  ['unet_teacher_s (default teacher)', () => build('unet_teacher_s', TEACHER)],
  ['mnv2_student_s (default student)', () => build('mnv2_student_s', STUDENT)],
  ['mnv2_student_s_dgf (mask filter)', () => build('mnv2_student_s_dgf', STUDENT)],
  ['unet_teacher_s_dgf (mask filter)', () => build('unet_teacher_s_dgf', TEACHER)],
  ['mnv2_student_s_dgf (the first mask filter, logits space)', () => build('mnv2_student_s_dgf', { ...STUDENT, filterSpace: 'logits' })],
  ['every imported-model layer class', () => {
    const model = importedLayersModel(5);
    return { model, frame: [32, 32], meta: importedModelMeta(model) };
  }],
];

function build(name: string, args: Record<string, unknown>): Built {
  const { model, meta } = createModel(name, args, { seed: 7 });
  randomiseForExport(model);
  return { model, meta, frame: meta.frameSize };
}

/** The written file, read back with the schema bindings. */
function parse(bytes: Uint8Array) {
  const m = readTfliteModel(bytes);
  const g = m.subgraphs[0];
  return { m, g, ops: tfliteOperators(m) };
}

describe('export tflite', function () {
  this.timeout(120000);
  let tmp: string;
  let noRuntime: string | null = null;
  before(async () => {
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-tflite-'));
    noRuntime = await tfliteRuntimeUnavailable();
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Skips with a line where LiteRT.js does not load; under CI=true that is a failure naming it. */
  function needRuntime(ctx: Mocha.Context): void {
    requireTool(ctx, 'the TFLite runtime LiteRT.js (@litertjs/core, optional dependency)', noRuntime);
  }

  let structural = 0;
  let roundTrips = 0;
  after(() => {
    assert.equal(structural, CASES.length * 2, 'every structure case ran');
    if (!noRuntime) assert.equal(roundTrips, CASES.length * 2, 'every round-trip case ran');
  });

  for (const [label, make] of CASES) {
    describe(label, () => {
      let built: Built;
      before(() => {
        built = make();
      });
      after(() => built.model.dispose());

      for (const quantize of ['none', 'float16'] as const) {
        it(`${quantize}: only builtin ops, fixed [1,H,W,3] input at the frame size, BN folded, weights ${quantize === 'none' ? 'float32' : 'float16 behind DEQUANTIZE'}`, () => {
          const { model, frame } = built;
          const { m, g, ops } = parse(modelToTflite(model, { inputSize: frame, quantize }));
          structural++;
          assert.deepEqual(ops.custom, [], 'no custom ops');
          assert.ok(m.operatorCodes.every((c) => Math.max(c.builtinCode, c.deprecatedBuiltinCode) !== tfl.BuiltinOperator.CUSTOM && c.customCode === null));
          assert.equal(g.inputs.length, 1);
          assert.equal(g.outputs.length, 1);
          assert.deepEqual(g.tensors[g.inputs[0]].shape, [1, frame[0], frame[1], 3]);
          assert.deepEqual(g.tensors[g.outputs[0]].shape, [1, frame[0], frame[1], 1]);
          assert.equal(g.tensors[g.inputs[0]].name, 'image');
          assert.equal(g.tensors[g.outputs[0]].name, 'logits');
          assert.equal(m.signatureDefs[0].signatureKey, 'serving_default');
          // batch norm folded into the convs: no tensor of a BN layer survives
          assert.ok(!g.tensors.some((t) => /_bn\b/.test(String(t.name))), 'batch norm is folded');
          const half = g.tensors.map((t, i) => ({ t, i })).filter(({ t }) => t.type === tfl.TensorType.FLOAT16);
          const dequantize = g.operators.filter((o) => m.operatorCodes[o.opcodeIndex].builtinCode === tfl.BuiltinOperator.DEQUANTIZE);
          if (quantize === 'none') {
            assert.equal(half.length, 0);
            assert.equal(dequantize.length, 0);
          } else {
            const convs = g.operators.filter((o) => [tfl.BuiltinOperator.CONV_2D, tfl.BuiltinOperator.DEPTHWISE_CONV_2D].includes(m.operatorCodes[o.opcodeIndex].builtinCode));
            assert.ok(convs.length > 0);
            // every conv kernel and bias is float16 behind a DEQUANTIZE, as in MediaPipe's files
            assert.equal(half.length, dequantize.length);
            const dequantized = new Set(dequantize.map((o) => o.outputs[0]));
            for (const c of convs) assert.ok(dequantized.has(c.inputs[1]) && dequantized.has(c.inputs[2]), 'conv weights come from DEQUANTIZE');
            for (const o of dequantize) assert.equal(g.tensors[o.inputs[0]].type, tfl.TensorType.FLOAT16);
          }
        });

        it(`${quantize}: round trip through the real TFLite runtime matches the tfjs model`, async function () {
          needRuntime(this);
          const { model, frame, meta } = built;
          const out = path.join(tmp, `${label.replace(/[^A-Za-z0-9_]+/g, '-')}-${quantize}`);
          const before = tf.memory().numTensors;
          const res = await exportModel(model, meta, { format: 'tflite', quantize, out });
          assert.equal(tf.memory().numTensors, before, 'no tensor leak');
          roundTrips++;
          const p = res.parity;
          assert.ok(p.ok, describeParity(p));
          assert.deepEqual(p.shapes, [[1, frame[0], frame[1], 3]]);
          assert.equal(p.metric, 'probability');
          if (quantize === 'none') {
            assert.ok(p.maxAbsProb <= 1e-4, `P diff ${p.maxAbsProb}`);
            assert.ok(p.maxAbsLogits! <= 1e-4, `logits diff ${p.maxAbsLogits}`);
          } else {
            assert.ok(p.maxAbsLogits! > 0, 'float16 weights differ from float32');
            assert.ok(p.maxAbsProb <= QUANTIZED_PROB_TOLERANCE.float16, `P diff ${p.maxAbsProb}`);
          }
          const written = JSON.parse(fs.readFileSync(path.join(out, META_FILE), 'utf8'));
          assert.equal(written.export.format, 'tflite');
          assert.equal(written.export.quantize, quantize);
          assert.deepEqual(written.export.inputShape, [1, frame[0], frame[1], 3]);
          assert.equal(written.export.parity.ok, true);
          const bytes = new Uint8Array(fs.readFileSync(path.join(out, 'model.tflite')));
          const io = await tfliteIo(bytes);
          assert.deepEqual(io.inputs.map((t) => t.shape), [[1, frame[0], frame[1], 3]]);
          assert.deepEqual(io.outputs.map((t) => t.shape), [[1, frame[0], frame[1], 1]]);
        });
      }
    });
  }

  it('every registered model exports and matches in the runtime (float32, tiny sizes)', async function () {
    needRuntime(this);
    const names = modelNames();
    assert.ok(names.length >= 7);
    for (const name of names) {
      const { model, meta } = createModel(name, name.startsWith('unet') ? TEACHER : STUDENT, { seed: 11 });
      randomiseForExport(model);
      const [h, w] = meta.frameSize;
      const x = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 3);
      const ref = model.predict(x) as tf.Tensor;
      const bytes = modelToTflite(model, { inputSize: meta.frameSize });
      assert.deepEqual(parse(bytes).ops.custom, [], name);
      const [got] = await runTflite(bytes, [{ data: x.dataSync() as Float32Array, shape: [1, h, w, 3] }]);
      const r = ref.dataSync();
      let m = 0;
      for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i] - got.data[i]));
      assert.ok(m <= 1e-4, `${name}: max |logits diff| ${m}`);
      tf.dispose([x, ref]);
      model.dispose();
    }
  });

  it('the imported-layer model really contains every imported layer class', () => {
    const model = importedLayersModel(1);
    const classes = new Set(model.layers.map((l) => l.getClassName()));
    for (const c of IMPORTED_MODEL_CLASSES) assert.ok(classes.has(c), `missing ${c}`);
    model.dispose();
  });

  it('every BilinearResize sampling mode and Conv2DTranspose padding variant matches in the runtime', async function () {
    needRuntime(this);
    const variants = layerVariants();
    assert.ok(variants.length >= 14);
    for (const { label, model } of variants) {
      const x = tf.randomUniform([1, 6, 6, 2], -1, 1, 'float32', 4);
      const ref = model.predict(x) as tf.Tensor;
      const [got] = await runTflite(modelToTflite(model, { inputSize: [6, 6] }), [{ data: x.dataSync() as Float32Array, shape: [1, 6, 6, 2] }]);
      assert.deepEqual(got.shape, ref.shape, label);
      const r = ref.dataSync();
      let m = 0;
      for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i] - got.data[i]));
      assert.ok(m <= 1e-5, `${label}: max diff ${m}`);
      tf.dispose([x, ref]);
      model.dispose();
    }
  });

  it('carries portraitseg.json and TFLite Support segmenter metadata (M001) as Model.metadata', async () => {
    const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 1 });
    const bytes = modelToTflite(model, {
      inputSize: meta.frameSize,
      metadata: { portraitseg: JSON.stringify({ name: meta.name }) },
      segmenter: { name: meta.name, description: 'd', version: '1' },
    });
    model.dispose();
    const m = readTfliteModel(bytes);
    const entry = m.metadata.find((x) => x.name === 'portraitseg');
    assert.ok(entry);
    assert.deepEqual(JSON.parse(Buffer.from(m.buffers[entry.buffer].data).toString('utf8')), { name: 'mnv2_student_s' });
    const support = m.metadata.find((x) => x.name === 'TFLITE_METADATA');
    assert.ok(support);
    const data = Buffer.from(m.buffers[support.buffer].data);
    assert.equal(data.subarray(4, 8).toString('latin1'), 'M001', 'ModelMetadata file identifier');
    // the nested ImageSegmenterOptions (identifier V001) and its custom-metadata name are inside
    assert.ok(data.includes(Buffer.from('SEGMENTER_METADATA')));
    assert.ok(data.includes(Buffer.from('V001')));
    // no builtin operator carries custom_options, not even an empty vector (stock TFLite logs
    // "Found builtin operator X with custom options" for those): field 5 -> vtable slot 14
    const g = tfl.Model.getRootAsModel(new flatbuffers.ByteBuffer(bytes)).subgraphs(0)!;
    assert.ok(g.operatorsLength() > 10);
    for (let i = 0; i < g.operatorsLength(); i++) {
      const op = g.operators(i)! as unknown as { bb: flatbuffers.ByteBuffer; bb_pos: number };
      assert.equal(op.bb.__offset(op.bb_pos, 14), 0, `operator ${i} has a custom_options field`);
    }
  });

  it('layers without a TFLite mapping fail with an error naming the layer', () => {
    const inp = tf.input({ shape: [8, 8, 3] });
    const y = tf.layers.cropping2D({ cropping: 1, name: 'my_crop' }).apply(inp) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: y });
    assert.throws(() => modelToTflite(model, { inputSize: [8, 8] }), /tflite export: layer "my_crop" \(Cropping2D\) is not supported/);
    const inp2 = tf.input({ shape: [8, 8, 3] });
    const z = tf.layers.activation({ activation: 'softmax', name: 'sm' }).apply(inp2) as tf.SymbolicTensor;
    assert.throws(() => modelToTflite(tf.model({ inputs: inp2, outputs: z }), { inputSize: [8, 8] }), /layer "sm" \(Activation\) is not supported: activation "softmax"/);
  });

  it('describeParity says when the check could not run, and never calls it OK', () => {
    const p: ParityCheck = {
      model: 'mnv2_student_s',
      format: 'tflite',
      against: 'the in-memory model',
      quantize: 'none',
      shapes: [[1, 8, 8, 3]],
      maxAbsLogits: 0,
      maxAbsProb: 0,
      metric: 'probability',
      tolerance: 1e-4,
      ok: false,
      unchecked: 'no TFLite runtime: @litertjs/core is not installed',
    };
    const line = describeParity(p);
    assert.match(line, /^parity mnv2_student_s tflite vs the in-memory model NOT CHECKED: no TFLite runtime/);
    assert.doesNotMatch(line, /OK/);
  });

  describe('runtime on MediaPipe selfie segmentation files (the import reference)', () => {
    for (const [file, shape] of [
      ['selfie_segmentation.tflite', [1, 256, 256, 3]],
      ['selfie_segmentation_landscape.tflite', [1, 144, 256, 3]],
    ] as const) {
      it(`${file}: loads (custom Convolution2DTransposeBias included), runs, and gives the P(person) of the reference interpreter within RUNTIME_TOLERANCE on portraits, deterministic`, async function () {
        needRuntime(this);
        const f = path.join(MEDIAPIPE, file);
        if (!fs.existsSync(f)) this.skip();
        const bytes = new Uint8Array(fs.readFileSync(f));
        const io = await tfliteIo(bytes);
        assert.deepEqual(io.inputs[0].shape, [...shape]);
        const [, h, w] = shape;
        const data = parityFrames(1, h, w, 4);
        const [a] = await runTflite(bytes, [{ data, shape: [...shape] }]);
        const [b] = await runTflite(bytes, [{ data, shape: [...shape] }]);
        assert.deepEqual(a.shape, [1, h, w, 1]);
        assert.deepEqual(Array.from(a.data), Array.from(b.data), 'deterministic');
        // the same frame through portraitseg's op-by-op interpreter (plain tf ops on cpu)
        const ref = tfliteReference(bytes);
        const want = tf.tidy(() => ref.run(tf.tensor4d(data, [1, h, w, 3])).dataSync());
        ref.dispose();
        let d = 0;
        let person = 0;
        for (let i = 0; i < want.length; i++) {
          d = Math.max(d, Math.abs(a.data[i] - want[i]));
          if (want[i] > 0.5) person++;
        }
        assert.ok(d <= RUNTIME_TOLERANCE, `max |P diff| LiteRT vs reference ${d}`);
        // a portrait: both classes present, so the comparison is not between two constant masks
        assert.ok(person > 0.05 * want.length && person < 0.95 * want.length, `${person} of ${want.length} pixels are person`);
      });
    }

    it('rejects inputs of the wrong shape with a message naming the input', async function () {
      needRuntime(this);
      const f = path.join(MEDIAPIPE, 'selfie_segmentation.tflite');
      if (!fs.existsSync(f)) this.skip();
      await assert.rejects(runTflite(new Uint8Array(fs.readFileSync(f)), [{ data: new Float32Array(12), shape: [1, 2, 2, 3] }]), /input input_1 has shape 1x256x256x3, got 1x2x2x3/);
      await assert.rejects(runTflite(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), []), /TFLite runtime could not load the model/);
    });
  });

  it('CLI: export --format tflite prints the parity check; --quantize uint8 is a usage error', async function () {
    const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 3 });
    const dir = path.join(tmp, 'saved');
    await saveModel(dir, model, meta);
    model.dispose();
    const bad = cli(['export', '--model', dir, '--format', 'tflite', '--quantize', 'uint8', '--out', path.join(tmp, 'cli-bad'), '--backend', 'cpu']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--quantize uint8 is not available for --format tflite/);
    needRuntime(this);
    const out = path.join(tmp, 'cli-tflite');
    const r = cli(['export', '--model', dir, '--format', 'tflite', '--quantize', 'float16', '--out', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /parity mnv2_student_s tflite float16 vs the in-memory model on portrait frames 1x32x32x3: max \|P\(person\) diff\| \S+ \(tolerance 0.01, max \|logits diff\| \S+ where \|logits\| < 10\) OK/);
    assert.ok(fs.existsSync(path.join(out, 'model.tflite')));
  });

  it('the TFLite export check fails on one corrupted weight: a ParityError naming model, format, max |P diff| and tolerance', async function () {
    needRuntime(this);
    const { model, meta } = createModel('mnv2_student_s', STUDENT, { seed: 5 });
    const out = path.join(tmp, 'gate-tflite');
    try {
      assert.ok((await exportModel(model, meta, { format: 'tflite', out })).parity.ok);
      const bad = corruptOneWeight(model);
      try {
        await assert.rejects(checkExport(model, meta, { format: 'tflite', out }), (e: Error) => {
          assert.ok(e instanceof ParityError, String(e));
          assert.match(e.message, /^parity check failed: mnv2_student_s tflite vs the in-memory model: max \|P\(person\) diff\| \S+ > tolerance 0\.001 \(portrait frames 1x32x32x3\)$/);
          return true;
        });
      } finally {
        bad.restore();
      }
      assert.ok((await checkExport(model, meta, { format: 'tflite', out })).ok);
    } finally {
      model.dispose();
    }
  });
});
