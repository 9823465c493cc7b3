/**
 * The shared run setup (src/recipes/run.ts): both recipes follow the same rules for the run
 * folder, config on resume, backend, split.json and errors; --init and train.freeze plug in once.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../src/config/schema';
import { defaultConfig, Config } from '../../src/config/config';
import { readConfigFile } from '../../src/config/load';
import { writeSynthDataset } from '../../src/data/synth';
import { selectBackend } from '../../src/backend';
import { loadModel, saveModel } from '../../src/models/io';
import { readMetrics } from '../../src/train/callbacks';
import { createModel } from '../../src/models/registry';
import { trainTeacher } from '../../src/recipes/teacher';
import { distillStudent } from '../../src/recipes/student';
import { RunSetupError, type RunOptions } from '../../src/recipes/run';
import { layersToFreeze } from '../../src/train/freeze';

const TINY_T = { inputSize: [32, 32], widths: [4, 4, 8, 8, 8], contextChannels: 4 };
const TINY_S = { inputSize: [32, 32] };
const quiet = () => {};

describe('recipes/run (one setup for train teacher and distill student)', function () {
  this.timeout(600000);
  let root = '';
  let data = '';
  let teacherRun = '';
  const tmp = (n: string) => path.join(root, n);

  function cfgFor(kind: 'teacher' | 'student', edit: (c: Config) => void = () => {}): Config {
    const c = defaultConfig();
    c.backend = 'cpu';
    c.data.path = data;
    c.data.cacheDir = null;
    c.data.valFraction = 0.25;
    c.augment.train = [{ name: 'flip', p: 0.5 }];
    c.model = kind === 'teacher' ? { name: 'unet_teacher_s', args: { ...TINY_T } } : { name: 'mnv2_student_s', args: { ...TINY_S } };
    c.train.images = 4;
    c.train.batchSize = 2;
    c.train.evalEvery = 4;
    c.train.checkpointEvery = 2;
    c.train.keep = 2;
    c.train.logEvery = 1000;
    c.threads = 1;
    if (kind === 'student') {
      c.distill.teacher = teacherRun;
      c.distill.unlabeledFraction = 0;
    }
    edit(c);
    return c;
  }

  type Recipe = (o: RunOptions) => Promise<{ runDir: string; model: tf.LayersModel; state?: unknown; result?: unknown }>;
  const recipes: [string, 'teacher' | 'student', Recipe][] = [
    ['train teacher', 'teacher', (o) => trainTeacher(o)],
    ['distill student', 'student', (o) => distillStudent(o)],
  ];
  async function runOnce(r: Recipe, o: RunOptions): Promise<string> {
    const out = await r({ log: quiet, ...o });
    out.model.dispose();
    return out.runDir;
  }
  const savedConfig = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config;
  const stepOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'last', 'state.json'), 'utf8')).state.step as number;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-recipes-'));
    data = tmp('synth');
    await writeSynthDataset(data, { count: 8, seed: 5, width: 40, height: 32 });
    await selectBackend('cpu');
    teacherRun = await runOnce(recipes[0][2], { config: cfgFor('teacher', (c) => (c.train.images = 2)), out: tmp('teacher0') });
  });

  for (const [name, kind, recipe] of recipes) {
    describe(name, () => {
      let run = '';
      before(async () => {
        run = await runOnce(recipe, { config: cfgFor(kind), out: tmp(`${kind}-a`) });
      });

      it('--resume re-applies --set and --batch (recorded in config.json), keeps split.json, continues on its own backend', async () => {
        const copy = tmp(`${kind}-resume-set`);
        fs.cpSync(run, copy, { recursive: true });
        const f = path.join(copy, 'split.json');
        const marked = JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), note: 'kept' }) + '\n';
        fs.writeFileSync(f, marked);
        await selectBackend('wasm');
        assert.equal(tf.getBackend(), 'wasm');
        await runOnce(recipe, { resume: copy, sources: { set: ['train.lr=0.0007'], flags: { 'train.batchSize': 1 } }, images: 5 });
        assert.equal(tf.getBackend(), 'cpu', 'the setup selects the run\'s backend');
        const c = savedConfig(copy);
        assert.equal(c.train.lr, 0.0007);
        assert.equal(c.train.batchSize, 1);
        assert.equal(stepOf(copy), 3, 'one more step of one image');
        assert.equal(fs.readFileSync(f, 'utf8'), marked, 'split.json is written once, kept on resume');
      });

      it('--resume RUN/best and RUN/checkpoints/step-N continue the run (RUN/last: test/models/io.test.ts)', async () => {
        for (const sub of ['best', 'checkpoints/step-00000002']) {
          const copy = tmp(`${kind}-resume-${sub.replace(/\W/g, '_')}`);
          fs.cpSync(run, copy, { recursive: true });
          assert.ok(fs.existsSync(path.join(copy, sub, 'state.json')), sub);
          const dir = await runOnce(recipe, { resume: path.join(copy, sub), images: 6 });
          assert.equal(dir, copy, `${sub}: the run folder is the one holding the checkpoint`);
          assert.equal(stepOf(copy), 3);
        }
      });

      it('a run folder that already holds a run is refused, whichever file shows it', async () => {
        for (const marker of ['config.json', 'last']) {
          const out = tmp(`${kind}-exists-${marker}`);
          fs.mkdirSync(out, { recursive: true });
          if (marker === 'last') fs.mkdirSync(path.join(out, 'last'));
          else fs.writeFileSync(path.join(out, marker), '{}');
          await assert.rejects(recipe({ config: cfgFor(kind), out, log: quiet }), (e: Error) => e instanceof RunSetupError && /already holds a run: continue it with --resume/.test(e.message));
        }
        const file = tmp(`${kind}-out-file`);
        fs.writeFileSync(file, 'x');
        await assert.rejects(recipe({ config: cfgFor(kind), out: file, log: quiet }), (e: Error) => e instanceof ConfigError && /--out .*: is a file, not a folder/.test(e.message));
      });

      it('settings that contradict the checkpoint are refused, naming the key', async () => {
        const copy = tmp(`${kind}-contra`);
        fs.cpSync(run, copy, { recursive: true });
        const other = kind === 'teacher' ? 'mnv2_student_s' : 'unet_teacher_s';
        const c = savedConfig(copy);
        fs.writeFileSync(path.join(copy, 'config.json'), JSON.stringify({ ...c, model: { name: other, args: {} } }));
        await assert.rejects(recipe({ resume: copy, log: quiet }), /^ConfigError: model\.name: the checkpoint in .* is a (unet_teacher_s|mnv2_student_s), the config says/);
        fs.writeFileSync(path.join(copy, 'config.json'), JSON.stringify(c));
        await assert.rejects(recipe({ resume: copy, log: quiet, sources: { set: ['model.args={"inputSize":[64,64]}'] } }), /model\.args\.inputSize: the checkpoint .* has \[32,32\], the config says \[64,64\]/);
      });

      it('kill -9 between the two renames of last/: --resume recovers (the new copy) and cleans up (either temp alone: test/models/io.test.ts)', async () => {
        for (const which of ['both']) {
          const copy = tmp(`${kind}-crash-${which}`);
          fs.cpSync(run, copy, { recursive: true });
          const last = path.join(copy, 'last');
          if (which !== 'tmp') fs.cpSync(last, path.join(copy, '.last.old-99999-0'), { recursive: true });
          if (which !== 'old') fs.cpSync(last, path.join(copy, '.last.tmp-99999-1'), { recursive: true });
          fs.rmSync(last, { recursive: true });
          fs.mkdirSync(path.join(copy, '.best.tmp-99999-2'));
          const lines: string[] = [];
          const out = await recipe({ resume: copy, images: 6, log: (l) => lines.push(l) });
          out.model.dispose();
          assert.ok(lines.some((l) => /recovered last/.test(l)), lines.join('\n'));
          assert.equal(stepOf(copy), 3);
          assert.deepEqual(fs.readdirSync(copy).filter((n) => n.startsWith('.')), [], 'stale temp folders are removed');
        }
      });

      it('a batch larger than the data is refused before anything is written', async () => {
        const out = tmp(`${kind}-bigbatch`);
        await assert.rejects(recipe({ config: cfgFor(kind, (c) => (c.train.batchSize = 100000)), out, log: quiet }), /train\.batchSize 100000 is larger than the (\d+) training samples: use --batch \1 or less/);
        assert.ok(!fs.existsSync(path.join(out, 'config.json')));
      });

      it('one error type for setup mistakes (exit 2 in the CLI)', async () => {
        await assert.rejects(recipe({ config: cfgFor(kind, (c) => (c.data.path = '/nonexistent/psg')), out: tmp(`${kind}-nodata`), log: quiet }), (e: Error) => e instanceof RunSetupError && /data\.path: .*not found/.test(e.message));
      });

      it('--init starts from a model folder: its architecture and weights; a contradicting model setting is refused', async () => {
        // The init model: a tiny teacher saved as a plain model folder (like `portraitseg import` writes).
        const initDir = tmp(`${kind}-init-model`);
        const built = createModel('unet_teacher_s', { ...TINY_T, contextChannels: 8 }, { seed: 9 });
        await saveModel(initDir, built.model, built.meta);
        const want = built.model.getWeights().map((w) => w.dataSync().slice());
        built.model.dispose();
        // The recipe's own model (a student for distill) is replaced by the init's architecture.
        const c = cfgFor(kind, (x) => {
          x.model = { name: kind === 'teacher' ? 'unet_teacher_s' : 'mnv2_student_s', args: {} };
          x.train.init = initDir;
          x.train.lr = 0;
          x.train.minLr = 0;
          x.train.ema = 0;
          x.train.images = 2;
        });
        const r = await recipe({ config: c, out: tmp(`${kind}-init`), log: quiet });
        const saved = savedConfig(r.runDir);
        assert.equal(saved.train.init, path.resolve(initDir));
        assert.equal(saved.model.name, 'unet_teacher_s');
        assert.equal(saved.model.args.contextChannels, 8);
        // lr 0: the weights are still the init's (batch-norm statistics aside).
        const got = r.model.getWeights();
        const names = r.model.weights.map((w) => w.name);
        got.forEach((w, i) => {
          if (!/moving_/.test(names[i])) assert.deepEqual(Array.from(w.dataSync()), Array.from(want[i]), names[i]);
        });
        r.model.dispose();
        await assert.rejects(
          recipe({ config: c, out: tmp(`${kind}-init-bad`), log: quiet, sources: { set: ['model.name=mnv2_student_s'] } }),
          /model\.name: the --init model .* is a unet_teacher_s, the config says mnv2_student_s/,
        );
      });
    });
  }

  it('--resume of an --init run is bit-for-bit (N + resume M == N + M straight)', async () => {
    const c = cfgFor('teacher', (x) => {
      x.train.init = teacherRun;
      x.model = { name: 'unet_teacher_s', args: {} };
      x.data.valFraction = 0;
    });
    const straight = await trainTeacher({ config: { ...c, train: { ...c.train, images: 4 } }, out: tmp('init-straight'), log: quiet });
    const a = straight.model.getWeights().map((w) => Buffer.from(w.dataSync().buffer));
    straight.model.dispose();
    await runOnce(trainTeacher, { config: { ...c, train: { ...c.train, images: 2 } }, out: tmp('init-part') });
    const second = await trainTeacher({ resume: tmp('init-part'), images: 4, log: quiet });
    const b = second.model.getWeights().map((w) => Buffer.from(w.dataSync().buffer));
    second.model.dispose();
    assert.equal(a.length, b.length);
    a.forEach((w, i) => assert.ok(w.equals(b[i]), `weight ${i} differs`));
  });

  it('a fine-tune never hands back a model worse than its start: the start is scored before step 1 and competes for best/ (a ruinous lr)', async () => {
    // a start worth keeping: the tiny teacher fitted to the 8 images it is then validated on
    // (wasm: the stock cpu kernels take seconds per step), mIoU about 0.87
    const onAll = (x: Config) => {
      x.backend = 'wasm';
      x.data.val = data;
      x.augment.train = [];
    };
    const start = await runOnce(trainTeacher, { config: cfgFor('teacher', (x) => (onAll(x), (x.train.images = 256), (x.train.evalEvery = 1000), (x.train.lr = 1e-2))), out: tmp('ft-start') });
    const c = cfgFor('teacher', (x) => {
      onAll(x);
      x.train.init = start;
      x.model = { name: 'unet_teacher_s', args: {} };
      x.train.optimizer = 'adam';
      x.train.lr = 0.5;
      x.train.minLr = 0.5;
      x.train.warmupImages = 0;
      x.train.ema = 0;
      x.train.images = 6;
      x.train.evalEvery = 2;
    });
    const lines: string[] = [];
    const r = await trainTeacher({ config: c, out: tmp('ft-ruined'), log: (l) => lines.push(l) });
    const evals = readMetrics(path.join(r.runDir, 'metrics.jsonl')).filter((m) => m.kind === 'eval');
    assert.equal(evals[0].step, 0, 'the first validation is the start, before step 1');
    assert.equal(evals.length, 4);
    const start0 = evals[0].miou as number;
    assert.ok(evals.slice(1).every((e) => (e.miou as number) < start0), `the lr ruins the model: ${evals.map((e) => e.miou).join(', ')}`);
    assert.equal(r.result.state.startScore, start0);
    assert.equal(r.result.state.bestStep, 0);
    // best/ holds the start's weights, bit for bit (batch-norm statistics included: no step ran before it)
    const best = await loadModel(path.join(r.runDir, 'best'));
    const init = await loadModel(start);
    const bw = best.model.getWeights();
    init.model.getWeights().forEach((w, i) => assert.deepEqual(Array.from(bw[i].dataSync()), Array.from(w.dataSync()), init.model.weights[i].name));
    best.model.dispose();
    init.model.dispose();
    r.model.dispose();
    assert.ok(lines.some((l) => /^validation mIoU: start \d\.\d{4}, best \d\.\d{4} at step 0 \(\+0\.00 points\), last \d\.\d{4}; no validation beat the start: best\/ holds the start model$/.test(l)), lines.join('\n'));
    // the validation is at the photos' resolution (40x32 here), like eval
    assert.ok(lines.some((l) => /^validation: 8 photos at their own resolution \(40x32\)/.test(l)), lines.join('\n'));
    assert.ok(start0 > 0.7, `start ${start0}`);
  });

  it('train.freeze: frozen layers get no gradient and no update; the rest trains', async () => {
    const c = cfgFor('teacher', (x) => {
      x.train.freeze = '^(enc|stem)';
      x.train.ema = 0;
      x.data.valFraction = 0;
    });
    const { model: fresh } = createModel('unet_teacher_s', TINY_T, { seed: c.seed });
    const before = new Map(fresh.weights.map((w) => [w.originalName, w.read().dataSync().slice()]));
    const frozenNames = new Set(layersToFreeze(fresh, c.train.freeze).flatMap((l) => l.weights.map((w) => w.originalName)));
    fresh.dispose();
    assert.ok(frozenNames.size > 0);
    const r = await trainTeacher({ config: c, out: tmp('freeze'), log: quiet });
    let changed = 0;
    for (const w of r.model.weights) {
      if (/moving_/.test(w.originalName)) continue;
      const same = Buffer.from(w.read().dataSync().buffer).equals(Buffer.from(before.get(w.originalName)!.buffer));
      if (frozenNames.has(w.originalName)) assert.ok(same, `${w.originalName} is frozen but changed`);
      else if (!same) changed++;
    }
    assert.ok(changed > 0, 'the unfrozen layers train');
    r.model.dispose();
  });

  it('train.freeze is validated like every key: bad regex, N out of range, no match', async () => {
    const { model } = createModel('unet_teacher_s', TINY_T, { seed: 1 });
    try {
      assert.throws(() => layersToFreeze(model, '(['), /^ConfigError: train\.freeze: "\(\[" is not a valid regular expression/);
      assert.throws(() => layersToFreeze(model, '100000'), /train\.freeze: 100000 is out of range: .* has \d+ layers with weights/);
      assert.throws(() => layersToFreeze(model, 'no_such_layer'), /train\.freeze: "no_such_layer" matches no layer/);
      assert.equal(layersToFreeze(model, '2').length, 2);
    } finally {
      model.dispose();
    }
    await assert.rejects(trainTeacher({ config: cfgFor('teacher', (x) => (x.train.freeze = '([')), out: tmp('freeze-bad'), log: quiet }), /train\.freeze: "\(\[" is not a valid regular expression/);
    assert.ok(!fs.existsSync(tmp('freeze-bad')));
  });

  it('data.frameSize either matches the model or is refused (training uses the model\'s frame size)', async () => {
    await assert.rejects(
      trainTeacher({ config: cfgFor('teacher', (x) => (x.data.frameSize = [256, 256])), out: tmp('framesize'), log: quiet }),
      /^ConfigError: data\.frameSize: training uses the model's frame size \(32x32 for unet_teacher_s\), not 256x256: set model\.args\.inputSize instead/,
    );
    assert.ok(!fs.existsSync(path.join(tmp('framesize'), 'config.json')));
  });

  it('schema defaults equal the shipped recipes (so --config mine.json means what it says)', () => {
    const d = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
    const check = (file: string, skip: string[]) => {
      const cfg = readConfigFile(file) as Record<string, Record<string, unknown>>;
      for (const [sec, vals] of Object.entries(cfg)) {
        for (const [k, v] of Object.entries(vals)) {
          if (skip.includes(`${sec}.${k}`)) continue;
          assert.deepEqual(v, d[sec][k], `${path.basename(file)}: ${sec}.${k}`);
        }
      }
    };
    const root = path.resolve(__dirname, '../../configs');
    check(path.join(root, 'teacher.json'), []);
    check(path.join(root, 'distill.json'), ['model.name']);
  });
});
