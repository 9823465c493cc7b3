import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { evaluate, modelSegmenter, type Segmenter } from '../../src/eval/evaluate';
import { averagedLogits, ensembleSegmenter, meanProbability, mirror, parseModelOptions, probToLogits } from '../../src/eval/tta';
import { runEval } from '../../src/eval/run';
import { defaultConfig } from '../../src/config/config';
import { saveModel } from '../../src/models/io';
import type { ModelMeta } from '../../src/models/types';
import type { Sample } from '../../src/data/types';
import { writePng } from '../../src/util/image';
import { makeRng } from '../../src/util/rng';

const META: ModelMeta = { name: 'tiny', args: {}, family: 'teacher', inputSize: [16, 16], frameSize: [16, 16], mean: [0, 0, 0], std: [1, 1, 1], output: 'logits', stride: 1, maskFilter: null, params: 4, version: 'test' };

/** logit = k * (mean(rgb) - 0.5): pixel-wise, so flip-equivariant (a mirrored frame gives the mirrored output). */
function symmetricModel(k = 20): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 1, weights: [tf.fill([1, 1, 3, 1], k / 3), tf.tensor1d([-k / 2])] });
  return tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
}

/** logit = 8 * (pixel to the right - pixel itself): a 1x3 kernel that is not mirror-symmetric. */
function asymmetricModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const k = tf.tensor4d([0, 0, 0, -8 / 3, -8 / 3, -8 / 3, 8 / 3, 8 / 3, 8 / 3], [1, 3, 3, 1]);
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: [1, 3], padding: 'same', weights: [k, tf.tensor1d([0.3])] });
  return tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
}

function randomFrame(seed: number, h = 8, w = 12): tf.Tensor4D {
  const rng = makeRng(seed);
  return tf.tensor4d(Float32Array.from({ length: h * w * 3 }, () => rng.next()), [1, h, w, 3]);
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);

