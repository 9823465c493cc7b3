/**
 * Packaged model names (mediapipe:selfie, ...) wherever a command names a model: eval, export,
 * blur, import and bench infer resolve them through the one resolver
 * (src/models/import/packaged.ts packagedSource / ensureImported). Before, all but import's
 * .tflite path answered "--model mediapipe:selfie: not found".
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packagedAvailable } from '../../src/models/import/packaged';
import { cli } from '../helpers/cli';

describe('cli: packaged model names are accepted by every command that takes --model', function () {
  this.timeout(600000);
  let tmp = '';
  let data = '';
  const savedCache = process.env.PORTRAITSEG_IMPORT_CACHE;

  before(function () {
    if (!packagedAvailable('mediapipe:selfie')) this.skip(); // @mediapipe/selfie_segmentation not installed
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-packaged-'));
    // one import cache for all commands below (the children inherit it): selfie is imported once
    process.env.PORTRAITSEG_IMPORT_CACHE = path.join(tmp, 'cache');
    data = path.join(tmp, 'data');
    const r = cli(['data', 'synth', '--out', data, '--count', '4', '--size', '64x64']);
    assert.equal(r.code, 0, r.stderr);
  });

  after(() => {
    if (savedCache === undefined) delete process.env.PORTRAITSEG_IMPORT_CACHE;
    else process.env.PORTRAITSEG_IMPORT_CACHE = savedCache;
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('eval --model mediapipe:selfie imports it (parity checked, cached) and evaluates', () => {
    const r = cli(['eval', '--model', 'mediapipe:selfie', '--data', data, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /--model: imported mediapipe:selfie \(MediaPipe's selfie segmenter/);
    assert.match(r.stdout, /mIoU/);
    assert.equal(fs.readdirSync(path.join(tmp, 'cache')).length, 1, 'one cached import');
  });

  it('export --model mediapipe:selfie writes and checks the export (reusing the cached import)', () => {
    const out = path.join(tmp, 'export');
    const r = cli(['export', '--model', 'mediapipe:selfie', '--format', 'tfjs', '--out', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /imported mediapipe:selfie/, 'the cache is reused');
    assert.ok(fs.existsSync(path.join(out, 'model.json')));
    assert.match(r.stdout, /exported imported:selfie_segmentation/);
  });

  it('blur --model mediapipe:selfie blurs an image', () => {
    const src = path.join(data, 'images', '0000.jpg');
    const out = path.join(tmp, 'blurred.png');
    const r = cli(['blur', '--model', 'mediapipe:selfie', '--input', src, '--output', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.statSync(out).size > 0);
  });

  it('bench infer --model mediapipe:selfie measures it under its name', () => {
    const r = cli(['bench', 'infer', '--model', 'mediapipe:selfie', '--backends', 'wasm', '--sizes', '64x64', '--runs', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mediapipe:selfie/);
  });

  it('import --model mediapipe:selfie-mf writes the selfie with the mask filter', () => {
    const out = path.join(tmp, 'selfie-mf');
    const r = cli(['import', '--model', 'mediapipe:selfie-mf', '--out', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'portraitseg.json'), 'utf8'));
    assert.ok(meta.maskFilter, 'the mask filter was added');
  });

  it('an unknown packaged name is one line naming the flag and the known names, exit 2', () => {
    for (const args of [['eval', '--data', data], ['export', '--format', 'tfjs', '--out', path.join(tmp, 'x')], ['import', '--out', path.join(tmp, 'y')]]) {
      const r = cli([...args, '--model', 'mediapipe:selfy', '--backend', 'cpu']);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /(^|\n)portraitseg: error: --model mediapipe:selfy: unknown packaged model; known: mediapipe:selfie, mediapipe:selfie-mf, mediapipe:selfie-landscape\n$/);
    }
  });
});
