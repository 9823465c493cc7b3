import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { useWasm } from '../../src/backend';
import { ConfigError } from '../../src/config/schema';
import { countFlops, countMacs, createModel, CUSTOM_LAYER_CLASSES, DEFAULT_STUDENT, DEFAULT_TEACHER, listModels, registerCustomLayers } from '../../src/models';
import { resolveModelArgs } from '../../src/models/registry';

/** Small args so every registered model runs forward+backward quickly on cpu. */
function smallArgs(): Record<string, unknown> {
  return { inputSize: 32 };
}

function allFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => t.abs().max().dataSync()[0]);
}

async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  assert.ok(saved, 'save handler was not called');
  return tf.loadLayersModel(tf.io.fromMemory(saved));
}

describe('models: registry', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('lists the default teacher and student', () => {
    const names = listModels().map((m) => m.name);
    assert.ok(names.includes(DEFAULT_TEACHER) && names.includes(DEFAULT_STUDENT));
    assert.ok(listModels().find((m) => m.name === DEFAULT_TEACHER)!.family === 'teacher');
    assert.ok(listModels().find((m) => m.name === DEFAULT_STUDENT)!.family === 'student');
  });

  it('fails on an unknown name with the known names and a suggestion', () => {
    assert.throws(() => createModel('unet_techer_s'), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /model\.name: unknown model "unet_techer_s" \(did you mean "unet_teacher_s"\?\); known models: .*mnv2_student_s/);
      return true;
    });
  });

  it('fails on unknown and mistyped args naming model.args.<key>', () => {
    assert.throws(() => createModel('unet_teacher_s', { widht: 3 }), /model\.args\.widht: unknown argument for unet_teacher_s \(did you mean "widths"\?\)/);
    assert.throws(() => createModel('mnv2_student_s', { width: 'wide' }), /model\.args\.width: expected a number, got "wide"/);
    assert.throws(() => createModel('mnv2_student_s', { maskFilter: 1 }), /model\.args\.maskFilter: expected true or false/);
    assert.throws(() => createModel('unet_teacher_s', { inputSize: [130, 128] }), /model\.args\.inputSize \[130,128\] must be divisible by 16/);
    assert.throws(() => createModel('unet_teacher_s', { filterRadius: 1.5 }), /model\.args\.filterRadius: expected an integer/);
    assert.throws(() => createModel('unet_teacher_s', { widths: [1, 2] }), /model\.args\.widths: expected an array of 5 numbers/);
  });

  it('model.args sizes have upper bounds and reserved keys are refused (issue #18)', () => {
    // 65536x65536 used to pass and allocate gigabytes at the first forward pass
    assert.throws(() => createModel('unet_teacher_s', { inputSize: 65536 }), /^ConfigError: model\.args\.inputSize: expected an integer >= 8 or \[height, width\] \(each 8\.\.4096\), got 65536$/);
    assert.throws(() => createModel('mnv2_student_s', { inputSize: [128, 8192] }), /model\.args\.inputSize: expected .* got \[128,8192\]/);
    assert.throws(() => createModel('unet_teacher_s', { widths: [16, 32, 64, 96, 100000] }), /^ConfigError: model\.args\.widths\[4\]: must be <= 4096, got 100000$/);
    assert.throws(() => createModel('unet_teacher_s', { widths: [0, 32, 64, 96, 128] }), /model\.args\.widths\[0\]: must be >= 1, got 0/);
    assert.throws(() => createModel('unet_teacher_s_dgf', { filterScale: 64 }), /model\.args\.filterScale: must be <= 8, got 64/);
    assert.throws(() => createModel('mnv2_student_s', { width: 0 }), /model\.args\.width: must be > 0, got 0/);
    assert.throws(() => createModel('unet_teacher_s_dgf', { filterChannels: 257 }), /^ConfigError: model\.args\.filterChannels: must be <= 256, got 257$/);
    assert.throws(() => createModel('mnv2_student_s_dgf', { filterSpace: 'probs' }), /^ConfigError: model\.args\.filterSpace: expected one of prob\|logits, got "probs" \(did you mean "prob"\?\)$/);
    assert.throws(() => resolveModelArgs('mnv2_student_s_dgf', { inputSize: 4096, filterScale: 4 }), /^ConfigError: model\.args\.filterScale: a frame of \[16384,16384\] \(inputSize x filterScale\) is over 8192 per side$/);
    // the limits themselves are allowed (checked without building the net)
    assert.deepEqual(resolveModelArgs('unet_teacher_s', { inputSize: [4096, 2048] }).inputSize, [4096, 2048]);
    assert.throws(() => createModel('mnv2_student_s', JSON.parse('{"__proto__": {"width": 9}}')), /^ConfigError: model\.args\.__proto__: unknown config key/);
  });

  it('meta describes the model (sizes, normalisation, filter, params, version)', () => {
    const { model, meta } = createModel('unet_teacher_s_dgf', { inputSize: [64, 96] }, { seed: 1 });
    try {
      assert.deepEqual(meta.inputSize, [64, 96]);
      assert.deepEqual(meta.frameSize, [128, 192]);
      assert.equal(meta.output, 'logits');
      assert.equal(meta.stride, 16);
      assert.deepEqual(meta.maskFilter, { enabled: true, radius: 4, eps: 0.001, scale: 2, space: 'prob' });
      assert.equal(meta.params, model.countParams());
      assert.match(meta.version, /^\d+\.\d+\.\d+/);
      assert.deepEqual(meta.args.inputSize, [64, 96]);
      assert.ok(model.getLayer('features'), 'features layer');
      // meta.args rebuilds the same architecture (checkpoints rely on it)
      const again = createModel(meta.name, meta.args);
      assert.deepEqual(again.meta, meta);
      again.model.dispose();
    } finally {
      model.dispose();
    }
  });

  it('default student is <= 1/5 of the default teacher in params and far cheaper in FLOPs', () => {
    const t = createModel(DEFAULT_TEACHER);
    const s = createModel(DEFAULT_STUDENT);
    try {
      assert.ok(t.meta.params >= 0.5e6 && t.meta.params <= 2e6, `teacher params ${t.meta.params}`);
      assert.ok(s.meta.params * 5 <= t.meta.params, `student ${s.meta.params} vs teacher ${t.meta.params}`);
      const tf1 = countFlops(t.model, [128, 128]);
      const sf = countFlops(s.model, [128, 128]);
      assert.ok(tf1 > 0.1 && sf > 0.005 && sf * 3 < tf1, `GFLOPs teacher ${tf1} student ${sf}`);
      assert.ok(Math.abs(countFlops(t.meta) - tf1) < 1e-9);
    } finally {
      t.model.dispose();
      s.model.dispose();
    }
  });

  it('same seed gives identical weights, another seed different ones', () => {
    const a = createModel('mnv2_student_xs', { inputSize: 32, maskFilter: true }, { seed: 7 });
    const b = createModel('mnv2_student_xs', { inputSize: 32, maskFilter: true }, { seed: 7 });
    const c = createModel('mnv2_student_xs', { inputSize: 32, maskFilter: true }, { seed: 8 });
    try {
      const wa = a.model.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer));
      const wb = b.model.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer));
      const wc = c.model.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer));
      assert.equal(wa.length, wb.length);
      wa.forEach((w, i) => assert.ok(w.equals(wb[i]), `weight ${i} differs for equal seeds`));
      assert.ok(wa.some((w, i) => !w.equals(wc[i])), 'different seeds gave identical weights');
    } finally {
      [a, b, c].forEach((m) => m.model.dispose());
    }
  });

  it('countMacs counts conv, depthwise and dense multiply-accumulates', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }),
      ],
    });
    try {
      // 8*8*9*3*4 + 4*4*9*4 + 64*5
      assert.equal(countMacs(m, [8, 8]), 6912 + 576 + 320);
      assert.ok(Math.abs(countFlops(m, [8, 8]) - (2 * 7808) / 1e9) < 1e-15);
    } finally {
      m.dispose();
    }
  });

  it('registerCustomLayers registers every custom layer class, and a second call changes nothing', async () => {
    registerCustomLayers();
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    const registered = CUSTOM_LAYER_CLASSES.map((c) => map[c]?.[0]);
    for (const [i, c] of CUSTOM_LAYER_CLASSES.entries()) assert.ok(registered[i], `${c} is not registered`);
    registerCustomLayers();
    assert.deepEqual(CUSTOM_LAYER_CLASSES.map((c) => map[c]?.[0]), registered, 'the same constructors after a second call');
    // and a model with custom layers (Normalize, the mask filter) loads back from its JSON
    const { model } = createModel('mnv2_student_s_dgf', smallArgs(), { seed: 1 });
    const back = await roundTrip(model);
    try {
      const classes = new Set(back.layers.map((l) => l.getClassName()));
      for (const c of ['Normalize', 'GuidedFilter']) assert.ok(classes.has(c), c);
    } finally {
      model.dispose();
      back.dispose();
    }
  });
});

