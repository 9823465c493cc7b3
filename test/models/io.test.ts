/** Model I/O (src/models/io.ts): what loading checks, with one line naming the file. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { checkMeta, loadModel, ModelFileError } from '../../src/models/io';
import { recoverDir, resolveResume, checkNewRunFolder } from '../../src/models/folders';
import { ConfigError } from '../../src/config/schema';
import { createModel } from '../../src/models/registry';
import { CheckpointManager, NonFiniteWeightsError, saveCheckpoint } from '../../src/train/checkpoint';
import { freshState } from '../../src/train/loop';
import { cli } from '../helpers/cli';
import { savedModelFixture } from '../helpers/model-folder';
import { writeSynthDataset } from '../../src/data/synth';

describe('models/io (load checks) and models/folders (layout, recovery)', function () {
  this.timeout(120000);
  const fx = savedModelFixture('psg-io-');
  const copyOf = (name: string) => fx.copyOf(name);

  it('loads a good model folder without leaking tensors', async () => {
    const n = tf.memory().numTensors;
    const { model, meta } = await loadModel(fx.good);
    assert.equal(meta.name, 'mnv2_student_s');
    model.dispose();
    assert.equal(tf.memory().numTensors, n);
  });

  it('weights of the right size but garbage bytes: one line naming weights.bin', async () => {
    const d = copyOf('garbage');
    const f = path.join(d, 'weights.bin');
    const n = fs.statSync(f).size / 4;
    fs.writeFileSync(f, Buffer.from(new Float32Array(n).fill(NaN).buffer));
    const before = tf.memory().numTensors;
    await assert.rejects(loadModel(d), (e: Error) => e instanceof ModelFileError && e instanceof ConfigError && new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: weight .* holds non-finite values`).test(e.message));
    assert.equal(tf.memory().numTensors, before, 'the rejected model is disposed');
    // Huge but finite values overflow in the first forward pass.
    fs.writeFileSync(f, Buffer.from(new Float32Array(n).fill(3e38).buffer));
    await assert.rejects(loadModel(d), /output on a grey frame is not finite/);
  });

  it('an invalid portraitseg.json is refused naming the file and the key', async () => {
    const d = copyOf('badmeta');
    const f = path.join(d, 'portraitseg.json');
    const meta = JSON.parse(fs.readFileSync(f, 'utf8'));
    fs.writeFileSync(f, JSON.stringify({ ...meta, inputSize: 'huh' }));
    await assert.rejects(loadModel(d), (e: Error) => e instanceof ModelFileError && e.message === `${f}: inputSize: expected [height, width] positive integers, got "huh"`);
    fs.writeFileSync(f, '{not json');
    await assert.rejects(loadModel(d), new RegExp(`portraitseg.json: not valid JSON`));
    assert.throws(() => checkMeta({ ...meta, std: [1, 0, 1] }, 'm.json'), /m\.json: std: expected three positive numbers/);
    assert.equal(checkMeta(meta, 'm.json').name, 'mnv2_student_s');
  });

  it('never writes a checkpoint with non-finite weights (one line naming the step)', async () => {
    const { model, meta } = createModel('mnv2_student_s', { inputSize: [32, 32] }, { seed: 1 });
    const w = model.weights[0].read() as tf.Variable;
    w.assign(tf.fill(w.shape, NaN));
    const dir = path.join(fx.root, 'nan-ckpt');
    await assert.rejects(saveCheckpoint(dir, { model, meta, state: { ...freshState(), step: 7 } }), (e: Error) => e instanceof NonFiniteWeightsError && /^step 7: weight .* holds non-finite values \(NaN\/Inf\): checkpoint not written/.test(e.message));
    assert.ok(!fs.existsSync(dir));
    assert.deepEqual(fs.readdirSync(fx.root).filter((n) => n.startsWith('.nan-ckpt')), [], 'no temp folder left');
    model.dispose();
  });

  it('recoverDir puts back last/ from either temp of a cut replacement, preferring the complete new copy', async () => {
    const run = path.join(fx.root, 'run');
    const { model, meta } = createModel('mnv2_student_s', { inputSize: [32, 32] }, { seed: 1 });
    const m = new CheckpointManager(run, 0);
    await m.save({ model, meta, state: { ...freshState(), step: 1 } });
    await m.save({ model, meta, state: { ...freshState(), step: 2 } });
    fs.writeFileSync(path.join(run, 'config.json'), '{}');
    model.dispose();
    const last = path.join(run, 'last');
    fs.renameSync(last, path.join(run, '.last.tmp-123-5'));
    assert.equal(resolveResume(run).checkpointDir, last);
    assert.ok(fs.existsSync(path.join(last, 'state.json')));
    fs.renameSync(last, path.join(run, '.last.old-123-4'));
    fs.mkdirSync(path.join(run, '.last.tmp-123-5'));
    assert.ok(recoverDir(last), 'an incomplete new copy falls back to the old one');
    assert.ok(fs.existsSync(path.join(last, 'state.json')));
    assert.throws(() => resolveResume(path.join(fx.root, 'nope')), /--resume .*nope: not found/);
    // RUN/last names the run and its last checkpoint, like RUN itself.
    assert.deepEqual(resolveResume(last), { runDir: run, checkpointDir: last });
    assert.deepEqual(resolveResume(run), { runDir: run, checkpointDir: last });
  });

  it('--out rules: a file is refused (one line), a folder holding a run is refused', () => {
    const f = path.join(fx.root, 'afile');
    fs.writeFileSync(f, 'x');
    assert.throws(() => checkNewRunFolder(f), /^ConfigError: --out .*afile: is a file, not a folder/);
    assert.throws(() => checkNewRunFolder(path.join(fx.root, 'run')), /already holds a run/);
    checkNewRunFolder(path.join(fx.root, 'fresh'));
  });

  it('CLI: eval and export on a corrupt model, train --out FILE: one line, exit 2', async () => {
    const d = copyOf('garbage-cli');
    const wf = path.join(d, 'weights.bin');
    fs.writeFileSync(wf, Buffer.from(new Float32Array(fs.statSync(wf).size / 4).fill(NaN).buffer));
    const data = path.join(fx.root, 'synth');
    await writeSynthDataset(data, { count: 4, seed: 1, width: 32, height: 32 });
    const e = cli(['eval', '--model', d, '--data', data, '--backend', 'cpu']);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /weights\.bin: weight .* holds non-finite values/);
    assert.equal(e.stderr.trim().split('\n').pop(), e.stderr.trim().split('\n').find((l) => l.startsWith('portraitseg: error:')), 'the error is the one last line');
    assert.doesNotMatch(e.stderr, /--verbose|\n\s+at /);
    const x = cli(['export', '--model', d, '--out', path.join(fx.root, 'exp'), '--backend', 'cpu']);
    assert.equal(x.code, 2, x.stderr);
    const f = path.join(fx.root, 'out-file');
    fs.writeFileSync(f, 'x');
    const t = cli(['train', 'teacher', '--data', data, '--out', f, '--backend', 'cpu']);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /^portraitseg: error: --out .*out-file: is a file, not a folder/m);
  });
});
