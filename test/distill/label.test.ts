import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultConfig } from '../../src/config/config';
import { saveModel } from '../../src/models/io';
import type { ModelMeta } from '../../src/models/types';
import type { Sample } from '../../src/data/types';
import { selectBackend } from '../../src/backend';
import { labelDataset } from '../../src/distill/label';
import { distillStudent } from '../../src/recipes/student';
import { meanProbability } from '../../src/eval/tta';
import { decodeMask, loadSample, trivialMaskReason } from '../../src/data/sample';
import { openDataset } from '../../src/data/dataset';
import { rotateSample, scaleCropSample, flipSample } from '../../src/augment/geometric';
import { backgroundSwap } from '../../src/augment/background';
import { writePng } from '../../src/util/image';
import { makeRng } from '../../src/util/rng';
import { cli } from '../helpers/cli';

const META: ModelMeta = { name: 'tiny', args: {}, family: 'teacher', inputSize: [16, 16], frameSize: [16, 16], mean: [0, 0, 0], std: [1, 1, 1], output: 'logits', stride: 1, maskFilter: null, params: 4, version: 'test' };
const W = 24, H = 20;
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `pseg-label-${p}-`));

/** A position-dependent (not flip-symmetric) tiny teacher with soft outputs. */
function asymModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const k = tf.tensor4d([0, 0, 0, -3, -1, 0, 3, 1, 0], [1, 3, 3, 1]);
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: [1, 3], padding: 'same', weights: [k, tf.tensor1d([0.2])] });
  return tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
}
function brightModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 1, weights: [tf.fill([1, 1, 3, 1], 2), tf.tensor1d([-3])] });
  return tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
}

async function writeSet(dir: string, n: number, seed: number, labeled: boolean): Promise<Uint8Array[]> {
  const rng = makeRng(seed);
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  if (labeled) fs.mkdirSync(path.join(dir, 'masks'), { recursive: true });
  const imgs: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const img = Uint8Array.from({ length: W * H * 3 }, (_, i) => Math.min(255, rng.int(0, 120) + ((i / 3) % W > W / 2 ? 120 : 0)));
    imgs.push(img);
    await writePng(path.join(dir, 'images', `p${k}.png`), img, W, H, 3);
    if (labeled) await writePng(path.join(dir, 'masks', `p${k}.png`), Uint8Array.from({ length: W * H }, (_, i) => (i % W > W / 2 ? 255 : 0)), W, H, 1);
  }
  return imgs;
}

