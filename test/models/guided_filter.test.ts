import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { useWasm } from '../../src/backend';
import { boxMean, GuidedFilter, guidedUpsample, registerCustomLayers } from '../../src/models';
import { probToLogits, PROB_CLIP } from '../../src/models/guided_filter';
import { GUIDED_FILTER_KERNEL, setWasmGuidedFilter } from '../../src/models/kernels/guided-filter-wasm';

/** Largest |a-b| / (|a|+|b|+floor) over all elements. */
function relErr(a: Float32Array | number[], b: Float32Array | number[], floor = 1e-2): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(a[i]) + Math.abs(b[i]) + floor));
  return worst;
}

describe('models: guided filter (mask filter)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('boxMean is the mean over valid pixels (borders included)', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const m = boxMean(x, 1).dataSync();
    // corner: mean of 1,2,4,5; centre: mean of all
    assert.ok(Math.abs(m[0] - 3) < 1e-6, `corner ${m[0]}`);
    assert.ok(Math.abs(m[4] - 5) < 1e-6, `centre ${m[4]}`);
    assert.ok(Math.abs(m[1] - 3.5) < 1e-6, `edge ${m[1]}`);
    x.dispose();
  });

  it('with a constant guide it reduces to smooth (box-averaged, bilinear) upsampling', () => {
    const p = tf.randomNormal([1, 6, 6, 1], 0, 2, 'float32', 1) as tf.Tensor4D;
    const gl = tf.fill([1, 6, 6, 1], 0.3) as tf.Tensor4D;
    const gh = tf.fill([1, 12, 12, 1], 0.3) as tf.Tensor4D;
    const q = guidedUpsample(p, gl, gh, 1, 1e-2);
    const expected = tf.image.resizeBilinear(boxMean(boxMean(p, 1), 1), [12, 12]);
    assert.deepEqual(q.shape, [1, 12, 12, 1]);
    const err = q.sub(expected).abs().max().dataSync()[0];
    assert.ok(err < 1e-5, `max diff ${err}`);
    tf.dispose([p, gl, gh, q, expected]);
  });

  it('a sharp edge in the full-res guide sharpens the upsampled mask', () => {
    // true mask: person left of column 13 (of 32), a vertical edge inside low-res pixel 3 (cols 12..15)
    const H = 32;
    const W = 32;
    const mask = tf.tidy(() => tf.tile(tf.tensor1d(Array.from({ length: W }, (_, c) => (c < 13 ? 1 : 0))).reshape([1, 1, W, 1]), [1, H, 1, 1])) as tf.Tensor4D;
    const trueLogits = mask.mul(8).sub(4) as tf.Tensor4D;
    const low = tf.avgPool(trueLogits, 4, 4, 'valid') as tf.Tensor4D; // [1,8,8,1], the edge is blurred away
    const guideHigh = mask; // a frame whose brightness changes exactly at the person's edge
    const guideLow = tf.avgPool(guideHigh, 4, 4, 'valid') as tf.Tensor4D;
    const q = guidedUpsample(low, guideLow, guideHigh, 1, 1e-4);
    const bilinear = tf.image.resizeBilinear(low, [H, W]);
    const errOf = (t: tf.Tensor) => tf.tidy(() => t.sigmoid().sub(mask).abs().mean().dataSync()[0]);
    const eq = errOf(q);
    const eb = errOf(bilinear);
    assert.ok(eq < 0.5 * eb, `guided error ${eq} not well below bilinear error ${eb}`);
    // the guided mask crosses 0.5 between columns 12 and 13, where the true edge is
    const row = q.sigmoid().slice([0, 16, 0, 0], [1, 1, W, 1]).dataSync();
    assert.ok(row[12] > 0.5 && row[13] < 0.5, `edge at the wrong place: ${row[12]} ${row[13]}`);
    tf.dispose([mask, trueLogits, low, guideLow, q, bilinear]);
  });

  it('gradients match finite differences (inputs and all weights)', async () => {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 1, eps: 0.05, channels: 3, seed: 5, name: 'gf_grad' });
    const p = tf.randomNormal([1, 4, 5, 1], 0, 1, 'float32', 2);
    const fl = tf.randomUniform([1, 4, 5, 3], 0, 1, 'float32', 3);
    const fh = tf.randomUniform([1, 8, 10, 3], 0, 1, 'float32', 4);
    const wOut = tf.randomNormal([1, 8, 10, 1], 0, 1, 'float32', 5);
    // training: the path gradients take, for the finite differences too (inference fuses the guide's convolutions)
    const f = (pp: tf.Tensor) => (layer.apply([pp, fl, fh], { training: true }) as tf.Tensor).mul(wOut).sum() as tf.Scalar;
    f(p).dispose(); // builds the layer
    const before = tf.memory().numTensors;

    // d/dp (float32: central differences with a large step, relative tolerance)
    const gp = tf.grad(f)(p);
    const pv = p.dataSync().slice();
    const numeric: number[] = [];
    const h = 1e-2;
    for (let i = 0; i < pv.length; i++) {
      const plus = pv.slice();
      plus[i] += h;
      const minus = pv.slice();
      minus[i] -= h;
      const fp = tf.tidy(() => f(tf.tensor(plus, p.shape)).dataSync()[0]);
      const fm = tf.tidy(() => f(tf.tensor(minus, p.shape)).dataSync()[0]);
      numeric.push((fp - fm) / (2 * h));
    }
    const ep = relErr(gp.dataSync() as Float32Array, numeric);
    assert.ok(ep < 2e-2, `dp relative error ${ep}`);
    gp.dispose();

    // d/dweights
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    assert.deepEqual(
      layer.trainableWeights.map((w) => w.originalName.split('/').pop()),
      ['guide_w1', 'guide_b1', 'guide_w2', 'log_eps'],
    );
    const { value, grads } = tf.variableGrads(() => f(p), vars);
    value.dispose();
    for (const v of vars) {
      const analytic = grads[v.name].dataSync();
      const orig = v.dataSync().slice();
      const num: number[] = [];
      for (let i = 0; i < orig.length; i++) {
        const hv = 2e-3 * Math.max(1, Math.abs(orig[i])); // small: LeakyReLU kinks must not fall inside the step
        const tmp = orig.slice();
        tmp[i] = orig[i] + hv;
        tf.tidy(() => v.assign(tf.tensor(tmp, v.shape)));
        const fp = tf.tidy(() => f(p).dataSync()[0]);
        tmp[i] = orig[i] - hv;
        tf.tidy(() => v.assign(tf.tensor(tmp, v.shape)));
        const fm = tf.tidy(() => f(p).dataSync()[0]);
        tf.tidy(() => v.assign(tf.tensor(orig, v.shape)));
        num.push((fp - fm) / (2 * hv));
      }
      const e = relErr(analytic as Float32Array, num);
      assert.ok(e < 3e-2, `${v.name}: relative error ${e} (analytic ${Array.from(analytic).slice(0, 4)} numeric ${num.slice(0, 4)})`);
      assert.ok(Array.from(analytic).some((g) => g !== 0), `${v.name}: zero gradient`);
    }
    tf.dispose(Object.values(grads));
    assert.equal(tf.memory().numTensors, before, 'tensor leak');
    tf.dispose([p, fl, fh, wOut]);
    layer.dispose();
  });

  it("space 'prob': untrained, it is (within 1e-3) the classic gray-guided filter of P(person), returned as logits", () => {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 2, eps: 0.01, channels: 4, seed: 3, space: 'prob', name: 'gf_prob' });
    const p = tf.randomNormal([1, 8, 6, 1], 0, 3, 'float32', 7) as tf.Tensor4D;
    const fl = tf.randomUniform([1, 8, 6, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
    const fh = tf.randomUniform([1, 24, 18, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const got = layer.apply([p, fl, fh]) as tf.Tensor4D;
    const luma = (f: tf.Tensor4D) => f.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true) as tf.Tensor4D;
    const q = guidedUpsample(p.sigmoid() as tf.Tensor4D, luma(fl), luma(fh), 2, 0.01);
    const want = probToLogits(q);
    assert.deepEqual(got.shape, [1, 24, 18, 1]);
    const err = got.sub(want).abs().max().dataSync()[0];
    assert.ok(err < 2e-3, `max diff ${err}`);
    // the logits of P within the clip are exact inverses of the sigmoid; an overshoot keeps a slope of 1
    const back = probToLogits(tf.tensor4d([0.5, 0.9, 1e-5, 1.2, -0.3], [1, 1, 5, 1])).dataSync();
    const lim = Math.log((1 - PROB_CLIP) / PROB_CLIP);
    const expect = [0, Math.log(9), -lim + (1e-5 - PROB_CLIP), lim + (1.2 - (1 - PROB_CLIP)), -lim + (-0.3 - PROB_CLIP)];
    expect.forEach((e, i) => assert.ok(Math.abs(back[i] - e) < 1e-3, `${i}: ${back[i]} vs ${e}`));
    assert.equal(layer.getConfig().space, 'prob');
    assert.equal(new GuidedFilter({ radius: 1, eps: 0.01, channels: 2 }).space, 'logits', 'a saved layer without the key is the first version');
    tf.dispose([p, fl, fh, got, q, want]);
    layer.dispose();
  });

  it("space 'prob' keeps texture out of the mask where 'logits' turns it into edges (imported nets' logits reach +-1000)", () => {
    registerCustomLayers();
    // a confident net: +1000 on the person (left half), -1000 on the background
    const H = 32;
    const W = 32;
    const col = (c: number) => (c < 16 ? 1 : 0);
    const mask = tf.tidy(() => tf.tile(tf.tensor1d(Array.from({ length: W }, (_, c) => col(c))).reshape([1, 1, W, 1]), [1, H, 1, 1])) as tf.Tensor4D;
    const logitsHigh = mask.mul(2000).sub(1000) as tf.Tensor4D;
    const low = tf.image.resizeBilinear(logitsHigh, [8, 8]) as tf.Tensor4D;
    // the frame: the person's edge plus strong texture (clothing, background) everywhere
    const texture = tf.randomUniform([1, H, W, 3], 0, 0.6, 'float32', 11) as tf.Tensor4D;
    const frame = tf.tidy(() => texture.add(mask.mul(0.3)).clipByValue(0, 1)) as tf.Tensor4D;
    const frameLow = tf.image.resizeBilinear(frame, [8, 8], false, true) as tf.Tensor4D;
    const wrong = (space: 'prob' | 'logits') => {
      const layer = new GuidedFilter({ radius: 1, eps: 0.01, channels: 2, seed: 1, space, name: `gf_tex_${space}` });
      const out = layer.apply([low, frameLow, frame]) as tf.Tensor;
      const pred = out.greater(0).cast('float32');
      const n = pred.sub(mask).abs().sum().dataSync()[0];
      tf.dispose([out, pred]);
      layer.dispose();
      return n;
    };
    const wp = wrong('prob');
    const wl = wrong('logits');
    // prob: at most the pixels next to the edge (2 columns of 32 rows); logits: texture flips pixels far from it
    assert.ok(wp <= 2 * H, `prob space: ${wp} wrong pixels`);
    assert.ok(wl > 3 * wp, `logits space should be much worse: ${wl} vs ${wp}`);
    tf.dispose([mask, logitsHigh, low, texture, frame, frameLow]);
  });

  it("space 'prob': gradients match finite differences (inputs and all weights)", () => {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 1, eps: 0.05, channels: 3, seed: 5, space: 'prob', name: 'gf_grad_prob' });
    // moderate P (0.2..0.8): near 0 or 1 the inverse sigmoid amplifies float32 rounding beyond what finite differences resolve
    const p = tf.randomNormal([1, 4, 5, 1], 0, 0.5, 'float32', 2);
    const fl = tf.randomUniform([1, 4, 5, 3], 0, 1, 'float32', 3);
    const fh = tf.randomUniform([1, 8, 10, 3], 0, 1, 'float32', 4);
    const wOut = tf.randomNormal([1, 8, 10, 1], 0, 1, 'float32', 5);
    // training: the path gradients take, for the finite differences too (inference fuses the guide's convolutions)
    const f = (pp: tf.Tensor) => (layer.apply([pp, fl, fh], { training: true }) as tf.Tensor).mul(wOut).sum() as tf.Scalar;
    f(p).dispose();
    // a trained guide: the learned part away from its zero start, so every weight has a gradient
    const ws = layer.getWeights();
    layer.setWeights(ws.map((w, i) => (i === 2 ? tf.randomNormal(w.shape, 0, 0.5, 'float32', 6) : w)));
    const num = (get: () => Float32Array, set: (v: Float32Array) => void, h: number): number[] => {
      const orig = get().slice();
      const out: number[] = [];
      for (let i = 0; i < orig.length; i++) {
        const tmp = orig.slice();
        tmp[i] = orig[i] + h;
        set(tmp);
        const fp = tf.tidy(() => f(p).dataSync()[0]);
        tmp[i] = orig[i] - h;
        set(tmp);
        const fm = tf.tidy(() => f(p).dataSync()[0]);
        set(orig);
        out.push((fp - fm) / (2 * h));
      }
      return out;
    };
    const gp = tf.grad(f)(p);
    const numeric: number[] = [];
    const base = p.dataSync().slice();
    for (let i = 0; i < base.length; i++) {
      const plus = base.slice();
      plus[i] += 1e-2;
      const minus = base.slice();
      minus[i] -= 1e-2;
      const fp = tf.tidy(() => f(tf.tensor(plus, p.shape)).dataSync()[0]);
      const fm = tf.tidy(() => f(tf.tensor(minus, p.shape)).dataSync()[0]);
      numeric.push((fp - fm) / 2e-2);
    }
    assert.ok(relErr(gp.dataSync() as Float32Array, numeric) < 2e-2, 'dp');
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => f(p), vars);
    value.dispose();
    for (const v of vars) {
      const analytic = grads[v.name].dataSync() as Float32Array;
      const n = num(
        () => v.dataSync() as Float32Array,
        (x) => tf.tidy(() => v.assign(tf.tensor(x, v.shape))),
        2e-3,
      );
      const e = relErr(analytic, n);
      assert.ok(e < 3e-2, `${v.name}: relative error ${e} (analytic ${Array.from(analytic).map((x) => x.toExponential(2))} numeric ${n.map((x) => x.toExponential(2))})`);
      assert.ok(Array.from(analytic).some((g) => g !== 0), `${v.name}: zero gradient`);
    }
    tf.dispose([gp, p, fl, fh, wOut, ...Object.values(grads)]);
    layer.dispose();
  });

  it('getConfig round-trips through the registered class', () => {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 3, eps: 0.02, channels: 4, trainableEps: false, name: 'gf_cfg' });
    const cfg = layer.getConfig();
    const again = tf.serialization.SerializationMap.getMap().classNameMap.GuidedFilter[1](
      tf.serialization.SerializationMap.getMap().classNameMap.GuidedFilter[0],
      cfg,
    ) as GuidedFilter;
    assert.equal(again.radius, 3);
    assert.equal(again.epsInit, 0.02);
    assert.equal(again.channels, 4);
    assert.equal(again.trainableEps, false);
    assert.throws(() => new GuidedFilter({ radius: 0, eps: 0.01, channels: 2 }), /radius must be an integer >= 1/);
  });

  it('trains on wasm too: its gradients equal the cpu ones', async function () {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 2, eps: 0.05, channels: 3, seed: 9, name: 'gf_wasm' });
    const inputs = () => [
      tf.randomNormal([2, 6, 5, 1], 0, 1, 'float32', 2),
      tf.randomUniform([2, 6, 5, 3], 0, 1, 'float32', 3),
      tf.randomUniform([2, 12, 10, 3], 0, 1, 'float32', 4),
      tf.randomNormal([2, 12, 10, 1], 0, 1, 'float32', 5),
    ];
    const gradsOn = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      if (backend === 'wasm') {
        if (!(await useWasm())) return [];
      } else await tf.setBackend('cpu');
      const [p, fl, fh, wOut] = inputs();
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const f = (pp: tf.Tensor) => (layer.apply([pp, fl, fh], { training: true }) as tf.Tensor).mul(wOut).sum() as tf.Scalar;
      const gp = tf.grad(f)(p);
      const { value, grads } = tf.variableGrads(() => f(p), vars);
      const out = [gp, ...vars.map((v) => grads[v.name])].map((t) => t.dataSync() as Float32Array);
      tf.dispose([p, fl, fh, wOut, gp, value, ...Object.values(grads)]);
      return out;
    };
    // build on cpu (weights live in the cpu backend, tfjs moves them on first read)
    await tf.setBackend('cpu');
    tf.tidy(() => layer.apply(inputs().slice(0, 3)));
    const onCpu = await gradsOn('cpu');
    const onWasm = await gradsOn('wasm');
    await tf.setBackend('cpu');
    layer.dispose();
    if (onWasm.length === 0) this.skip();
    assert.equal(onWasm.length, onCpu.length);
    onCpu.forEach((g, i) => {
      const e = relErr(g, onWasm[i], 1e-3);
      assert.ok(e < 1e-3, `gradient ${i}: cpu and wasm differ (relative ${e})`);
    });
  });

  it('inference fuses the guide into two convolutions: the same guide and output (cpu and wasm), and gradients still take the plain path', async function () {
    registerCustomLayers();
    const layer = new GuidedFilter({ radius: 4, eps: 1e-3, channels: 8, seed: 3, space: 'prob', name: 'gf_fast' });
    const p = tf.randomNormal([2, 12, 16, 1], 0, 3, 'float32', 2);
    const fl = tf.randomUniform([2, 12, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const fh = tf.randomUniform([2, 36, 48, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    tf.tidy(() => layer.apply([p, fl, fh]));
    // a learned part of real size (the untrained one is 1e-3 small and would hide a wrong fusion)
    layer.setWeights(layer.getWeights().map((w, i) => (i === 2 ? tf.randomNormal(w.shape, 0, 0.7, 'float32', 8) : w)));
    for (const backend of ['cpu', 'wasm'] as const) {
      if (backend === 'wasm' && !(await useWasm())) continue;
      if (backend === 'cpu') await tf.setBackend('cpu');
      const plain = layer.guide(fh, true);
      const fused = layer.guide(fh, false);
      const d = plain.sub(fused).abs().max().dataSync()[0];
      assert.ok(d < 2e-6, `${backend}: guide differs by ${d}`);
      assert.ok(plain.sub(plain.mean()).abs().max().dataSync()[0] > 0.1, 'the learned guide is not flat');
      const outTrain = layer.apply([p, fl, fh], { training: true }) as tf.Tensor;
      const outInfer = layer.apply([p, fl, fh]) as tf.Tensor;
      const dp = outTrain.sigmoid().sub(outInfer.sigmoid()).abs().max().dataSync()[0];
      assert.ok(dp < 1e-5, `${backend}: P(person) differs by ${dp}`);
      // under a gradient tape the plain path runs (fused LeakyReLU has no gradient in tfjs)
      const g = tf.grad((x: tf.Tensor) => (layer.apply([p, fl, x]) as tf.Tensor).sum())(fh);
      assert.ok(g.abs().sum().dataSync()[0] > 0, `${backend}: zero gradient`);
      tf.dispose([plain, fused, outTrain, outInfer, g]);
    }
    await tf.setBackend('cpu');
    tf.dispose([p, fl, fh]);
    layer.dispose();
  });
  it('inference on wasm is one SIMD kernel: the ops path\'s output within float32 rounding, any size, both spaces, no leak', async function () {
    registerCustomLayers();
    assert.ok(await useWasm(), 'the wasm backend does not load');
    // [h, w] of the net's output, [H, W] of the frame, radius, space: widths that are not multiples
    // of 4, a frame at the net's own size (no resize), batches of 2
    const cases: [number, number, number, number, number, 'prob' | 'logits'][] = [
      [12, 16, 36, 48, 4, 'prob'],
      [9, 7, 25, 31, 2, 'prob'],
      [8, 8, 8, 8, 3, 'logits'],
      [16, 10, 20, 13, 1, 'prob'],
    ];
    for (const [h, w, H, W, radius, space] of cases) {
      const layer = new GuidedFilter({ radius, eps: 1e-3, channels: 8, seed: 5, space, name: `gf_k_${h}_${W}_${space}` });
      const p = tf.randomNormal([2, h, w, 1], 0, 3, 'float32', 2);
      const fl = tf.randomUniform([2, h, w, 3], 0, 1, 'float32', 3);
      const fh = tf.randomUniform([2, H, W, 3], 0, 1, 'float32', 4);
      tf.tidy(() => layer.apply([p, fl, fh]));
      // a learned guide of real size (the untrained one is 1e-3 small and would hide a wrong guide)
      layer.setWeights(layer.getWeights().map((t, i) => (i === 2 ? tf.randomNormal(t.shape, 0, 0.7, 'float32', 8) : t)));
      setWasmGuidedFilter(false);
      const ops = layer.apply([p, fl, fh]) as tf.Tensor;
      setWasmGuidedFilter(true);
      const before = tf.memory();
      let kernel: tf.Tensor | undefined;
      const profile = await tf.profile(() => {
        kernel = layer.apply([p, fl, fh]) as tf.Tensor;
        return kernel;
      });
      const what = `[${h},${w}] -> [${H},${W}] r=${radius} ${space}`;
      assert.ok(profile.kernelNames.includes(GUIDED_FILTER_KERNEL), `${what}: the kernel did not run (${profile.kernelNames.join(', ')})`);
      assert.deepEqual(kernel!.shape, [2, H, W, 1]);
      const e = relErr(ops.dataSync() as Float32Array, kernel!.dataSync() as Float32Array, 1e-2);
      assert.ok(e < 1e-4, `${what}: kernel and ops differ (relative ${e})`);
      const dp = tf.tidy(() => ops.sigmoid().sub(kernel!.sigmoid()).abs().max().dataSync()[0]);
      assert.ok(dp < 1e-5, `${what}: P(person) differs by ${dp}`);
      kernel!.dispose();
      assert.equal(tf.memory().numTensors, before.numTensors, `${what}: tensor leak`);
      assert.equal(tf.memory().numBytes, before.numBytes, `${what}: memory leak`);
      tf.dispose([p, fl, fh, ops]);
      layer.dispose();
    }
    // too narrow for groups of 4, and under a gradient tape: the ops run
    const layer = new GuidedFilter({ radius: 1, eps: 1e-3, channels: 2, seed: 5, space: 'prob', name: 'gf_k_narrow' });
    const narrow = [tf.randomNormal([1, 5, 3, 1]), tf.randomUniform([1, 5, 3, 3]), tf.randomUniform([1, 10, 6, 3])];
    const p1 = await tf.profile(() => layer.apply(narrow) as tf.Tensor);
    assert.ok(!p1.kernelNames.includes(GUIDED_FILTER_KERNEL), 'a 3-pixel-wide map went to the kernel');
    const wide = [tf.randomNormal([1, 5, 8, 1]), tf.randomUniform([1, 5, 8, 3]), tf.randomUniform([1, 10, 16, 3])];
    const p2 = await tf.profile(() => tf.grad((x: tf.Tensor) => (layer.apply([x, wide[1], wide[2]]) as tf.Tensor).sum())(wide[0]));
    assert.ok(!p2.kernelNames.includes(GUIDED_FILTER_KERNEL), 'the kernel ran under a gradient tape');
    tf.dispose([...narrow, ...wide]);
    layer.dispose();
    await tf.setBackend('cpu');
  });
});