describe('eval/tta (flip and ensembles)', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('mirror is exact: column j becomes column W-1-j, and twice is the identity', () => {
    const x = randomFrame(1);
    const m = mirror(x);
    const xs = x.arraySync()[0];
    const ms = m.arraySync()[0];
    for (let y = 0; y < 8; y++) for (let j = 0; j < 12; j++) assert.deepEqual(ms[y][j], xs[y][11 - j]);
    assert.equal(maxAbs(mirror(m), x), 0);
    tf.dispose([x, m]);
  });

  it('flip: an asymmetric model changes, a flip-symmetric one does not; the value is the golden mean', () => {
    const x = randomFrame(2);
    const asym = asymmetricModel();
    const sym = symmetricModel(4);
    const before = tf.memory().numTensors;
    const fa = (f: tf.Tensor4D) => asym.apply(f) as tf.Tensor4D;
    const fs_ = (f: tf.Tensor4D) => sym.apply(f) as tf.Tensor4D;
    const plainA = fa(x);
    const flipA = averagedLogits([fa], x, true);
    assert.ok(maxAbs(plainA, flipA) > 0.05, 'the asymmetric model gives another result with flip');
    // golden: logit((sigmoid(f(x)) + mirror(sigmoid(f(mirror(x))))) / 2)
    const want = tf.tidy(() => probToLogits(fa(x).sigmoid().add(mirror(fa(mirror(x)).sigmoid() as tf.Tensor4D)).div(2) as tf.Tensor4D));
    assert.ok(maxAbs(flipA, want) < 1e-6);
    const plainS = fs_(x);
    const flipS = averagedLogits([fs_], x, true);
    assert.ok(maxAbs(plainS, flipS) < 1e-5, `symmetric model: ${maxAbs(plainS, flipS)}`);
    tf.dispose([plainA, flipA, want, plainS, flipS]);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    tf.dispose(x);
    asym.dispose();
    sym.dispose();
  });

  it('ensemble: mean of the members probabilities (golden), one member without flip is that member', () => {
    const x = randomFrame(3);
    const a = (f: tf.Tensor4D) => tf.fill([1, 8, 12, 1], 2) as tf.Tensor4D; // P = sigmoid(2)
    const b = (f: tf.Tensor4D) => tf.fill([1, 8, 12, 1], -1) as tf.Tensor4D; // P = sigmoid(-1)
    const p = meanProbability([a, b], x, false);
    const want = (1 / (1 + Math.exp(-2)) + 1 / (1 + Math.exp(1))) / 2;
    assert.ok(Math.abs(p.dataSync()[0] - want) < 1e-6);
    const l = averagedLogits([a, b], x, false);
    assert.ok(Math.abs(l.dataSync()[5] - Math.log(want / (1 - want))) < 1e-4);
    const single: Segmenter = modelSegmenter(symmetricModel(), META);
    assert.equal(ensembleSegmenter([single], false), single);
    const both = ensembleSegmenter([single, modelSegmenter(asymmetricModel(), META)], true);
    assert.match(both.info.name, /^ensemble\(tiny \+ tiny\) \+flip$/);
    tf.dispose([x, p, l]);
    both.dispose();
  });

  it('per-model options: PATH,inputSize=WxH,inputRange=..,output=..; errors name the flag and the part', () => {
    assert.deepEqual(parseModelOptions('--model', 'a/model.json,inputSize=256x144,inputRange=-1..1,output=softmax1'), { path: 'a/model.json', inputSize: [144, 256], inputRange: '-1..1', output: 'softmax1' });
    assert.deepEqual(parseModelOptions('--teacher', 'runs/t'), { path: 'runs/t', inputSize: null, inputRange: null, output: null });
    assert.throws(() => parseModelOptions('--teacher', 'x,inputSize=big'), /^ConfigError: --teacher x,inputSize=big: inputSize=big: expected WIDTHxHEIGHT/);
    assert.throws(() => parseModelOptions('--teacher', 'x,output=prob'), /output=prob: expected one of sigmoid\|softmax1\|logits/);
    assert.throws(() => parseModelOptions('--model', 'x,size=3x3'), /unknown option "size"/);
  });

  it('runEval --flip on disk: symmetric model same mIoU, asymmetric model a different one; ensemble of two runs', async function () {
    this.timeout(30000);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-tta-'));
    const data = path.join(root, 'data');
    fs.mkdirSync(path.join(data, 'images'), { recursive: true });
    fs.mkdirSync(path.join(data, 'masks'), { recursive: true });
    const rng = makeRng(5);
    for (let k = 0; k < 3; k++) {
      const W = 20, H = 16;
      const img = Uint8Array.from({ length: W * H * 3 }, () => rng.int(0, 255));
      const mask = Uint8Array.from({ length: W * H }, (_, i) => ((i % W) < 8 + k ? 255 : 0));
      await writePng(path.join(data, 'images', `${k}.png`), img, W, H, 3);
      await writePng(path.join(data, 'masks', `${k}.png`), mask, W, H, 1);
    }
    const symDir = path.join(root, 'sym');
    const asymDir = path.join(root, 'asym');
    await saveModel(symDir, symmetricModel(), META);
    await saveModel(asymDir, asymmetricModel(), META);
    const cfg = defaultConfig();
    cfg.backend = 'cpu';
    const run = (model: string, flip: boolean, models: string[] = []) =>
      runEval({ config: cfg, model, models: models.map((m) => parseModelOptions('--model', m)), flip, data, split: 'all', external: false, reportFile: null, overlaysDir: null, stability: false });
    const s0 = await run(symDir, false);
    const s1 = await run(symDir, true);
    assert.ok(Math.abs(s0.miou - s1.miou) < 1e-9 && Math.abs(s0.mae - s1.mae) < 1e-5, `symmetric: ${s0.miou} vs ${s1.miou}`);
    const a0 = await run(asymDir, false);
    const a1 = await run(asymDir, true);
    assert.ok(Math.abs(a0.mae - a1.mae) > 1e-3, `asymmetric: MAE ${a0.mae} vs ${a1.mae}`);
    assert.match(a1.model.name, /\+flip$/);
    const ens = await run(symDir, false, [asymDir]);
    assert.match(ens.model.name, /^ensemble\(/);
    await assert.rejects(run(symDir, false, [path.join(root, 'nope')]), /--model .*nope: not found/);
  });

  it('evaluate() of a flip ensemble leaks no tensors', async () => {
    const seg = ensembleSegmenter([modelSegmenter(asymmetricModel(), META)], true);
    const s: Sample = { id: 'a', image: { width: 10, height: 6, data: new Uint8Array(180).fill(200) }, mask: { width: 10, height: 6, data: new Uint8Array(60).fill(255) } };
    await evaluate(seg, [s], { threshold: 0.5, boundaryTolerance: 1, worst: 0 });
    const before = tf.memory().numTensors;
    await evaluate(seg, [s, s], { threshold: 0.5, boundaryTolerance: 1, worst: 0 });
    assert.equal(tf.memory().numTensors, before);
    seg.dispose();
  });
});