describe('models: every registered model (wasm, the training backend)', () => {
  before(async function () {
    // wasm with portraitseg's training kernels: the path training takes, and ~10x faster than cpu here
    if (!(await useWasm())) this.skip();
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  const models = listModels();
  let ran = 0;
  after(() => {
    assert.ok(ran > 0 && ran === models.length, `ran ${ran} of ${models.length} models`);
  });

  for (const entry of models) {
    it(`${entry.name}: forward shapes, backward, no leaks, save/load round trip`, async () => {
      const { model, meta } = createModel(entry.name, smallArgs(), { seed: 3 });
      try {
        const before = tf.memory().numTensors;
        const [fh, fw] = meta.frameSize;
        const other: [number, number] = meta.maskFilter ? [48, 80] : [24, 40];
        const x = tf.randomUniform([2, fh, fw, 3], 0, 1, 'float32', 11);
        const x2 = tf.randomUniform([1, other[0], other[1], 3], 0, 1, 'float32', 12);
        const y = model.predict(x) as tf.Tensor;
        const y2 = model.predict(x2) as tf.Tensor;
        assert.deepEqual(y.shape, [2, fh, fw, 1]);
        assert.deepEqual(y2.shape, [1, other[0], other[1], 1]);
        assert.ok(allFinite(y) && allFinite(y2), 'non-finite output');

        // backward (training mode: BN uses batch statistics)
        const target = tf.randomUniform([2, fh, fw, 1], -1, 1, 'float32', 13);
        const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(
          () => tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).mul(target).mean() as tf.Scalar),
          vars,
        );
        assert.ok(vars.length > 0);
        for (const v of vars) {
          const g = grads[v.name];
          assert.ok(g, `no gradient for ${v.name}`);
          assert.ok(allFinite(g), `non-finite gradient for ${v.name}`);
          assert.ok(maxAbs(g) > 0, `zero gradient for ${v.name}`);
        }
        tf.dispose([value, target, ...Object.values(grads)]);

        // serialise -> load: identical outputs (reference taken now: training mode moved the BN statistics)
        const ref = model.predict(x) as tf.Tensor;
        const loaded = await roundTrip(model);
        const z = loaded.predict(x) as tf.Tensor;
        const diff = tf.tidy(() => maxAbs(z.sub(ref)));
        ref.dispose();
        assert.ok(diff < 1e-5, `round trip changed the output by ${diff}`);
        loaded.dispose();
        tf.dispose([x, x2, y, y2, z]);
        // model.apply in training mode may have created no persistent tensors beyond BN stats updates
        assert.equal(tf.memory().numTensors, before, 'tensor leak');
        ran++;
      } finally {
        model.dispose();
      }
    });
  }
});
