/**
 * The published package: `npm pack` of this checkout as it is, with the repository's own npm
 * settings (its `prepack` builds dist/: nothing here builds it first), then the tarball installed
 * into an empty project and `require('portraitseg')`, `import('portraitseg/runtime')` and its bin
 * run from there. Installs the way a user would, `npm install --offline <tarball>`, when the npm
 * cache holds every dependency's metadata; else `npm ci --offline` from a lockfile made of this
 * checkout's locked dependencies (the cache then only needs their tarballs); else the tarball is
 * extracted and its dependencies linked to this checkout's node_modules (read only).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
// ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's documented switch for its postinstall (which
// would download the CUDA provider); what README tells an offline user to set.
const sh = (cmd: string, args: string[], cwd: string, timeout = 300000) =>
  spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false', ONNXRUNTIME_NODE_INSTALL: 'skip' } });

describe('package: the packed tarball installs and its entry points load', function () {
  this.timeout(900000);
  let tmp = '';
  let dir = '';
  let how = '';
  let packed: string[] = [];

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  before(function () {
    const npm = sh('npm', ['--version'], ROOT);
    if (npm.status !== 0) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-pack-'));
    const pack = sh('npm', ['pack', '--json', '--pack-destination', tmp], ROOT, 600000);
    assert.equal(pack.status, 0, pack.stderr);
    const info = JSON.parse(pack.stdout)[0] as { filename: string; files: { path: string }[] };
    packed = info.files.map((f) => f.path);
    const tgz = path.join(tmp, info.filename);
    assert.ok(fs.existsSync(tgz), tgz);
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    const appJson = { name: 'app', version: '1.0.0', private: true };
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(appJson));
    const user = sh('npm', ['install', '--offline', '--no-audit', '--no-fund', tgz], app, 600000);
    if (user.status === 0 && fs.existsSync(path.join(app, 'node_modules/portraitseg/package.json'))) {
      how = 'npm install --offline';
    } else {
      // The cache lacks some dependency's metadata (ENOTCACHED): a lockfile of the tarball plus
      // this checkout's locked (non-dev) dependencies, so `npm ci --offline` resolves nothing.
      const name = path.basename(tgz);
      fs.copyFileSync(tgz, path.join(app, name));
      const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
      const self = lock.packages[''];
      const packages: Record<string, unknown> = { '': { ...appJson, dependencies: { portraitseg: `file:${name}` } } };
      for (const [k, v] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) if (k && !v.dev) packages[k] = v;
      const integrity = 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(tgz)).digest('base64');
      packages['node_modules/portraitseg'] = { version: self.version, resolved: `file:${name}`, integrity, dependencies: self.dependencies, optionalDependencies: self.optionalDependencies, peerDependencies: self.peerDependencies, peerDependenciesMeta: self.peerDependenciesMeta, bin: self.bin, engines: self.engines };
      fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ ...appJson, dependencies: { portraitseg: `file:${name}` } }));
      fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ ...appJson, lockfileVersion: 3, requires: true, packages }));
      const inst = sh('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app, 600000);
      if (inst.status === 0 && fs.existsSync(path.join(app, 'node_modules/portraitseg/package.json'))) {
        how = `npm ci --offline (npm install --offline: ${/ENOTCACHED/.test(user.stderr) ? 'ENOTCACHED' : user.stderr.trim().split('\n')[0]})`;
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
        fs.mkdirSync(path.join(app, 'node_modules/.bin'), { recursive: true });
        fs.symlinkSync(path.join(pkgDir, 'bin/portraitseg.js'), path.join(app, 'node_modules/.bin/portraitseg'));
        how = 'extracted + linked dependencies';
      }
    }
    dir = app;
    process.stderr.write(`      (installed by ${how})\n`);
  });

  it('the tarball holds the build (dist/, types, the bin) and no sources or source maps', () => {
    for (const f of ['package.json', 'bin/portraitseg.js', 'dist/index.js', 'dist/index.d.ts', 'dist/browser.js', 'dist/browser.d.ts', 'dist/cli/main.js', 'configs/teacher.json']) {
      assert.ok(packed.includes(f), `${f} is in the tarball (${packed.length} files)`);
    }
    assert.deepEqual(packed.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map')), []);
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

  it('npx portraitseg runs the installed package\'s build', function () {
    const r = sh('npx', ['--offline', 'portraitseg', '--help'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /portraitseg <command>/);
    assert.doesNotMatch(r.stderr, /npm warn/);
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules/portraitseg/src')), 'no sources: the bin ran dist/');
  });
});
