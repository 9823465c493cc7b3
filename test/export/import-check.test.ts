/**
 * The import check (src/export/import-check.ts) can fail: one corrupted weight in the reloaded
 * import is a ParityError naming the model, the format, the max |P diff| and the tolerance, for
 * the reference check (TFLite and graph models), the LiteRT.js check, `importVerified` (what
 * `portraitseg import` runs) and the packaged import of runs (`ensureImported`).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { checkImport, ImportCheckResult, litertParity, referenceParity } from '../../src/export/import-check';
import { ParityError } from '../../src/export/parity';
import { tfliteRuntimeUnavailable } from '../../src/export/tflite-runtime';
import { importModel } from '../../src/models/import';
import { ensureImported } from '../../src/models/import/packaged';
import { ImportCheck, importVerified } from '../../src/models/import/verified';
import { corruptOneWeight } from '../helpers/corrupt';
import { requireTool } from '../helpers/required';
import { tmpDir, writeGraphFixture, writeTfliteFixture } from '../models/import/fixtures';

const LITERT = 'the TFLite runtime LiteRT.js (@litertjs/core, optional dependency)';

/** The real check, on the reloaded net with one bias changed. */
const corrupting: ImportCheck<ImportCheckResult> = async (net, imp, file, seed) => {
  corruptOneWeight(net);
  return checkImport(net, imp, file, seed);
};

/** assert.rejects matcher: a ParityError whose message matches `re`. */
const parityError = (re: RegExp) => (e: Error) => {
  assert.ok(e instanceof ParityError, String(e));
  assert.match(e.message, re);
  assert.ok(e.parity.maxAbsProb > 1e-2, `a +1 bias moves P by more than 1e-2: ${e.parity.maxAbsProb}`);
  return true;
};

const P_DIFF = 'max \\|P\\(person\\) diff\\| \\S+ > tolerance 0\\.0001 \\(portrait frames 2x16x16x3\\)';
const P_DIFF_LITERT = P_DIFF.replace('0\\.0001', '0\\.001');

describe('export/import-check: every import check fails on one corrupted weight', function () {
  this.timeout(120000);
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = tmpDir('psg-import-check-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('importVerified (portraitseg import), TFLite: against the reference interpreter; nothing is left at --out', async () => {
    const f = writeTfliteFixture(dir);
    const out = path.join(dir, 'tfl-out');
    await assert.rejects(
      importVerified(f, out, { seed: 1 }, corrupting),
      parityError(new RegExp(`^parity check failed: imported:fixture tflite import vs the TFLite file run op by op \\(portraitseg reference interpreter, plain tf ops\\): ${P_DIFF}$`)),
    );
    assert.ok(!fs.existsSync(out));
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('import-tmp')), [], 'no temp folder left');
    // the same import with the weights as written passes
    const ok = await importVerified(f, out, { seed: 1 }, checkImport);
    assert.ok(ok.checks[0].parity.ok);
  });

  it('importVerified, TensorFlow.js graph model: against tfjs\' own loadGraphModel', async () => {
    const f = writeGraphFixture(dir);
    await assert.rejects(
      importVerified(f, path.join(dir, 'graph-out'), { seed: 1 }, corrupting),
      parityError(new RegExp(`^parity check failed: imported:fixture tfjs-graph import vs the graph model run by tfjs \\(tf\\.loadGraphModel\\): ${P_DIFF}$`)),
    );
  });

  it('referenceParity alone: a changed bias fails, the weight put back passes', async () => {
    const f = writeTfliteFixture(dir);
    const imp = importModel(f);
    try {
      assert.ok((await referenceParity(imp.model, imp, f, 3)).ok);
      const bad = corruptOneWeight(imp.model);
      await assert.rejects(referenceParity(imp.model, imp, f, 3), parityError(/^parity check failed: imported:fixture tflite import vs the TFLite file run op by op/));
      bad.restore();
      assert.ok((await referenceParity(imp.model, imp, f, 3)).ok);
    } finally {
      imp.model.dispose();
    }
  });

  it('the LiteRT.js check: a changed bias fails against TFLite\'s own interpreter', async function () {
    requireTool(this, LITERT, await tfliteRuntimeUnavailable());
    const f = writeTfliteFixture(dir);
    const imp = importModel(f);
    try {
      const good = await litertParity(imp.model, imp, f, 3);
      assert.ok(good.ok && !good.unchecked, JSON.stringify(good));
      assert.ok(good.maxAbsProb > 0, 'two different interpreters: not bit-identical');
      corruptOneWeight(imp.model);
      await assert.rejects(
        litertParity(imp.model, imp, f, 3),
        parityError(new RegExp(`^parity check failed: imported:fixture tflite import vs the TFLite file in LiteRT\\.js \\(TFLite's interpreter\\): ${P_DIFF_LITERT}$`)),
      );
    } finally {
      imp.model.dispose();
    }
  });

  it('the packaged import of runs (ensureImported) fails the same way and caches nothing', async () => {
    const f = writeTfliteFixture(dir, {}, 'packaged.tflite');
    const cache = path.join(dir, 'cache');
    await assert.rejects(
      ensureImported(f, { seed: 1, key: 'train.init', log: () => {}, check: corrupting, dir: cache }),
      parityError(/^parity check failed: imported:packaged tflite import vs the TFLite file run op by op/),
    );
    assert.deepEqual(fs.existsSync(cache) ? fs.readdirSync(cache) : [], []);
  });

  it('the packaged import runs the LiteRT.js check too, and logs every check', async function () {
    requireTool(this, LITERT, await tfliteRuntimeUnavailable());
    const f = writeTfliteFixture(dir, {}, 'packaged2.tflite');
    const lines: string[] = [];
    await ensureImported(f, { seed: 1, key: 'train.init', log: (l) => lines.push(l), check: checkImport, dir: path.join(dir, 'cache2') });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /; parity imported:packaged2 tflite import vs the TFLite file run op by op .* OK; parity imported:packaged2 tflite import vs the TFLite file in LiteRT\.js \(TFLite's interpreter\) on portrait frames 2x16x16x3: .* OK$/);
  });
});
