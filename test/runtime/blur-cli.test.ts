import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { writeTfjs } from '../../src/export';
import { readRgb, writePng } from '../../src/util/image';
import { spawnSync } from 'child_process';
import { cli, ROOT } from '../helpers/cli';
import { makeOracleModel, makeScene, localVariance, interior } from './oracle';

describe('cli blur', function () {
  this.timeout(120000);
  let tmp: string;
  const scene = makeScene(64, 48);
  before(async () => {
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-blur-'));
    const { model, meta } = makeOracleModel();
    await writeTfjs(model, meta, path.join(tmp, 'model'));
    model.dispose();
    await writePng(path.join(tmp, 'in.png'), scene.data, 64, 48);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('blurs the background of a tiny image and keeps the person', async () => {
    const out = path.join(tmp, 'out.png');
    const r = cli(['blur', '--model', path.join(tmp, 'model'), '--input', path.join(tmp, 'in.png'), '--output', out, '--strength', '8', '--feather', '1', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote 1 image to/);
    assert.match(r.stderr, /blur: 1\/1 frames, [\d.]+ frames\/s/);
    const img = await readRgb(out);
    assert.equal(img.width, 64);
    const inside = interior(scene, 4);
    const vIn = localVariance(scene, (i) => inside(i, 0));
    const vOut = localVariance(img, (i) => inside(i, 0));
    assert.ok(vOut < vIn * 0.05, `background variance ${vOut} vs ${vIn}`);
    let maxDiff = 0;
    for (let i = 0; i < scene.person.length; i++) if (inside(i, 1)) maxDiff = Math.max(maxDiff, Math.abs(img.data[i * 3] - scene.data[i * 3]));
    assert.ok(maxDiff <= 3, `person unchanged (${maxDiff})`);
  });

  it('raw RGB24 frames on stdin -> stdout; a wrong --size is a clear error', () => {
    const two = Buffer.concat([Buffer.from(scene.data), Buffer.from(scene.data)]);
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input=-', '--output=-', '--size', '64x48', '--strength', '8', '--backend', 'cpu'], {
      cwd: ROOT,
      input: two,
      maxBuffer: 1 << 24,
    });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(r.stdout.length, 64 * 48 * 3 * 2);
    // the second frame is processed like the first, and its background is blurred
    assert.ok(r.stdout.subarray(0, 64 * 48 * 3).equals(r.stdout.subarray(64 * 48 * 3)));
    const second = { width: 64, height: 48, data: new Uint8Array(r.stdout.subarray(64 * 48 * 3)) };
    const inside = interior(scene, 4);
    assert.ok(localVariance(second, (i) => inside(i, 0)) < 0.05 * localVariance(scene, (i) => inside(i, 0)));
    const bad = cli(['blur', '--model', path.join(tmp, 'model'), '--input=-', '--output=-', '--size', '64by48', '--backend', 'cpu']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--size 64by48: raw frames need --size WIDTHxHEIGHT/);
  });

  it('a video without ffmpeg on PATH is a clear usage error', () => {
    fs.writeFileSync(path.join(tmp, 'clip.mp4'), 'not really a video');
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input', path.join(tmp, 'clip.mp4'), '--output', path.join(tmp, 'o.mp4')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: path.join(tmp, 'no-bin-here') },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ffmpeg is not installed: install it \(Debian\/Ubuntu: apt-get install ffmpeg\)/);
  });
});
