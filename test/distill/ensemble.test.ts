import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultConfig, Config } from '../../src/config/config';
import { resolveConfig } from '../../src/config/load';
import { createModel } from '../../src/models/registry';
import { saveModel } from '../../src/models/io';
import { writePng } from '../../src/util/image';
import { makeRng } from '../../src/util/rng';
import { selectBackend } from '../../src/backend';
import { distillStudent } from '../../src/recipes/student';
import { freezeModel, FrozenTeacher, TeacherTargets } from '../../src/distill/teacher';
import { loadTeacherSet, type ExternalLoader } from '../../src/distill/student';
import { downscaleBatch, ensembleTeacher, largestFrame, ownResolutionBatches, teacherReport } from '../../src/distill/ensemble';
import { areaResize } from '../../src/distill/area';
import { mirror } from '../../src/eval/tta';
import type { HostBatch } from '../../src/data/types';
import { cli } from '../helpers/cli';

const S = 32;
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `pseg-ens-${p}-`));

/** A frozen teacher with constant logit `v` at every pixel, or one computing a fixed function. */
function constTeacher(v: number, name: string, frameSize: [number, number] | null = null): FrozenTeacher {
  return {
    kind: 'external',
    describe: name,
    frameSize,
    featureChannels: null,
    meta: null,
    predict: (frames) => ({ logits: tf.fill([frames.shape[0], frames.shape[1], frames.shape[2], 1], v) as tf.Tensor4D }),
    weightChecksum: () => v,
    dispose: () => {},
  };
}

/** logit = 6 * (R of the pixel to the right - R of the pixel): not mirror-symmetric. */
function asymTeacher(): FrozenTeacher {
  const input = tf.input({ shape: [null, null, 3] });
  const k = tf.tensor4d([0, 0, 0, -6, 0, 0, 6, 0, 0], [1, 3, 3, 1]);
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: [1, 3], padding: 'same', weights: [k, tf.tensor1d([0.1])] });
  return freezeModel(tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor }), null, 'asym');
}

async function writeTinyDataset(dir: string, n: number, seed: number, labeled = true): Promise<void> {
  const rng = makeRng(seed);
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  if (labeled) fs.mkdirSync(path.join(dir, 'masks'), { recursive: true });
  for (let k = 0; k < n; k++) {
    const img = new Uint8Array(S * S * 3);
    const mask = new Uint8Array(S * S);
    const cx = rng.uniform(10, 22), cy = rng.uniform(12, 24), rx = rng.uniform(5, 10), ry = rng.uniform(7, 13);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
        mask[y * S + x] = inside ? 255 : 0;
        for (let c = 0; c < 3; c++) img[(y * S + x) * 3 + c] = inside ? 200 - 40 * c : rng.int(0, 110);
      }
    }
    await writePng(path.join(dir, 'images', `${k}.png`), img, S, S, 3);
    if (labeled) await writePng(path.join(dir, 'masks', `${k}.png`), mask, S, S, 1);
  }
}

function tinyCfg(over: (c: Config) => void = () => {}): Config {
  const c = defaultConfig();
  c.seed = 3;
  c.backend = 'cpu';
  c.threads = 1;
  c.model = { name: 'mnv2_student_s', args: { inputSize: [S, S] } };
  c.data.cacheDir = null;
  c.data.valFraction = 0;
  c.data.prefetch = 1;
  c.augment.train = [{ name: 'flip', p: 0.5 }, { name: 'rotate', p: 0.5, maxDegrees: 10 }];
  c.train.batchSize = 2;
  c.train.images = 2;
  c.train.warmupImages = 2;
  c.train.logEvery = 1000;
  c.train.checkpointEvery = 2;
  c.train.keep = 0;
  c.train.evalEvery = 1000;
  over(c);
  return c;
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => w.dataSync() as Float32Array);
const sig = (x: number) => 1 / (1 + Math.exp(-x));

