import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { cli, ROOT } from '../helpers/cli';
import { resolveConfig } from '../../src/config/load';
import { checkRunConfig as checkTeacherConfig } from '../../src/recipes/run';
import { writeSynthDataset } from '../../src/data/synth';

const TINY = '{"inputSize":[32,32],"widths":[4,4,8,8,8],"contextChannels":4}';

describe('train teacher / eval (CLI and config checks)', function () {
  let data = '';
  before(async () => {
    data = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'psg-cli-')), 'synth');
    await writeSynthDataset(data, { count: 12, seed: 3, width: 40, height: 32 });
  });

  it('checks the config before any work, naming the key at fault', () => {
    const cfg = (set: string[]) => resolveConfig({ set: [`data.path=${data}`, ...set] });
    assert.throws(() => checkTeacherConfig(resolveConfig({})), /no training data: give --data/);
    assert.throws(() => checkTeacherConfig(resolveConfig({ set: ['data.path=/nonexistent/psg'] })), /^ConfigError: data\.path: \/nonexistent\/psg: not found/);
    assert.throws(() => checkTeacherConfig(cfg(['model.name=unet_teachr_s'])), /unknown model "unet_teachr_s" \(did you mean "unet_teacher_s"\?\)/);
    assert.throws(() => checkTeacherConfig(cfg(['model.args={"widht":3}'])), /model\.args\.widht: unknown argument/);
    assert.throws(() => checkTeacherConfig(cfg(['augment.train=[{"name":"rotat"}]'])), /augment\.train\[0\]\.name/);
    assert.throws(() => checkTeacherConfig(cfg(['data.backgrounds=/nonexistent/bg'])), /data\.backgrounds: folder not found/);
    assert.throws(() => checkTeacherConfig(cfg(['data.val=/nonexistent/val'])), /data\.val: .*not found/);
  });

  it('CLI: a missing --data and --resume with --model are one-line usage errors (exit 2)', () => {
    const r = cli(['train', 'teacher']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--data DIR is required/);
    const r2 = cli(['train', 'teacher', '--resume', data, '--model', 'x']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /--resume continues a run with its own saved config/);
  });

  it('CLI: Ctrl-C (SIGINT) stops after the current step, saves a resumable checkpoint and exits 130', async function () {
    // No wall-time guard: the signal goes out after the first progress line, whatever the speed.
    this.timeout(600000);
    const out = path.join(path.dirname(data), 'interrupted');
    // Samples come from the memory cache, so every await of the loop resolves at once: the loop
    // must still give the signal handler a turn.
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'train', 'teacher', '--data', data, '--out', out, '--images', '100000', '--batch', '2', '--backend', 'cpu', '--set', `model.args=${TINY}`, '--set', 'train.logEvery=1', '--set', 'data.cacheDir=null', '--set', 'train.evalEvery=100000', '--set', 'train.checkpointEvery=100000'], { cwd: ROOT });
    let stderr = '';
    let sent = false;
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (!sent && /step 1 \|/.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      // Only so that a broken fix cannot hang the suite: far beyond one step on any machine.
      const guard = setTimeout(() => child.kill('SIGKILL'), 590000);
      child.on('exit', (c) => {
        clearTimeout(guard);
        resolve(c);
      });
    });
    assert.ok(sent, stderr);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /Ctrl-C: stopping after this step/);
    assert.match(stderr, /interrupted: checkpoint saved in/);
    const st = JSON.parse(fs.readFileSync(path.join(out, 'last', 'state.json'), 'utf8')).state;
    assert.ok(st.step >= 1 && st.step < 100000 / 2, `saved at step ${st.step}`);
  });

  it('CLI: SIGTERM (timeout, docker stop) is handled like Ctrl-C: checkpoint saved, exit 143', async function () {
    this.timeout(600000);
    const out = path.join(path.dirname(data), 'terminated');
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'train', 'teacher', '--data', data, '--out', out, '--images', '100000', '--batch', '2', '--backend', 'cpu', '--set', `model.args=${TINY}`, '--set', 'train.logEvery=1', '--set', 'data.cacheDir=null', '--set', 'train.evalEvery=100000', '--set', 'train.checkpointEvery=100000'], { cwd: ROOT });
    let stderr = '';
    let sent = false;
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (!sent && /step 1 \|/.test(stderr)) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 590000);
      child.on('exit', (c) => {
        clearTimeout(guard);
        resolve(c);
      });
    });
    assert.ok(sent, stderr);
    assert.equal(code, 143, stderr);
    assert.match(stderr, /SIGTERM: stopping after this step and saving a checkpoint/);
    assert.doesNotMatch(stderr, /install our node backend/, 'no tfjs banner in our output');
    const st = JSON.parse(fs.readFileSync(path.join(out, 'last', 'state.json'), 'utf8')).state;
    assert.ok(st.step >= 1, `saved at step ${st.step}`);
  });

  it('CLI: trains a tiny teacher into a complete run folder, then eval --split val writes the report', function () {
    const out = path.join(path.dirname(data), 'run');
    const r = cli(['train', 'teacher', '--data', data, '--out', out, '--images', '8', '--batch', '4', '--backend', 'cpu', '--set', `model.args=${TINY}`, '--set', 'train.evalEvery=4', '--set', 'train.logEvery=1', '--set', 'data.cacheDir=null', '--set', 'data.valFraction=0.25']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /step 2 \| 8\/8 img \| [\d.]+ img\/s \| ETA \S+ \| loss [\d.]+ \(bce [\d.]+ dice [\d.]+ boundary [\d.]+\) \| lr \S+ \| val mIoU [\d.]+/);
    assert.match(r.stdout, /run folder: .*run/);
    for (const f of ['config.json', 'metrics.jsonl', 'curves.png', 'split.json', 'last/model.json', 'last/weights.bin', 'last/portraitseg.json', 'last/state.json', 'best/model.json']) {
      assert.ok(fs.existsSync(path.join(out, f)), f);
    }
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.kind), ['eval', 'step', 'eval', 'step']);
    const report = path.join(out, 'eval.json');
    const e = cli(['eval', '--model', out, '--data', data, '--split', 'val', '--report', report, '--backend', 'cpu']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /mIoU\s+[\d.]+/);
    const j = JSON.parse(fs.readFileSync(report, 'utf8'));
    for (const k of ['miou', 'personIou', 'backgroundIou', 'boundaryF', 'mae', 'msPerImage', 'count']) assert.equal(typeof j[k], 'number', k);
    const split = JSON.parse(fs.readFileSync(path.join(out, 'split.json'), 'utf8'));
    assert.equal(j.count, split.val.length);
    assert.ok(j.count > 0);
  });
});
