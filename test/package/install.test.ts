/**
 * `npm install` of a fresh clone: runs no install script that would download (onnxruntime-node's
 * CUDA provider, tfjs-node's libtensorflow), prints no warnings, and still lets npm run this
 * package's own `prepack` (so `npm pack` ships dist/). What npm would do is read off the
 * manifest and the lockfile; installing here would need the registry.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
const NATIVE = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

describe('package: install scripts and dependency kinds', () => {
  it('the native tfjs backends are optional peer dependencies, so npm installs neither by itself', () => {
    for (const n of NATIVE) {
      assert.ok(pkg.peerDependencies?.[n], `${n} in peerDependencies`);
      assert.equal(pkg.peerDependenciesMeta?.[n]?.optional, true, `${n} optional`);
      for (const kind of ['dependencies', 'optionalDependencies', 'devDependencies']) assert.equal(pkg[kind]?.[n], undefined, `${n} not in ${kind}`);
      assert.equal(lock.packages[`node_modules/${n}`], undefined, `${n} not in package-lock.json`);
    }
  });

  it('every locked package with an install script is allowed or denied by allowScripts (npm warns about the others)', () => {
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([k, v]) => k && v.hasInstallScript)
      .map(([k]) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length));
    assert.ok(withScripts.length > 0, 'the lockfile records install scripts');
    const policy = pkg.allowScripts as Record<string, boolean>;
    assert.deepEqual(withScripts.filter((n) => typeof policy[n] !== 'boolean'), []);
    // the downloads stay off; the native backends' own scripts run for whoever installs one
    assert.equal(policy['onnxruntime-node'], false);
    for (const n of NATIVE) assert.equal(policy[n], true);
  });

  it('npm runs scripts here (no ignore-scripts), so npm pack runs prepack, which builds dist/', function () {
    const r = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
    if (r.error) this.skip(); // no npm on PATH
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'false');
    assert.doesNotMatch(r.stderr, /npm warn/, 'the project .npmrc holds only keys npm knows');
    assert.match(pkg.scripts.prepack, /tsc -p tsconfig\.json/);
    assert.ok(pkg.files.includes('dist'));
  });
});
