/**
 * The import cache of packaged / .tflite models (issue 18): a per-user folder, never the shared
 * temp folder; keyed by the importer's version; every use checks the folder against the content
 * hashes recorded when it was made, and imports again (saying so) when they differ.
 */
import { strict as assert } from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { IMPORTER_VERSION } from '../../../src/models/import';
import { CACHE_RECORD, checkCachedImport, ensureImported, importCacheDir } from '../../../src/models/import/packaged';
import { checkImport } from '../../../src/export/import-check';
import { tmpDir, writeTfliteFixture } from './fixtures';

const ENV = ['PORTRAITSEG_IMPORT_CACHE', 'XDG_CACHE_HOME', 'HOME'] as const;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe('models/import/packaged: the import cache', function () {
  this.timeout(120000);
  const saved: Record<string, string | undefined> = {};
  let model: string;
  before(async () => {
    for (const k of ENV) saved[k] = process.env[k];
    await tf.setBackend('cpu');
    model = writeTfliteFixture(tmpDir());
  });
  afterEach(() => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('lives in a per-user cache folder: XDG_CACHE_HOME, else ~/.cache; PORTRAITSEG_IMPORT_CACHE overrides; never the system temp folder', () => {
    const home = tmpDir('psg-home-');
    delete process.env.PORTRAITSEG_IMPORT_CACHE;
    process.env.XDG_CACHE_HOME = path.join(home, 'xdg');
    assert.equal(importCacheDir(), path.join(home, 'xdg', 'portraitseg', 'imports'));
    delete process.env.XDG_CACHE_HOME;
    process.env.HOME = home;
    assert.equal(importCacheDir(), path.join(home, '.cache', 'portraitseg', 'imports'));
    process.env.XDG_CACHE_HOME = 'relative/xdg'; // invalid by the XDG spec: ignored
    assert.equal(importCacheDir(), path.join(home, '.cache', 'portraitseg', 'imports'));
    process.env.PORTRAITSEG_IMPORT_CACHE = path.join(home, 'mine');
    assert.equal(importCacheDir(), path.join(home, 'mine'));
    process.env.HOME = saved.HOME ?? os.homedir();
    delete process.env.PORTRAITSEG_IMPORT_CACHE;
    delete process.env.XDG_CACHE_HOME;
    assert.ok(!importCacheDir().startsWith(os.tmpdir()), importCacheDir());
  });

  it('a fresh cache folder is private (0700) and the import records its importer version and content hashes', async () => {
    const root = path.join(tmpDir('psg-cache-'), 'a', 'imports');
    const lines: string[] = [];
    const out = await ensureImported(model, { seed: 1, key: 'train.init', check: checkImport, log: (l) => lines.push(l), dir: root });
    assert.equal(fs.statSync(root).mode & 0o777, 0o700);
    assert.equal(path.dirname(out), root);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^train\.init: imported .*fixture\.tflite into .*; parity .*import vs .* OK$/);
    const record = JSON.parse(fs.readFileSync(path.join(out, CACHE_RECORD), 'utf8'));
    assert.equal(record.importer, IMPORTER_VERSION);
    assert.deepEqual(Object.keys(record.sha256).sort(), ['model.json', 'portraitseg.json', 'weights.bin']);
    assert.equal(record.sha256['weights.bin'], sha(path.join(out, 'weights.bin')));
    assert.equal(checkCachedImport(out), null);
  });

  it('a replaced weights.bin is noticed on the next use and imported again (it used to be used silently)', async () => {
    const root = tmpDir('psg-cache-');
    const first: string[] = [];
    const out = await ensureImported(model, { seed: 1, key: 'train.init', check: checkImport, log: (l) => first.push(l), dir: root });
    const weights = path.join(out, 'weights.bin');
    const good = sha(weights);
    // the same size, other values: what a planted file looks like
    const bytes = fs.readFileSync(weights);
    const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    for (let i = 0; i < f.length; i++) f[i] = -f[i];
    fs.writeFileSync(weights, bytes);
    assert.equal(checkCachedImport(out), 'weights.bin changed');
    const lines: string[] = [];
    const again = await ensureImported(model, { seed: 1, key: 'train.init', check: checkImport, log: (l) => lines.push(l), dir: root });
    assert.equal(again, out);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.equal(lines[0], `train.init: the cached import ${out} does not match what was recorded when it was made (weights.bin changed): importing it again`);
    assert.match(lines[1], /^train\.init: imported /);
    assert.equal(sha(weights), good, 'the import was made again');
    // an extra file, or a record of another importer version, is a mismatch too
    fs.writeFileSync(path.join(out, 'extra.bin'), 'x');
    assert.match(checkCachedImport(out)!, /^files extra\.bin, model\.json, portraitseg\.json, weights\.bin instead of/);
    fs.rmSync(path.join(out, 'extra.bin'));
    const rec = JSON.parse(fs.readFileSync(path.join(out, CACHE_RECORD), 'utf8'));
    fs.writeFileSync(path.join(out, CACHE_RECORD), JSON.stringify({ ...rec, importer: IMPORTER_VERSION - 1 }));
    assert.equal(checkCachedImport(out), `made by importer version ${IMPORTER_VERSION - 1}`);
  });

  it('a cache folder every user may write into (the old /tmp layout) is refused, naming it', async () => {
    const root = tmpDir('psg-cache-');
    fs.chmodSync(root, 0o777);
    await assert.rejects(
      ensureImported(model, { seed: 1, key: 'train.init', check: checkImport, log: () => {}, dir: root }),
      (e: Error) => e.message === `train.init: the import cache folder ${root} is writable by every user: set PORTRAITSEG_IMPORT_CACHE to a private folder (or chmod o-w it)`,
    );
  });
});
