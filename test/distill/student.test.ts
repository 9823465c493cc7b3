import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultConfig, Config } from '../../src/config/config';
import { createModel } from '../../src/models/registry';
import { saveModel, train, createOptimizer, warmupCosine, fileSaveHandler, readModelArtifacts } from '../../src/train';
import type { HostBatch } from '../../src/data/types';
import { writePng } from '../../src/util/image';
import { makeRng } from '../../src/util/rng';
import { distillStudent } from '../../src/recipes/student';
import {
  makeDistillLossFn,
  mergeBatches,
  unlabeledRows,
  loadTeacher,
} from '../../src/distill/student';
import { FeatureAdapter } from '../../src/distill/losses';
import { freezeModel, TeacherTargets, checkCompatible } from '../../src/distill/teacher';
import { makeParallelTrainStep, sliceBatch } from '../../src/backend/parallel';
import { selectBackend } from '../../src/backend';
import { makeTrainStep, trainableVariables } from '../../src/train/loop';
import { relErr } from '../helpers/close';

const S = 32;

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pseg-distill-${prefix}-`));
}

/** A person-ish blob (ellipse) on a noisy background, and its mask. */
async function writeTinyDataset(dir: string, n: number, seed: number, labeled = true): Promise<void> {
  const rng = makeRng(seed);
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  if (labeled) fs.mkdirSync(path.join(dir, 'masks'), { recursive: true });
  for (let k = 0; k < n; k++) {
    const img = new Uint8Array(S * S * 3);
    const mask = new Uint8Array(S * S);
    const cx = rng.uniform(10, 22), cy = rng.uniform(12, 24), rx = rng.uniform(5, 10), ry = rng.uniform(7, 13);
    const fg = [rng.int(120, 250), rng.int(60, 200), rng.int(40, 180)];
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1 || (y > cy + ry * 0.6 && Math.abs(x - cx) < rx * 1.3);
        mask[y * S + x] = inside ? 255 : 0;
        for (let c = 0; c < 3; c++) img[(y * S + x) * 3 + c] = inside ? fg[c] : rng.int(0, 110);
      }
    }
    await writePng(path.join(dir, 'images', `${String(k).padStart(3, '0')}.png`), img, S, S, 3);
    if (labeled) await writePng(path.join(dir, 'masks', `${String(k).padStart(3, '0')}.png`), mask, S, S, 1);
  }
}

function tinyCfg(over: (c: Config) => void = () => {}): Config {
  const c = defaultConfig();
  c.seed = 3;
  c.backend = 'cpu';
  c.model = { name: 'mnv2_student_s', args: { inputSize: [S, S] } };
  c.data.cacheDir = null;
  c.data.valFraction = 0;
  c.data.prefetch = 1;
  c.augment.train = [{ name: 'flip', p: 0.5 }];
  c.train.batchSize = 2;
  c.train.images = 2;
  c.train.warmupImages = 2;
  c.train.logEvery = 1000;
  c.train.checkpointEvery = 2;
  c.train.keep = 0;
  c.train.evalEvery = 1000;
  c.distill.boundary = 0.25;
  over(c);
  return c;
}

function batchOf(n: number, labeled: boolean, seed: number): HostBatch {
  const rng = makeRng(seed);
  const images = new Float32Array(n * S * S * 3).map(() => rng.next());
  const masks = new Float32Array(n * S * S).map((_, i) => (labeled && (i % S) < S / 2 ? 1 : 0));
  return { size: n, height: S, width: S, images, masks, hasMask: new Uint8Array(n).fill(labeled ? 1 : 0), ids: Array.from({ length: n }, (_, i) => `r${seed}-${i}`) };
}

function weightsOf(m: tf.LayersModel): Float32Array[] {
  return m.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('distill/student', function () {
  let teacherDir: string;
  let dataDir: string;
  let unlabeledDir: string;

  before(async function () {
    await selectBackend('cpu');
    const root = tmp('fixture');
    teacherDir = path.join(root, 'teacher');
    dataDir = path.join(root, 'data');
    unlabeledDir = path.join(root, 'unlabeled');
    const { model, meta } = createModel('unet_teacher_s', { inputSize: [S, S] }, { seed: 5 });
    await saveModel(path.join(teacherDir, 'best'), model, meta);
    model.dispose();
    await writeTinyDataset(dataDir, 6, 1);
    await writeTinyDataset(unlabeledDir, 4, 2, false);
  });

  it('mixes batches: unlabeled rows per batch and row-wise merge', () => {
    assert.equal(unlabeledRows(8, 0.5, true), 4);
    assert.equal(unlabeledRows(8, 0.5, false), 0);
    assert.equal(unlabeledRows(2, 0.9, true), 1);
    assert.equal(unlabeledRows(4, 0.1, true), 1);
    assert.equal(unlabeledRows(4, 0, true), 0);
    const m = mergeBatches(batchOf(2, true, 1), batchOf(1, false, 2));
    assert.equal(m.size, 3);
    assert.deepEqual(Array.from(m.hasMask), [1, 1, 0]);
    assert.equal(m.images.length, 3 * S * S * 3);
    assert.equal(m.ids[2], 'r2-0');
  });

  it('gradients flow to the student and adapter only; the teacher is unchanged', async () => {
    const t = await loadTeacher(teacherDir, tinyCfg());
    const { model: student, meta } = createModel('mnv2_student_s', { inputSize: [S, S] }, { seed: 9 });
    checkCompatible(t, meta);
    const cfg = tinyCfg((c) => {
      c.distill.feature = 1;
      c.distill.featureMode = 'l2';
      c.distill.consistency = 1;
      c.distill.consistencyShift = 2;
    });
    const adapter = new FeatureAdapter(48, t.featureChannels!, 1);
    const targets = new TeacherTargets(t, { cache: true, withFeatures: true });
    const lossFn = makeDistillLossFn({ cfg, targets, student, adapter });
    const teacherSum = t.weightChecksum();
    const s0 = weightsOf(student);
    const a0 = adapter.getWeights().map((w) => w.dataSync().slice());
    const opt = createOptimizer({ name: 'adamw', weightDecay: 1e-4 });
    const seen: Record<string, number>[] = [];
    const counts: number[] = [];
    async function* batches() {
      yield batchOf(2, true, 11);
      yield mergeBatches(batchOf(1, true, 12), batchOf(1, false, 13));
      yield batchOf(2, false, 14);
    }
    await train({
      model: student, meta, batches: batches(), lossFn, optimizer: opt, schedule: warmupCosine({ lr: 1e-2, minLr: 1e-3, warmupImages: 0, totalImages: 4 }),
      totalImages: 6, batchSize: 2, extraVars: adapter.variables,
      callbacks: [{ onStepEnd: (_c, l) => { seen.push(l.parts); counts.push(tf.memory().numTensors); } }],
    });
    assert.deepEqual(Object.keys(seen[0]).sort(), ['boundary', 'consistency', 'feature', 'hard', 'soft']);
    for (const p of seen) for (const v of Object.values(p)) assert.ok(Number.isFinite(v));
    assert.equal(t.weightChecksum(), teacherSum, 'teacher weights changed');
    const s1 = weightsOf(student);
    assert.ok(s1.some((w, i) => w.some((v, j) => v !== s0[i][j])), 'student weights did not change');
    const a1 = adapter.getWeights().map((w) => w.dataSync());
    assert.ok(a1.every((w, i) => w.some((v, j) => v !== a0[i][j])), 'adapter weights did not change');
    opt.dispose();
    // No tensors leak per step (the first step creates the optimizer's slots).
    assert.equal(counts[2], counts[1], `leaked ${counts[2] - counts[1]} tensors in a step`);
    assert.equal(targets.stats.misses, 6);
    student.dispose();
    adapter.dispose();
    t.dispose();
  });

  it('unlabeled-only batches: no hard term, finite loss, non-zero gradients', async () => {
    const t = await loadTeacher(teacherDir, tinyCfg());
    const { model: student } = createModel('mnv2_student_s', { inputSize: [S, S] }, { seed: 9 });
    const targets = new TeacherTargets(t, { cache: false, withFeatures: false });
    const lossFn = makeDistillLossFn({ cfg: tinyCfg(), targets, student, adapter: null });
    const b = batchOf(2, false, 21);
    targets.prefetch(b);
    const images = tf.tensor4d(b.images, [2, S, S, 3]);
    const masks = tf.tensor4d(b.masks, [2, S, S, 1]);
    const hasMask = tf.tensor1d([0, 0]);
    const vars = student.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    let partNames: string[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const out = lossFn({ model: student, images, masks, hasMask, ids: b.ids, step: 0, training: true });
      partNames = Object.keys(out.parts);
      return out.total;
    }, vars);
    assert.deepEqual(partNames.sort(), ['boundary', 'soft']);
    assert.ok(Number.isFinite(value.dataSync()[0]) && value.dataSync()[0] > 0);
    const norm = tf.tidy(() => tf.addN(Object.values(grads).map((g) => g.square().sum())).sqrt().dataSync()[0]);
    assert.ok(norm > 0 && Number.isFinite(norm));
    assert.equal(targets.stats.misses, 2, 'prefetched rows were recomputed');
    assert.equal(targets.size, 0, 'without cache, prefetched rows are dropped after use');
    tf.dispose([value, ...Object.values(grads), images, masks, hasMask]);
    student.dispose();
    t.dispose();
  });

  it('the teacher cache serves repeated frames without recomputing', async () => {
    const t = await loadTeacher(teacherDir, tinyCfg());
    const targets = new TeacherTargets(t, { cache: true, withFeatures: false });
    const b = batchOf(2, true, 31);
    const x = tf.tensor4d(b.images, [2, S, S, 3]);
    const direct = t.predict(x, false);
    const first = targets.targets(x);
    const second = targets.targets(x);
    assert.deepEqual(targets.stats, { ...targets.stats, hits: 2, misses: 2 });
    assert.deepEqual(Array.from(second.logits.dataSync()), Array.from(direct.logits.dataSync()));
    tf.dispose([x, direct.logits, first.logits, second.logits]);
    t.dispose();
  });

  it('a distillation run resumes: N + resume + M == N + M straight (labeled + unlabeled)', async function () {
    const cfg = tinyCfg((c) => {
      c.data.path = dataDir;
      c.data.unlabeled = [unlabeledDir];
      c.distill.teacher = teacherDir;
    });
    const quiet = () => {};
    const straightDir = tmp('straight');
    const straight = await distillStudent({ cfg: { ...cfg, train: { ...cfg.train, images: 4 } }, out: straightDir, log: quiet });
    const wStraight = weightsOf(straight.model);
    assert.equal(straight.state.imagesSeen, 4);
    straight.model.dispose();

    const partDir = tmp('part');
    const first = await distillStudent({ cfg, out: partDir, log: quiet });
    assert.equal(first.state.imagesSeen, 2);
    first.model.dispose();
    assert.ok(fs.existsSync(path.join(partDir, 'last', 'state.json')));
    assert.ok(fs.existsSync(path.join(partDir, 'config.json')));
    const second = await distillStudent({ cfg: defaultConfig(), out: 'unused', resume: partDir, images: 4, log: quiet });
    assert.equal(second.state.imagesSeen, 4);
    assert.equal(second.runDir, partDir);
    const wResumed = weightsOf(second.model);
    second.model.dispose();
    assert.equal(wResumed.length, wStraight.length);
    wStraight.forEach((w, i) => assert.deepEqual(Buffer.from(wResumed[i].buffer), Buffer.from(w.buffer), `weight ${i} differs`));
  });

  it('data-parallel step: the worker labels its rows with its own teacher copy; equals the row-weighted mean of single-thread steps', async function () {
    this.timeout(120000);
    const cfg = tinyCfg((c) => (c.distill.teacher = teacherDir));
    const { model, meta } = createModel(cfg.model.name, cfg.model.args, { seed: 9 });
    const vars = trainableVariables(model);
    const teacher = await loadTeacher(teacherDir, cfg);
    const lossFn = makeDistillLossFn({ cfg, targets: new TeacherTargets(teacher, { cache: false, withFeatures: false }), student: model, adapter: null });
    // Second half: one labeled and one unlabeled row (the hard term normalises per half).
    const batch = mergeBatches(batchOf(3, true, 11), batchOf(1, false, 12));
    const parallel = await makeParallelTrainStep({
      workers: 1,
      model: { name: meta.name, args: meta.args },
      loss: { module: path.resolve(__dirname, '../../src/distill/student.ts'), exportName: 'workerDistillLossFn', options: { cfg, teacher: path.resolve(teacherDir), externalTeacher: false } },
      backend: 'cpu',
    });
    try {
      const step = makeTrainStep();
      const h0 = await step({ model, vars, batch: sliceBatch(batch, 0, 2), lossFn, microBatch: 2, step: 3 });
      const h1 = await step({ model, vars, batch: sliceBatch(batch, 2, 2), lossFn, microBatch: 2, step: 3 });
      const par = await parallel({ model, vars, batch, lossFn, microBatch: 4, step: 3 });
      assert.ok(Math.abs(par.loss - (h0.loss + h1.loss) / 2) < 1e-5, `loss ${par.loss} vs ${(h0.loss + h1.loss) / 2}`);
      assert.ok(Math.abs(par.parts.soft - (h0.parts.soft + h1.parts.soft) / 2) < 1e-5, 'soft term: the worker ran the teacher on its rows');
      par.grads.forEach((g, i) => {
        const want = tf.tidy(() => h0.grads[i].add(h1.grads[i]).div(2).dataSync() as Float32Array);
        const e = relErr(g.dataSync(), want);
        assert.ok(e <= 1e-4, `${vars[i].name}: relative error ${e}`);
      });
      tf.dispose([...h0.grads, ...h1.grads, ...par.grads]);
    } finally {
      await parallel.close();
      teacher.dispose();
      model.dispose();
    }
    // The recipe end to end on two threads (config threads=2): trains, checkpoints, reports the thread count.
    const lines: string[] = [];
    const run = await distillStudent({
      cfg: tinyCfg((c) => {
        c.threads = 2;
        c.data.path = dataDir;
        c.data.unlabeled = [unlabeledDir];
        c.distill.teacher = teacherDir;
        c.train.batchSize = 4;
        c.train.images = 8;
      }),
      out: tmp('parallel'),
      log: (l) => lines.push(l),
    });
    assert.equal(run.state.imagesSeen, 8);
    assert.ok(Number.isFinite(run.lastStep!.loss));
    assert.ok(fs.existsSync(path.join(run.runDir, 'last', 'state.json')));
    run.model.dispose();
  });

  it('an external teacher (plain tfjs model.json) distills through src/eval/external.ts', async () => {
    // A tiny "published" model: 3x3 conv -> sigmoid, saved without portraitseg metadata.
    const extDir = tmp('external');
    const m = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [null, null, 3], filters: 1, kernelSize: 3, padding: 'same', activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })],
    });
    await m.save(fileSaveHandler(extDir));
    m.dispose();
    assert.ok(fs.existsSync(path.join(extDir, 'model.json')));
    const cfg = tinyCfg((c) => {
      c.data.path = dataDir;
      c.distill.teacher = extDir;
      c.train.images = 2;
      c.external.output = 'sigmoid';
    });
    const r = await distillStudent({ cfg, out: tmp('ext-run'), log: () => {} });
    assert.equal(r.state.imagesSeen, 2);
    assert.match(r.teacher, /external/);
    r.model.dispose();
    const bad = tinyCfg((c) => {
      c.data.path = dataDir;
      c.distill.teacher = extDir;
      c.distill.feature = 1;
    });
    await assert.rejects(distillStudent({ cfg: bad, out: tmp('ext-bad'), log: () => {} }), /no "features" layer; set distill.feature=0/);
  });

  it('contract errors: wrong aspect ratio, missing teacher', async () => {
    const t = await loadTeacher(teacherDir, tinyCfg());
    const { meta } = createModel('mnv2_student_s', { inputSize: [S, 2 * S] }, { seed: 1 });
    assert.throws(() => checkCompatible(t, meta), /aspect ratios differ/);
    t.dispose();
    await assert.rejects(loadTeacher('/nonexistent/teacher', tinyCfg()), /--teacher \/nonexistent\/teacher: not found/);
    const wrapped = freezeModel(tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [null, null, 3], filters: 2, kernelSize: 1 })] }), null, 'two-channel');
    const { meta: m2 } = createModel('mnv2_student_s', { inputSize: [S, S] }, { seed: 1 });
    assert.throws(() => checkCompatible(wrapped, m2), /returned shape \[1,32,32,2\].*one person-logit channel/);
    wrapped.dispose();
  });
});
