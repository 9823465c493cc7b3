import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, selectBackend, wasmTrainingKernelsRegistered } from '../../src/backend';

describe('backend/select: choosing and reporting the backend', function () {
  this.timeout(60000);

  it('an explicit request activates that backend and says so', async () => {
    const lines: string[] = [];
    const c = await selectBackend('cpu', (l) => lines.push(l));
    assert.equal(c.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(lines, ['backend: cpu (cpu as requested)']);
    assert.equal(currentBackend()?.name, 'cpu');
  });

  it('auto skips tfjs-node(-gpu) when they do not load, takes wasm with our kernels, and says why', async () => {
    const lines: string[] = [];
    const c = await selectBackend('auto', (l) => lines.push(l));
    assert.equal(c.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.ok(wasmTrainingKernelsRegistered());
    assert.match(c.reason, /^auto chose wasm/);
    assert.match(c.reason, /@tensorflow\/tfjs-node-gpu not usable/);
    assert.match(c.reason, /@tensorflow\/tfjs-node not usable/);
    assert.match(c.reason, /portraitseg training kernels/);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^backend: wasm \(auto chose wasm/);
  });

  it('selecting again after someone else called tf.setBackend re-activates the requested backend', async () => {
    await selectBackend('wasm');
    await tf.setBackend('cpu');
    const c = await selectBackend('wasm');
    assert.equal(c.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('an unavailable backend is an error naming what failed', async () => {
    await assert.rejects(selectBackend('tensorflow'), /backend "tensorflow" is not available: @tensorflow\/tfjs-node not usable/);
  });

  it('tfjs-node without tfjs_binding.node is skipped with the fix, before its kernels are registered', async function () {
    let dir: string;
    try {
      dir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
    } catch {
      this.skip(); // not installed at all: the require's own message is the reason
    }
    const lib = path.join(dir!, 'lib');
    if (fs.existsSync(lib) && fs.readdirSync(lib).some((d) => fs.existsSync(path.join(lib, d, 'tfjs_binding.node')))) this.skip(); // a working install
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warned.push(a.join(' '));
    try {
      await assert.rejects(selectBackend('tensorflow'), /@tensorflow\/tfjs-node not usable \(installed without its native library; run once: npm rebuild @tensorflow\/tfjs-node --ignore-scripts=false\)/);
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(warned.filter((w) => /already registered/.test(w)), [], 'no kernel was registered');
  });
});
