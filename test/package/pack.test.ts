/**
 * The published package: `npm pack`, install the tarball into a fresh folder, then
 * `require('portraitseg')` and `import('portraitseg/runtime')` from there, and run its bin.
 * Installs with `npm ci --offline` from the local npm cache; without a complete cache the
 * tarball is extracted and its dependencies linked to this checkout's node_modules (read only).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
const sh = (cmd: string, args: string[], cwd: string, timeout = 300000) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });

describe('package: the packed tarball installs and its entry points load', function () {
  this.timeout(900000);
  let dir = '';
  let how = '';

  before(function () {
    const npm = sh('npm', ['--version'], ROOT);
    if (npm.status !== 0) this.skip();
    // dist/ is what the tarball ships; build it from these sources into a staging copy of the
    // package, never into this checkout (bin/ prefers dist/ when it exists, so a dist/ left here
    // by the test would shadow later source edits).
    const hadDist = fs.existsSync(path.join(ROOT, 'dist'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-pack-'));
    const stage = path.join(dir, 'stage');
    fs.mkdirSync(stage);
    const files = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).files as string[];
    for (const f of ['package.json', 'README.md', 'LICENSE', ...files.filter((f) => !f.startsWith('!') && f !== 'dist')]) {
      if (fs.existsSync(path.join(ROOT, f))) fs.cpSync(path.join(ROOT, f), path.join(stage, f), { recursive: true });
    }
    const tsc = sh(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', path.join(stage, 'dist')], ROOT, 600000);
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    assert.equal(fs.existsSync(path.join(ROOT, 'dist')), hadDist, 'the build went to the staging folder, not into the checkout');
    const pack = sh('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], stage);
    assert.equal(pack.status, 0, pack.stderr);
    const tgz = path.join(dir, pack.stdout.trim().split('\n').pop()!);
    assert.ok(fs.existsSync(tgz), tgz);
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    // The app's lockfile: the tarball plus this checkout's locked (non-dev) dependencies, so
    // `npm ci --offline` installs exactly them from the npm cache, without resolving anything.
    const name = path.basename(tgz);
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const self = lock.packages[''];
    const packages: Record<string, unknown> = { '': { name: 'app', version: '1.0.0', dependencies: { portraitseg: `file:${name}` } } };
    for (const [k, v] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) if (k && !v.dev) packages[k] = v;
    const integrity = 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(tgz)).digest('base64');
    packages['node_modules/portraitseg'] = { version: self.version, resolved: `file:${name}`, integrity, dependencies: self.dependencies, optionalDependencies: self.optionalDependencies, bin: self.bin, engines: self.engines };
    fs.copyFileSync(tgz, path.join(app, name));
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { portraitseg: `file:${name}` } }));
    fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
    const inst = sh('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app, 600000);
    if (inst.status === 0 && fs.existsSync(path.join(app, 'node_modules/portraitseg/package.json'))) {
      how = 'npm ci --offline';
    } else {
      // No complete npm cache: extract the tarball and link its dependencies (never written to).
      fs.rmSync(path.join(app, 'node_modules'), { recursive: true, force: true });
      const pkgDir = path.join(app, 'node_modules', 'portraitseg');
      fs.mkdirSync(pkgDir, { recursive: true });
      const tar = sh('tar', ['-xzf', tgz, '-C', pkgDir, '--strip-components=1'], app);
      assert.equal(tar.status, 0, tar.stderr);
      const deps = Object.keys(JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).dependencies ?? {});
      for (const d of deps) {
        const target = path.join(ROOT, 'node_modules', d);
        if (!fs.existsSync(target)) this.skip();
        const link = path.join(app, 'node_modules', d);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.symlinkSync(fs.realpathSync(target), link, 'dir');
      }
      how = 'extracted + linked dependencies';
    }
    dir = app;
    process.stderr.write(`      (installed by ${how})\n`);
  });

  it(`require('portraitseg') gives the typed Node API`, function () {
    const r = sh(
      process.execPath,
      ['-e', `const p = require('portraitseg'); const need = ['trainTeacher','distillStudent','runEval','exportModel','createSegmenter','createModel','listModels','loadModel','resolveConfig','train'];
       const missing = need.filter((k) => typeof p[k] !== 'function'); if (missing.length) throw new Error('missing: ' + missing);
       console.log(JSON.stringify({ models: p.listModels().map((m) => m.name), dts: require('fs').existsSync(require.resolve('portraitseg').replace(/\\.js$/, '.d.ts')) }));`],
      dir,
    );
    assert.equal(r.status, 0, `${how}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(out.models.includes('unet_teacher_s') && out.models.includes('mnv2_student_s'), r.stdout);
    assert.equal(out.dts, true, 'types ship with the package');
  });

  it(`import('portraitseg/runtime') gives the browser runtime; deep imports are closed`, function () {
    const r = sh(process.execPath, ['--input-type=module', '-e', `const m = await import('portraitseg/runtime'); for (const k of ['createSegmenter','blurComposite','replaceComposite','loadFromUrl']) if (typeof m[k] !== 'function') throw new Error('missing ' + k); console.log('ok');`], dir);
    assert.equal(r.status, 0, `${how}: ${r.stderr}`);
    assert.match(r.stdout, /ok/);
    const deep = sh(process.execPath, ['-e', `require('portraitseg/dist/train')`], dir);
    assert.notEqual(deep.status, 0);
    assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('the bin runs from the installed package', function () {
    const r = sh(process.execPath, [path.join(dir, 'node_modules/portraitseg/bin/portraitseg.js'), '--help'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /portraitseg <command>/);
    assert.doesNotMatch(r.stderr, /npm warn/);
  });
});
