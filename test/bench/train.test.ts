import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { aggregate, benchTrainCase, formatTable, runTwin, twinNet, twinThreads } from '../../src/bench/train';

describe('bench/train: per-kernel profile of one training step', function () {
  this.timeout(120000);

  it('aggregates by kernel, leaves out op wrappers (their time is their inner kernel)', () => {
    const t = aggregate([
      { name: 'fusedConv2d__op', kernelTimeMs: 10 },
      { name: 'FusedConv2D', kernelTimeMs: 9 },
      { name: 'Add', kernelTimeMs: 0.5 },
      { name: 'Add', kernelTimeMs: 0.5 },
      { name: 'Sum', kernelTimeMs: { error: 'n/a' } },
    ]);
    assert.deepEqual(t.map((k) => [k.kernel, k.ms, k.calls]), [['FusedConv2D', 9, 1], ['Add', 1, 2], ['Sum', 0, 1]]);
    assert.equal(t[0].share, 0.9);
  });

  it('runs the twin with the same settings and reads its JSON line; a failing twin is an error line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twin-'));
    // a stand-in for torch_twins.py (run by node here): echoes its arguments as the twin's JSON line
    const fake = path.join(dir, 'twin.js');
    fs.writeFileSync(fake, `const a = process.argv.slice(2); const g = (k) => a[a.indexOf(k) + 1];
if (g('--net') === 'bad') { console.error('no such net'); process.exit(2); }
console.log('warming up'); console.log(JSON.stringify({ net: g('--net'), threads: +g('--threads'), img_s: 20, img_s_mean: 16 + +g('--batch'), cpu_ms_step: 500, torch: 'fake' }));`);
    try {
      assert.equal(twinNet('unet_teacher_s'), 'unet');
      assert.equal(twinNet('mnv2_student_s'), 'mnv2');
      assert.equal(twinNet('other'), null);
      assert.equal(twinThreads('wasm'), 1);
      assert.equal(twinThreads('wasm-parallel'), 2);
      assert.equal(twinThreads('cpu'), null);
      const t = runTwin({ python: process.execPath, script: fake, net: 'mnv2', threads: 2, batch: 4, size: 64, steps: 2, warmup: 1, seed: 1 });
      assert.deepEqual(t, { net: 'mnv2', threads: 2, imgPerSec: 20, imgPerSecMedian: 20, cpuMsPerStep: 500, torch: 'fake' });
      const bad = runTwin({ python: process.execPath, script: fake, net: 'bad', threads: 1, batch: 4, size: 64, steps: 2, warmup: 1, seed: 1 });
      assert.match((bad as { error: string }).error, /^twin exited 2: no such net/);
      const row = { model: 'mnv2_student_s', size: 64, batch: 4, backend: 'wasm' as const, error: null, steps: 2, microBatch: 4, msPerStep: 400, imgPerSec: 10, cpuMsPerStep: 390, loss: 0.7, params: 1, peakWasmHeapBytes: null, peakRssBytes: 0, profile: null, twin: t, twinRatio: 0.5 };
      assert.match(formatTable([row]), /\| 10 \| 400 \| 390 \| 20 \| 0\.50x \| 500 \|/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wasm step of the student runs the fused kernels, leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const logs: string[] = [];
    const r = await benchTrainCase({ model: 'mnv2_student_s', size: 64, batch: 2, backend: 'wasm', steps: 1, warmup: 0, profile: true, seed: 1, microBatch: null }, (l) => logs.push(l));
    assert.equal(r.error, null);
    assert.ok(r.imgPerSec! > 0 && Number.isFinite(r.loss!));
    const names = r.profile!.map((k) => k.kernel);
    for (const k of ['PortraitsegBatchNormGrad', 'PortraitsegClipByValueGrad', 'PortraitsegAdamUpdate', 'Conv2DBackpropFilter']) assert.ok(names.includes(k), `${k} in ${names.join(',')}`);
    assert.ok(!names.some((n) => n.endsWith('__op')));
    assert.ok(!logs.some((l) => /tensors left/.test(l)), logs.join('\n'));
    assert.equal(tf.memory().numTensors, before);
  });
});
