import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { createSegmenter, Segmenter } from '../../src/runtime';
import { writeTfjs } from '../../src/export';
import { makeOracleModel, makeScene, localVariance, interior } from './oracle';

describe('runtime/segmenter', function () {
  this.timeout(60000);
  let seg: Segmenter;
  let oracle: ReturnType<typeof makeOracleModel>;
  const scene = makeScene(64, 48);
  before(async () => {
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
    oracle = makeOracleModel();
    seg = await createSegmenter(oracle);
  });
  after(() => {
    seg.dispose();
    oracle.model.dispose();
  });

  it('segment returns a mask at the frame resolution that finds the person', async () => {
    const m = await seg.segment(scene);
    assert.equal(m.width, 64);
    assert.equal(m.height, 48);
    assert.equal(m.data.length, 64 * 48);
    const inside = interior(scene, 2);
    let wrong = 0;
    let n = 0;
    for (let i = 0; i < m.data.length; i++) {
      for (const label of [0, 1]) {
        if (!inside(i, label)) continue;
        n++;
        if ((m.data[i] > 127 ? 1 : 0) !== label) wrong++;
      }
    }
    assert.ok(n > 1000, `enough interior pixels (${n})`);
    assert.equal(wrong, 0);
  });

  it('blur: background variance drops, person interior unchanged', async () => {
    const out = await seg.blur(scene, { strength: 8, edgeFeather: 1 });
    assert.equal(out.data.length, scene.data.length);
    const inside = interior(scene, 4);
    const bgIn = localVariance(scene, (i) => inside(i, 0));
    const bgOut = localVariance(out, (i) => inside(i, 0));
    assert.ok(bgIn > 1000, `input background is textured (${bgIn})`);
    assert.ok(bgOut < bgIn * 0.05, `background blurred: local variance ${bgOut} vs ${bgIn}`);
    let maxDiff = 0;
    for (let i = 0; i < scene.person.length; i++) {
      if (!inside(i, 1)) continue;
      for (let c = 0; c < 3; c++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i * 3 + c] - scene.data[i * 3 + c]));
    }
    assert.ok(maxDiff <= 3, `person region unchanged (max diff ${maxDiff})`);
    // no halo: blurred background keeps the grey of the background, not the person's red
    let red = 0;
    for (let i = 0; i < scene.person.length; i++) if (inside(i, 0)) red = Math.max(red, out.data[i * 3] - out.data[i * 3 + 1]);
    assert.ok(red <= 12, `no person colour bleeding into the background (max R-G ${red})`);
  });

  it('strength 0 and feather 0 keep the frame as it is', async () => {
    const out = await seg.blur(scene, { strength: 0, edgeFeather: 0 });
    let maxDiff = 0;
    for (let i = 0; i < out.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i] - scene.data[i]));
    assert.ok(maxDiff <= 1, `max diff ${maxDiff}`);
  });

  it('replace puts the background image behind the person (RGBA frames accepted)', async () => {
    const rgba = new Uint8Array(64 * 48 * 4);
    for (let i = 0; i < 64 * 48; i++) rgba.set([...scene.data.subarray(i * 3, i * 3 + 3), 255], i * 4);
    const bg = { width: 8, height: 6, data: new Uint8Array(8 * 6 * 3).fill(0).map((_, i) => (i % 3 === 2 ? 250 : 10)) };
    const out = await seg.replace({ width: 64, height: 48, data: rgba }, bg, { edgeFeather: 0 });
    const inside = interior(scene, 2);
    for (let i = 0; i < scene.person.length; i++) {
      if (inside(i, 0)) assert.ok(out.data[i * 3 + 2] > 230 && out.data[i * 3] < 30, `pixel ${i} is the new background`);
      if (inside(i, 1)) assert.equal(out.data[i * 3], 200);
    }
  });

  it('rejects frames whose data does not match their size', async () => {
    await assert.rejects(seg.segment({ width: 10, height: 10, data: new Uint8Array(7) }), /frame 10x10: data has 7 bytes, expected 300 \(RGB\) or 400 \(RGBA\)/);
  });

  it('no tensor leaks over 100 frames', async () => {
    const small = makeScene(24, 16);
    await seg.blur(small); // warm-up (kernels may cache constants)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) {
      if (i % 3 === 0) await seg.segment(small);
      else if (i % 3 === 1) await seg.blur(small, { strength: 6 });
      else await seg.replace(small, small);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('loads an exported folder by path and disposes what it loaded', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-rt-'));
    try {
      await writeTfjs(oracle.model, oracle.meta, dir);
      const before = tf.memory().numTensors;
      const s = await createSegmenter(dir);
      assert.equal(s.meta.name, 'oracle');
      const m = await s.segment(scene);
      assert.equal(m.data.length, 64 * 48);
      s.dispose();
      assert.equal(tf.memory().numTensors, before, 'model weights released');
      await assert.rejects(s.segment(scene), /segmenter was disposed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
