import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, selectBackend, wasmTrainingKernelsRegistered } from '../../src/backend';

const ROOT = path.join(__dirname, '../..');

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

  it('auto takes the first native backend that loads, else wasm with our kernels, and says why', async () => {
    // What this machine has, probed in child processes: each native package is absent (npm does
    // not install optional peers), installed without its addon, or loads.
    const status = (mod: string) => {
      let dir: string;
      try {
        dir = path.dirname(require.resolve(`${mod}/package.json`));
      } catch {
        return 'absent';
      }
      const lib = path.join(dir, 'lib');
      if (!(fs.existsSync(lib) && fs.readdirSync(lib).some((d) => fs.existsSync(path.join(lib, d, 'tfjs_binding.node'))))) return 'no addon';
      return spawnSync(process.execPath, ['-e', `require(${JSON.stringify(mod)})`], { stdio: 'ignore', timeout: 120000 }).status === 0 ? 'loads' : 'fails';
    };
    const gpu = status('@tensorflow/tfjs-node-gpu');
    const cpu = status('@tensorflow/tfjs-node');
    const lines: string[] = [];
    const c = await selectBackend('auto', (l) => lines.push(l));
    assert.equal(lines.length, 1);
    assert.equal(lines[0], `backend: ${c.name} (${c.reason})`);
    const skipped = (mod: string, st: string) =>
      st === 'absent'
        ? new RegExp(`${mod} not usable \\(not installed; it is an optional peer dependency: npm install ${mod}\\)`)
        : st === 'no addon'
          ? new RegExp(`${mod} not usable \\(installed without its native library; run once: npm rebuild ${mod} --ignore-scripts=false\\)`)
          : new RegExp(`${mod} (not usable|loaded but)`);
    const G = '@tensorflow/tfjs-node-gpu';
    const N = '@tensorflow/tfjs-node';
    if (gpu === 'loads') {
      assert.equal(c.name, 'tensorflow');
      assert.equal(c.reason, 'auto chose tensorflow-gpu');
    } else if (cpu === 'loads') {
      assert.equal(c.name, 'tensorflow');
      assert.match(c.reason, /^auto chose tensorflow; skipped: /);
      assert.match(c.reason, skipped(G, gpu));
      assert.doesNotMatch(c.reason, /tfjs-node not usable/);
    } else {
      assert.equal(c.name, 'wasm');
      assert.ok(wasmTrainingKernelsRegistered());
      assert.match(c.reason, /^auto chose wasm with portraitseg training kernels; skipped: /);
      assert.match(c.reason, skipped(G, gpu));
      assert.match(c.reason, skipped(N, cpu));
    }
    assert.equal(tf.getBackend(), c.name);
    process.stderr.write(`      (tfjs-node-gpu: ${gpu}, tfjs-node: ${cpu}; ${lines[0]})\n`);
  });

  it('selecting again after someone else called tf.setBackend re-activates the requested backend', async () => {
    await selectBackend('wasm');
    await tf.setBackend('cpu');
    const c = await selectBackend('wasm');
    assert.equal(c.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('an unavailable backend is an error naming what failed', async function () {
    const loads = (mod: string) => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(mod)})`], { stdio: 'ignore', timeout: 120000 }).status === 0;
    const which = !loads('@tensorflow/tfjs-node-gpu') ? 'tensorflow-gpu' : !loads('@tensorflow/tfjs-node') ? 'tensorflow' : null;
    if (!which) this.skip(); // both native backends work here
    const mod = which === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    await assert.rejects(selectBackend(which!), new RegExp(`backend "${which}" is not available: ${mod} not usable`));
  });

  it('a native package without its addon is skipped with the fix, before its kernels are registered', function () {
    // A stand-in @tensorflow/tfjs-node-gpu found through NODE_PATH (after node_modules, so only
    // where the real one is not installed): its package.json and an index.js that records being
    // required, no lib/napi-v*/tfjs_binding.node.
    let real = true;
    try {
      require.resolve('@tensorflow/tfjs-node-gpu/package.json');
    } catch {
      real = false;
    }
    if (real) this.skip(); // a GPU user's install: the stand-in would not be found
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-fake-native-'));
    try {
      const pkg = path.join(dir, '@tensorflow', 'tfjs-node-gpu');
      fs.mkdirSync(path.join(pkg, 'lib', 'napi-v8'), { recursive: true });
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', version: '4.22.0', main: 'index.js' }));
      const marker = path.join(dir, 'required');
      fs.writeFileSync(path.join(pkg, 'index.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'yes');`);
      const code = `require(${JSON.stringify(path.join(ROOT, 'src/backend'))}).selectBackend('tensorflow-gpu').then(() => process.exit(3), (e) => { console.log(e.message); });`;
      const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', code], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_PATH: dir }, timeout: 120000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'backend "tensorflow-gpu" is not available: @tensorflow/tfjs-node-gpu not usable (installed without its native library; run once: npm rebuild @tensorflow/tfjs-node-gpu --ignore-scripts=false)');
      assert.ok(!fs.existsSync(marker), 'the package was never required');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