describe('distill/label (label once, train many times)', function () {
  this.timeout(120000);
  let root: string;
  let data: string;
  let unl: string;
  let asym: string;
  let bright: string;
  let imgs: Uint8Array[];
  let uimgs: Uint8Array[];

  before(async () => {
    await selectBackend('cpu');
    root = tmp('fx');
    data = path.join(root, 'data');
    unl = path.join(root, 'unl');
    imgs = await writeSet(data, 3, 1, true);
    uimgs = await writeSet(unl, 2, 2, false);
    // unlabeled names differ from the labeled ones in content but not in name: the label folder must keep both
    asym = path.join(root, 'asym');
    bright = path.join(root, 'bright');
    await saveModel(asym, asymModel(), META);
    await saveModel(bright, brightModel(), META);
  });

  it('writes masks equal to round(255 * P) of the teacher, images linked, label.json; never overwrites', async () => {
    const out = path.join(root, 'labels');
    const cfg = defaultConfig();
    cfg.backend = 'cpu';
    const inputsBefore = fs.readdirSync(path.join(data, 'masks')).map((f) => fs.readFileSync(path.join(data, 'masks', f)));
    const r = await labelDataset({ cfg, teachers: [{ path: asym, inputSize: null, inputRange: null, output: null }], flip: false, data, unlabeled: [unl], out });
    assert.equal(r.count, 5);
    const m = asymModel();
    const all = [...imgs.map((im, k) => ({ im, id: `p${k}` })), ...uimgs.map((im, k) => ({ im, id: `unl-p${k}` }))];
    let soft = 0;
    for (const { im, id } of all) {
      const want = tf.tidy(() => (m.predict(tf.tensor4d(im, [1, H, W, 3], 'int32').toFloat().div(255)) as tf.Tensor).sigmoid().mul(255).round().dataSync());
      const got = (await decodeMask(path.join(out, 'masks', `${id}.png`))).data;
      assert.equal(got.length, W * H);
      // round(255 * P): equal, or one off where 255 * P sits at .5 and the teacher's kernels differ in the last float bit
      let exact = 0;
      for (let i = 0; i < got.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= 1, `${id} px ${i}: ${got[i]} vs ${want[i]}`);
        if (got[i] === want[i]) exact++;
      }
      assert.ok(exact >= got.length - 2, `${id}: ${got.length - exact} pixels one off`);
      soft += Array.from(got).filter((v) => v > 0 && v < 255).length;
    }
    assert.ok(soft > 100, 'the masks are soft');
    const man = JSON.parse(fs.readFileSync(path.join(out, 'label.json'), 'utf8'));
    assert.equal(man.count, 5);
    assert.equal(man.teachers[0].path, asym);
    assert.match(man.teacher, /tiny/);
    assert.equal(man.flip, false);
    const st = fs.statSync(path.join(out, 'images', 'p0.png'));
    assert.equal(st.ino, fs.statSync(path.join(data, 'images', 'p0.png')).ino, 'hard-linked');
    assert.deepEqual(fs.readdirSync(path.join(data, 'masks')).map((f) => fs.readFileSync(path.join(data, 'masks', f))), inputsBefore, 'inputs untouched');
    assert.equal(fs.readdirSync(root).filter((f) => f.includes('.tmp-')).length, 0, 'no temp folder left');
    await assert.rejects(labelDataset({ cfg, teachers: [{ path: asym, inputSize: null, inputRange: null, output: null }], flip: false, data, unlabeled: [], out }), /--out .*labels: already exists/);
    await assert.rejects(labelDataset({ cfg, teachers: [{ path: asym, inputSize: null, inputRange: null, output: null }], flip: false, data, unlabeled: [], out: path.join(data, 'x') }), /inside the input/);
    // the folder is a dataset the loader reads, with soft masks kept soft
    const ds = await openDataset(out, { labeled: true });
    assert.equal(ds.refs.length, 5);
    const s = await loadSample(ds.refs[0], { frameSize: null, maskMode: 'soft' });
    assert.ok(s.mask!.data.some((v) => v > 0 && v < 255));
  });

  it('an ensemble with flip: masks are round(255 * mean P) over both teachers and the mirrors', async () => {
    const out = path.join(root, 'labels-ens');
    const cfg = defaultConfig();
    cfg.backend = 'cpu';
    await labelDataset({ cfg, teachers: [asym, bright].map((p) => ({ path: p, inputSize: null, inputRange: null, output: null })), flip: true, data, unlabeled: [], out });
    const [a, b] = [asymModel(), brightModel()];
    const frame = tf.tidy(() => tf.tensor4d(imgs[1], [1, H, W, 3], 'int32').toFloat().div(255) as tf.Tensor4D);
    const p = meanProbability([(x) => a.predict(x) as tf.Tensor4D, (x) => b.predict(x) as tf.Tensor4D], frame, true);
    const want = tf.tidy(() => p.mul(255).round().dataSync());
    const got = (await decodeMask(path.join(out, 'masks', 'p1.png'))).data;
    let maxd = 0;
    for (let i = 0; i < got.length; i++) maxd = Math.max(maxd, Math.abs(got[i] - want[i]));
    assert.ok(maxd <= 1, `max diff ${maxd} (logit round trip of the ensemble)`);
    const man = JSON.parse(fs.readFileSync(path.join(out, 'label.json'), 'utf8'));
    assert.equal(man.teachers.length, 2);
    assert.equal(man.flip, true);
    tf.dispose([frame, p]);
  });

  it('soft labels: transforms keep them soft and moving with the image; the trivial rule keeps non-constant soft masks', () => {
    const w = 16, h = 12;
    const mask = Uint8Array.from({ length: w * h }, (_, i) => Math.round((255 * (i % w)) / (w - 1) * 0.4)); // a ramp 0..102: no pixel > 127
    const s: Sample = { id: 's', image: { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => ((i / 3) % w) * 10) }, mask: { width: w, height: h, data: mask } };
    assert.match(trivialMaskReason(s.mask!) ?? '', /no person pixels/, 'binary mode: dropped');
    assert.equal(trivialMaskReason(s.mask!, 'soft'), null, 'soft mode: a teacher label of a photo with little person is kept');
    assert.match(trivialMaskReason({ width: 2, height: 1, data: Uint8Array.of(7, 7) }, 'soft') ?? '', /empty mask/);
    const f = flipSample(s);
    for (let x = 0; x < w; x++) assert.equal(f.mask!.data[x], mask[w - 1 - x], 'flip moves the soft mask with the image');
    const isSoft = (m: Uint8Array) => m.some((v) => v > 0 && v < 255 && v !== 102);
    assert.ok(isSoft(rotateSample(s, 7).mask!.data), 'rotate keeps soft values');
    const sc = scaleCropSample(s, 1.2, 0.05, 0);
    assert.ok(isSoft(sc.mask!.data), 'scale/crop keeps soft values');
    // image and mask move together: the image value encodes x, the mask too (0.4 * 255 * x / 15)
    for (let i = 0; i < w * h; i += 7) {
      const x = sc.image.data[i * 3] / 10;
      assert.ok(Math.abs(sc.mask!.data[i] - (255 * 0.4 * x) / (w - 1)) <= 2.5, `pixel ${i}`);
    }
    const bs = backgroundSwap(s, makeRng(1), { feather: 0.01, lightWrap: 0, lightWrapWidth: 0, colorMatch: 0, minCrop: 0.5, defocus: 0, choke: 0, edgeClean: 0 }, []);
    assert.notDeepEqual(bs.image.data, s.image.data, 'the background was swapped');
    assert.deepEqual(bs.mask!.data, mask, 'the background swap keeps the soft mask');
  });

  it('a 2-step training run on the labeled folder (data.maskMode=soft) works', async () => {
    const out = path.join(root, 'labels-train');
    const cfg = defaultConfig();
    cfg.backend = 'cpu';
    await labelDataset({ cfg, teachers: [{ path: asym, inputSize: null, inputRange: null, output: null }], flip: false, data, unlabeled: [unl], out });
    const c = defaultConfig();
    c.seed = 1;
    c.backend = 'cpu';
    c.threads = 1;
    c.model = { name: 'mnv2_student_s', args: { inputSize: [32, 32] } };
    c.data.path = out;
    c.data.maskMode = 'soft';
    c.data.cacheDir = null;
    c.data.valFraction = 0;
    c.augment.train = [{ name: 'flip', p: 0.5 }, { name: 'rotate', p: 0.5, maxDegrees: 10 }];
    c.distill.soft = 0;
    c.distill.boundary = 0;
    c.train.batchSize = 2;
    c.train.images = 4;
    c.train.warmupImages = 2;
    c.train.logEvery = 1000;
    c.train.checkpointEvery = 1000;
    c.train.evalEvery = 1000;
    const r = await distillStudent({ cfg: c, out: tmp('run'), log: () => {} });
    assert.equal(r.state.step, 2);
    assert.ok(Number.isFinite(r.lastStep!.loss));
    r.model.dispose();
  });

  it('cli: label needs photos; a bad per-teacher option is one line, exit 2', () => {
    const a = cli(['label', '--teacher', asym, '--out', path.join(root, 'x')]);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /label: give --data DIR and\/or --unlabeled DIR/);
    const b = cli(['label', '--teacher', `${asym},inputSize=big`, '--data', data, '--out', path.join(root, 'y'), '--backend', 'cpu']);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr.trim(), /^portraitseg: error: --teacher .*inputSize=big: expected WIDTHxHEIGHT/);
  });
});
