/**
 * Our own model folders go through the same rule as imported graph models (src/models/model_files.ts):
 * the shards a model.json names are regular files inside its folder, of exactly the size the
 * manifest needs, checked before they are read; model.json and portraitseg.json are regular files.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { fileHandler } from '../../src/export/tfjs';
import { loadModel, ModelFileError } from '../../src/models/io';
import { MAX_MODEL_JSON_BYTES, readRegularFile } from '../../src/models/model_files';
import { cli } from '../helpers/cli';
import { savedModelFixture } from '../helpers/model-folder';

describe('models/model_files: what a model folder may name', function () {
  this.timeout(120000);
  const fx = savedModelFixture('psg-modelfiles-');
  const copyOf = (name: string) => fx.copyOf(name);

  /** Moves weights.bin beside the folder and points model.json at it. */
  function escaping(name: string): string {
    const d = copyOf(name);
    fs.renameSync(path.join(d, 'weights.bin'), path.join(fx.root, `${name}.bin`));
    const f = path.join(d, 'model.json');
    const j = JSON.parse(fs.readFileSync(f, 'utf8'));
    j.weightsManifest[0].paths = [`../${name}.bin`];
    fs.writeFileSync(f, JSON.stringify(j));
    return d;
  }

  it('loadModel refuses a model.json naming a weights file outside its folder (it used to load it)', async () => {
    const d = escaping('outside');
    await assert.rejects(loadModel(d), (e: Error) => {
      assert.ok(e instanceof ModelFileError, String(e));
      assert.equal(e.message, `${path.join(d, 'model.json')}: weight shard "../outside.bin" is outside the model's folder (${fs.realpathSync(path.join(fx.root, 'outside.bin'))}): a model.json may only name files inside its folder`);
      return true;
    });
  });

  it('loadModel refuses weights.bin with bytes appended (it used to load the model and ignore them)', async () => {
    const d = copyOf('appended');
    const f = path.join(d, 'weights.bin');
    const n = fs.statSync(f).size;
    fs.appendFileSync(f, Buffer.alloc(4));
    await assert.rejects(loadModel(d), (e: Error) => e instanceof ModelFileError && e.message.includes(`weightsManifest[0]: its shards (weights.bin) hold ${n + 4} bytes, its weights need ${n}`));
  });

  it('a portraitseg.json that is a FIFO is refused without opening it (reading it used to hang)', async () => {
    const d = copyOf('fifo-meta');
    const f = path.join(d, 'portraitseg.json');
    fs.rmSync(f);
    execFileSync('mkfifo', [f]);
    await assert.rejects(loadModel(d), (e: Error) => e instanceof ModelFileError && e.message === `${f}: a FIFO, expected a regular portraitseg.json`);
  });

  it('readRegularFile: a device is refused, a file over its cap is refused before it is read', () => {
    assert.throws(() => readRegularFile('/dev/zero', 1024, 'model.json'), /\/dev\/zero: a device, expected a regular model\.json/);
    const big = path.join(fx.root, 'big.json');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, MAX_MODEL_JSON_BYTES + 1); // sparse: nothing is written
    assert.throws(() => readRegularFile(big, MAX_MODEL_JSON_BYTES, 'model.json'), new RegExp(`big\\.json: ${MAX_MODEL_JSON_BYTES + 1} bytes, over the ${MAX_MODEL_JSON_BYTES}-byte limit of a model\\.json`));
  });

  it('export reloads through the same check (its file handler)', async () => {
    const d = escaping('export-outside');
    await assert.rejects(tf.loadLayersModel(fileHandler(path.join(d, 'model.json'))), /weight shard "\.\.\/export-outside\.bin" is outside the model's folder/);
    // the untouched folder loads through it
    const m = await tf.loadLayersModel(fileHandler(path.join(fx.good, 'model.json')));
    m.dispose();
  });

  it('CLI: blur on such a folder: one line naming model.json, exit 2', async () => {
    const d = escaping('cli-outside');
    const img = path.join(fx.root, 'in.png');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(img);
    const r = cli(['blur', '--model', d, '--input', img, '--output', path.join(fx.root, 'out.png'), '--backend', 'cpu']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim().split('\n').pop()!, /^portraitseg: error: --model .*cli-outside: .*model\.json: weight shard "\.\.\/cli-outside\.bin" is outside the model's folder/);
    assert.ok(!fs.existsSync(path.join(fx.root, 'out.png')));
  });
});
