import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { writeSynthDataset } from '../../../src/data/synth';
import { cli } from '../../helpers/cli';
import { tmpDir, writeTfliteFixture } from './fixtures';
import { tfliteRuntimeUnavailable } from '../../../src/export/tflite-runtime';
import { onCi } from '../../helpers/required';

describe('portraitseg import (CLI): the folder works with eval, export and blur like one of our runs', function () {
  let dir: string;
  let run: string;
  before(async () => {
    dir = tmpDir();
    run = path.join(dir, 'runs', 'fixture');
    await writeSynthDataset(path.join(dir, 'data'), { count: 3, seed: 1, width: 24, height: 20 });
  });

  it('import prints the parity lines and writes model.json, weights.bin, portraitseg.json', async () => {
    const f = writeTfliteFixture(dir);
    const r = cli(['import', '--backend', 'cpu', '--model', f, '--out', run]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported imported:fixture \(\d+ params\) from tflite/);
    assert.match(r.stdout, /^parity imported:fixture tflite import vs the TFLite file run op by op .* on portrait frames 2x16x16x3: max \|P\(person\) diff\| [0-9.e+-]+ \(tolerance 0\.0001, max \|logits diff\| [0-9.e+-]+ where \|logits\| < 10\) OK$/m);
    // and through a real TFLite runtime (LiteRT.js, an optional dependency): checked wherever it
    // loads; "NOT CHECKED" (with a warning) only where it does not, and never under CI=true
    const noLiteRt = await tfliteRuntimeUnavailable();
    if (noLiteRt && onCi()) assert.fail(`CI=true: the TFLite runtime LiteRT.js (@litertjs/core) is required but missing: ${noLiteRt}`);
    if (!noLiteRt) {
      assert.match(r.stdout, /^parity imported:fixture tflite import vs the TFLite file in LiteRT\.js \(TFLite's interpreter\) on portrait frames 2x16x16x3: max \|P\(person\) diff\| [0-9.e+-]+ \(tolerance 0\.001\) OK$/m);
      assert.doesNotMatch(r.stdout + r.stderr, /NOT CHECKED|not checked/);
    } else {
      assert.match(r.stdout, /^parity imported:fixture tflite import vs the TFLite file in LiteRT\.js .* NOT CHECKED: no TFLite runtime/m);
      assert.match(r.stderr, /warning: the import was not checked in a TFLite runtime/);
    }
    assert.match(r.stderr, /range 0\.\.1 \(default; --input-range to change\), output sigmoid \(from the last op\)/);
    assert.deepEqual(fs.readdirSync(run).sort(), ['model.json', 'portraitseg.json', 'weights.bin']);
    const meta = JSON.parse(fs.readFileSync(path.join(run, 'portraitseg.json'), 'utf8'));
    assert.equal(meta.name, 'imported:fixture');
    assert.deepEqual(meta.args.imported.output, 'sigmoid');
    assert.deepEqual(meta.inputSize, [16, 16]);
    // never overwrites
    const again = cli(['import', '--backend', 'cpu', '--model', f, '--out', run]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--out .* already exists and is not empty/);
    // no temp folders left beside it
    assert.deepEqual(fs.readdirSync(path.dirname(run)), ['fixture']);
  });

  it('eval, export --format tfjs and blur accept the imported folder', () => {
    const e = cli(['eval', '--backend', 'cpu', '--model', run, '--data', path.join(dir, 'data')]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /mIoU/i);
    const x = cli(['export', '--backend', 'cpu', '--model', run, '--format', 'tfjs', '--out', path.join(dir, 'exported')]);
    assert.equal(x.code, 0, x.stderr);
    assert.match(x.stdout, /parity imported:fixture tfjs vs the in-memory model .* OK/);
    const img = path.join(dir, 'data', 'images', fs.readdirSync(path.join(dir, 'data', 'images'))[0]);
    const b = cli(['blur', '--backend', 'cpu', '--model', path.join(dir, 'exported'), '--input', img, '--output', path.join(dir, 'blurred.png')]);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(fs.statSync(path.join(dir, 'blurred.png')).size > 100);
  });

  it('a missing file and a file of the wrong kind are one-line usage errors', () => {
    const r = cli(['import', '--backend', 'cpu', '--model', path.join(dir, 'nope.tflite'), '--out', path.join(dir, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--model .*nope\.tflite: not found/);
    const junk = path.join(dir, 'junk.bin');
    fs.writeFileSync(junk, Buffer.alloc(64, 7));
    const j = cli(['import', '--backend', 'cpu', '--model', junk, '--out', path.join(dir, 'y')]);
    assert.equal(j.code, 2);
    assert.match(j.stderr, /neither a TFLite file .* nor a TensorFlow\.js model\.json/);
  });
});