describe('distill/ensemble (teacher ensembles, flip TTA, own resolution)', function () {
  this.timeout(120000);
  let dataDir: string;
  let unlabeledDir: string;
  let teacherA: string;
  let teacherB: string;
  let teacher64: string;

  before(async () => {
    await selectBackend('cpu');
    const root = tmp('fixture');
    dataDir = path.join(root, 'data');
    unlabeledDir = path.join(root, 'unlabeled');
    await writeTinyDataset(dataDir, 6, 1);
    await writeTinyDataset(unlabeledDir, 3, 2, false);
    for (const [dir, seed, size] of [['a', 5, S], ['b', 6, S], ['t64', 7, 64]] as const) {
      const { model, meta } = createModel('unet_teacher_s', { inputSize: [size, size] }, { seed });
      await saveModel(path.join(root, dir), model, meta);
      model.dispose();
    }
    teacherA = path.join(root, 'a');
    teacherB = path.join(root, 'b');
    teacher64 = path.join(root, 't64');
  });

  it('cli: --teacher repeats (each one checked), per-teacher options parsed, --help names the config keys', () => {
    const a = cli(['distill', 'student', '--teacher', teacherA, '--teacher', '/nonexistent/t2', '--data', dataDir]);
    assert.equal(a.code, 2);
    assert.equal(a.stderr.trim(), 'portraitseg: error: --teacher /nonexistent/t2: not found');
    const b = cli(['distill', 'student', '--teacher', teacherA, '--teacher', `${teacherB},range=0..1`, '--data', dataDir]);
    assert.equal(b.code, 2);
    assert.match(b.stderr.trim(), /^portraitseg: error: --teacher .*,range=0\.\.1: unknown option "range"/);
    const h = cli(['distill', 'student', '--help']);
    for (const k of ['distill.teachers', 'distill.teacherFlip', '--teacher-flip', 'inputSize=WxH']) assert.ok(h.stdout.includes(k), k);
  });

  it('an ensemble of two teachers is the mean of their probabilities (golden); one without flip is that teacher', () => {
    const a = constTeacher(2, 'a');
    const b = constTeacher(-1, 'b', [64, 64]);
    assert.equal(ensembleTeacher([a], false), a);
    const e = ensembleTeacher([a, b], false);
    assert.deepEqual(e.frameSize, [64, 64]);
    assert.match(e.describe, /^ensemble of 2: a \+ b$/);
    const x = tf.zeros([2, 4, 6, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = e.predict(x, false);
    const want = (sig(2) + sig(-1)) / 2;
    const got = out.logits.dataSync();
    assert.equal(got.length, 2 * 4 * 6);
    for (const v of got) assert.ok(Math.abs(sig(v) - want) < 1e-6, `${sig(v)} vs ${want}`);
    out.logits.dispose();
    assert.equal(tf.memory().numTensors, before, 'no leaks');
    assert.throws(() => e.predict(x, true), /no "features" map; set distill.feature=0/);
    assert.equal(e.weightChecksum(), 1);
    x.dispose();
  });

  it('flip TTA is exact: mean of P(frame) and the mirror of P(mirrored frame)', () => {
    const t = asymTeacher();
    const rng = makeRng(4);
    const x = tf.tensor4d(Float32Array.from({ length: 5 * 7 * 3 }, () => rng.next()), [1, 5, 7, 3]);
    const flipped = ensembleTeacher([t], true);
    const got = flipped.predict(x, false).logits;
    const want = tf.tidy(() => {
      const p = t.predict(x, false).logits.sigmoid().add(mirror(t.predict(mirror(x), false).logits.sigmoid() as tf.Tensor4D)).div(2);
      return p.div(tf.scalar(1).sub(p)).log();
    });
    const plain = t.predict(x, false).logits;
    const d = tf.tidy(() => got.sub(want).abs().max().dataSync()[0]);
    const dPlain = tf.tidy(() => got.sub(plain).abs().max().dataSync()[0]);
    assert.ok(d < 1e-5, `flip TTA vs golden: ${d}`);
    assert.ok(dPlain > 0.05, 'flip changes an asymmetric teacher');
    tf.dispose([x, got, want, plain]);
    flipped.dispose();
  });

  it('config: distill.teachers entries validated with errors naming the key', async () => {
    assert.throws(() => resolveConfig({ set: ['distill.teacherFlip=maybe'] }), /distill.teacherFlip: expected true or false/);
    const bad = (teachers: unknown) => () => resolveConfig({ flags: { 'distill.teachers': teachers } });
    assert.throws(bad([{ path: 'x', inputRange: '0..2' }]), /^ConfigError: distill\.teachers\[0\]\.inputRange: expected one of 0\.\.1\|-1\.\.1\|0\.\.255/);
    assert.throws(bad([{ path: 'x', inputSize: [256] }]), /distill\.teachers\[0\]\.inputSize: expected an array of 2 numbers, got \[256\]/);
    assert.throws(bad([{ path: 'x', size: 3 }]), /distill\.teachers\[0\]\.size: unknown config key/);
    const ok = resolveConfig({ flags: { 'distill.teachers': [{ path: teacherB }] } });
    assert.deepEqual(ok.distill.teachers, [{ path: teacherB, inputSize: null, inputRange: null, output: null }]);
    const empty = tinyCfg((c) => (c.distill.teachers = [{ path: '', inputSize: null, inputRange: null, output: null }]));
    await assert.rejects(loadTeacherSet(teacherA, empty), /distill\.teachers\[0\]\.path: empty/);
    const missing = tinyCfg((c) => (c.distill.teachers = [{ path: '/nonexistent/t2', inputSize: null, inputRange: null, output: null }]));
    await assert.rejects(loadTeacherSet(teacherA, missing), /distill\.teachers\[0\]\.path \/nonexistent\/t2: not found/);
    assert.equal(await loadTeacherSet(null, tinyCfg()), null);
  });

  it('distill student with two teachers + flip: prints each teacher and the ensemble on validation, trains', async () => {
    const lines: string[] = [];
    const cfg = tinyCfg((c) => {
      c.data.path = dataDir;
      c.data.valFraction = 0.34;
      c.distill.teacher = teacherA;
      c.distill.teachers = [{ path: teacherB, inputSize: null, inputRange: null, output: null }];
      c.distill.teacherFlip = true;
    });
    const r = await distillStudent({ cfg, out: tmp('two'), log: (l) => lines.push(l) });
    r.model.dispose();
    assert.ok(Number.isFinite(r.lastStep!.loss));
    const rep = lines.filter((l) => l.startsWith('teacher on validation'));
    assert.equal(rep.length, 3, lines.join('\n'));
    assert.match(rep[0], /^teacher on validation \(\d+ images? at 32x32\): mIoU \d\.\d{4}, boundary F \d\.\d{4} \| unet_teacher_s from .*a/);
    assert.match(rep[2], /\| ensemble of 2: .* \+ .*, with flip TTA$/);
    assert.match(r.teacher, /^ensemble of 2/);
  });

  it('teacherReport: a member scores like eval of that member alone; the ensemble of one teacher twice equals it', async () => {
    const rng = makeRng(9);
    const n = 3, h = 8, w = 8;
    const b: HostBatch = { size: n, height: h, width: w, images: Float32Array.from({ length: n * h * w * 3 }, () => rng.next()), masks: Float32Array.from({ length: n * h * w }, (_, i) => (i % w < 4 ? 1 : 0)), hasMask: new Uint8Array(n).fill(1), ids: ['0', '1', '2'] };
    const t = asymTeacher();
    const s = await teacherReport(ensembleTeacher([t, t], false), [b], tinyCfg());
    assert.equal(s.length, 3);
    assert.ok(Math.abs(s[0].miou - s[2].miou) < 1e-9 && s[0].miou === s[1].miou);
    t.dispose();
  });

  it('area resize: exact block means for integer factors, weights sum to one otherwise', () => {
    const src = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]); // 4x4, one channel
    assert.deepEqual(Array.from(areaResize(src, 1, 4, 4, 1, 2, 2)), [3.5, 5.5, 11.5, 13.5]);
    const ones = new Float32Array(5 * 7 * 3).fill(0.25);
    for (const v of areaResize(ones, 1, 5, 7, 3, 3, 4)) assert.ok(Math.abs(v - 0.25) < 1e-6);
    const m = downscaleBatch({ size: 1, height: 4, width: 4, images: new Float32Array(48), masks: Float32Array.from([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), hasMask: Uint8Array.of(1), ids: ['x'] }, 2, 2, true);
    assert.deepEqual(Array.from(m.masks), [0.75, 0, 0, 0]);
    assert.deepEqual(Array.from(downscaleBatch({ ...m, height: 2, width: 2, images: new Float32Array(12) }, 1, 1, false).masks), [0]);
    assert.deepEqual(largestFrame([null, [4, 4], [8, 2], [3, 9]]), [3, 9]);
  });

  it('own resolution: the teacher gets frames of its size, the student of its size; targets brought down', async () => {
    const seen: number[][] = [];
    // an external teacher (injected loader) at 64x64 that records what it is given
    const loadExternal: ExternalLoader = async () => ({
      inputSize: [64, 64],
      describe: 'recording 64x64 teacher',
      predictLogits: (frames) => {
        seen.push(frames.shape.slice());
        return tf.tidy(() => frames.mean(3, true).sub(0.4).mul(5) as tf.Tensor4D);
      },
      dispose: () => {},
    });
    const extDir = tmp('ext');
    fs.writeFileSync(path.join(extDir, 'model.json'), '{}');
    const lines: string[] = [];
    const stepImages: number[][] = [];
    const cfg = tinyCfg((c) => {
      c.data.path = dataDir;
      c.data.unlabeled = [unlabeledDir];
      c.distill.teacher = extDir;
      c.train.images = 4;
    });
    const r = await distillStudent({ cfg, out: tmp('own'), log: (l) => lines.push(l), loadExternal, callbacks: [{ onStepEnd: (_c, l) => stepImages.push([l.loss]) }] });
    r.model.dispose();
    assert.ok(lines.some((l) => /teacher labels 64x64 frames .* area-downsampled to 32x32/.test(l)), lines.join('\n'));
    const training = seen.filter((s) => s[0] > 1);
    assert.ok(training.length >= 2, `teacher calls: ${JSON.stringify(seen)}`);
    for (const s of training) assert.deepEqual(s.slice(1), [64, 64, 3]);
    assert.ok(stepImages.length === 2 && stepImages.every(([l]) => Number.isFinite(l)), 'finite losses');
    // the student's frames are the teacher's, downsampled; targets come back at 32x32
    const big: HostBatch = { size: 1, height: 64, width: 64, images: new Float32Array(64 * 64 * 3).fill(0.8), masks: new Float32Array(64 * 64).fill(1), hasMask: Uint8Array.of(1), ids: ['x'] };
    const targets = new TeacherTargets(constTeacher(1.5, 'c', [64, 64]), { cache: true, withFeatures: false });
    async function* one() {
      yield big;
    }
    const it = ownResolutionBatches(one(), [S, S], targets, false);
    const small = (await it.next()).value as HostBatch;
    assert.equal(small.height, S);
    assert.equal(small.images.length, S * S * 3);
    const t = targets.targets(tf.tensor4d(small.images, [1, S, S, 3]));
    assert.deepEqual(t.logits.shape, [1, S, S, 1]);
    assert.ok(Math.abs(t.logits.dataSync()[7] - 1.5) < 1e-4);
    assert.equal(targets.stats.misses, 1, 'served from the prefetched 64x64 labels');
    t.logits.dispose();
  });

  it('own resolution: a distillation run resumes bit for bit (N + resume + M == N + M straight)', async () => {
    const cfg = tinyCfg((c) => {
      c.data.path = dataDir;
      c.data.unlabeled = [unlabeledDir];
      c.distill.teacher = teacher64;
      c.distill.teacherFlip = true;
    });
    const quiet = () => {};
    const straight = await distillStudent({ cfg: { ...cfg, train: { ...cfg.train, images: 4 } }, out: tmp('straight'), log: quiet });
    const w1 = weightsOf(straight.model);
    straight.model.dispose();
    const part = tmp('part');
    (await distillStudent({ cfg, out: part, log: quiet })).model.dispose();
    const lines: string[] = [];
    const second = await distillStudent({ cfg: defaultConfig(), resume: part, images: 4, log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /teacher labels 64x64 frames/.test(l)));
    const w2 = weightsOf(second.model);
    second.model.dispose();
    w1.forEach((w, i) => assert.deepEqual(Buffer.from(w2[i].buffer), Buffer.from(w.buffer), `weight ${i} differs`));
  });
});
