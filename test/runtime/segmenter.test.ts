import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { createSegmenter, Segmenter, blurComposite, replaceComposite, frameToTensor } from '../../src/runtime';
import { blurBytes, fullMask, replaceBytes, downscaleToFloat, fitSize } from '../../src/runtime/large-frame';
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

  it('large-frame compositing in JS equals the tf compositing to rounding (same mask)', async () => {
    const big = makeScene(61, 47); // odd sizes: bilinear taps and box edges off the grid
    const x = frameToTensor(big);
    const maskT = seg.maskTensor(x);
    const mask = { width: 61, height: 47, data: (await maskT.data()) as Float32Array };
    const bg = { width: 13, height: 9, data: Uint8Array.from({ length: 13 * 9 * 3 }, (_, i) => (i * 37) % 256) };
    const bgT = frameToTensor(bg);
    let cases = 0;
    for (const strength of [0, 2, 8, 13]) {
      for (const edgeFeather of [0, 1, 3]) {
        const ref = tf.tidy(() => blurComposite(x, maskT, { strength, edgeFeather }).mul(255).round());
        const want = (await ref.data()) as Float32Array;
        ref.dispose();
        const got = blurBytes(big, fullMask(mask, 47, 61, edgeFeather), { strength });
        let max = 0;
        for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i] - got[i]));
        assert.ok(max <= 1, `blur strength ${strength} feather ${edgeFeather}: max diff ${max}`);
        cases++;
      }
      const rref = tf.tidy(() => replaceComposite(x, maskT, bgT, strength % 4).mul(255).round());
      const rwant = (await rref.data()) as Float32Array;
      rref.dispose();
      const rgot = replaceBytes(big, fullMask(mask, 47, 61, strength % 4), bg);
      let rmax = 0;
      for (let i = 0; i < rwant.length; i++) rmax = Math.max(rmax, Math.abs(rwant[i] - rgot[i]));
      assert.ok(rmax <= 1, `replace feather ${strength % 4}: max diff ${rmax}`);
    }
    assert.equal(cases, 12);
    tf.dispose([x, maskT, bgT]);
  });

  it('frames over maxPixels take the bounded path (no full-size tensor) and match the tf path', async () => {
    const W = 96;
    const H = 72;
    const big = makeScene(W, H);
    const bounded = await createSegmenter(oracle, { maxPixels: 1200 });
    assert.deepEqual(fitSize(W, H, 1200), [30, 40]);
    assert.equal(downscaleToFloat(big, 30, 40).length, 30 * 40 * 3);
    try {
      const fullFrameBytes = W * H * 3 * 4; // the [1,H,W,3] float32 tensor the tf path starts from
      for (const op of ['segment', 'blur', 'replace'] as const) {
        const run = (s: Segmenter) => (op === 'segment' ? s.segment(big) : op === 'blur' ? s.blur(big, { strength: 8, edgeFeather: 2 }) : s.replace(big, makeScene(20, 10), { edgeFeather: 2 }));
        const base = tf.memory().numBytes;
        const prof = await tf.profile(async () => {
          await run(bounded);
        });
        assert.ok(prof.peakBytes - base < fullFrameBytes, `${op}: bounded path peaked at ${prof.peakBytes - base} tensor bytes (a full frame is ${fullFrameBytes})`);
        const profOld = await tf.profile(async () => {
          await run(seg);
        });
        assert.ok(profOld.peakBytes - base >= fullFrameBytes, `${op}: the tf path holds the full frame (${profOld.peakBytes - base})`);
        const a = await run(bounded);
        const b = await run(seg);
        assert.equal(a.width, W);
        assert.equal(a.height, H);
        assert.equal(a.data.length, b.data.length);
        // the model saw a 40x30 copy instead of the full frame: equal away from the silhouette's edge, close on average
        const inside = interior(big, 4);
        const ch = a.data.length / (W * H);
        let sum = 0;
        let interiorMax = 0;
        for (let i = 0; i < a.data.length; i++) {
          const d = Math.abs(a.data[i] - b.data[i]);
          sum += d;
          const px = Math.floor(i / ch);
          if (inside(px, 0) || inside(px, 1)) interiorMax = Math.max(interiorMax, d);
        }
        // (the mask's edge band moves most: the oracle's 32x32 view is resampled twice; measured 7.4, 1.5, 1.4 mean and 1, 6, 9 max)
        assert.ok(sum / a.data.length < (op === 'segment' ? 10 : 2.5), `${op}: mean abs diff ${sum / a.data.length}`);
        assert.ok(interiorMax <= (op === 'segment' ? 2 : 12), `${op}: interior max diff ${interiorMax}`);
      }
    } finally {
      bounded.dispose();
    }
  });

  it('an injected forward replaces model.predict on both paths (native runtimes in Node)', async () => {
    let calls = 0;
    // the same network, run by the caller: identical masks
    const same = await createSegmenter(oracle, { forward: (x) => (calls++, oracle.model.predict(x) as tf.Tensor4D) });
    const ref = await seg.segment(scene);
    assert.deepEqual((await same.segment(scene)).data, ref.data);
    assert.equal(calls, 1);
    // a forward that says "person everywhere" at a quarter of the size: brought back to the frame, P = sigmoid(4)
    const everywhere = await createSegmenter(oracle, { forward: (x) => tf.fill([x.shape[0], x.shape[1] >> 2, x.shape[2] >> 2, 1], 4) as tf.Tensor4D, maxPixels: 1000 });
    for (const frame of [scene]) {
      const m = await everywhere.segment(frame); // 64x48 > maxPixels: the bounded path
      assert.equal(m.data.length, 64 * 48);
      assert.ok(m.data.every((v) => Math.abs(v - 255 / (1 + Math.exp(-4))) <= 1), 'bounded path uses the injected forward');
    }
    const t = tf.tidy(() => everywhere.maskTensor(frameToTensor(scene)));
    assert.ok(Math.abs(t.min().dataSync()[0] - 1 / (1 + Math.exp(-4))) < 1e-6, 'tf path uses the injected forward');
    t.dispose();
    same.dispose();
    everywhere.dispose();
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
