/** `portraitseg eval` user mistakes: one line, exit 2 (as export and blur). */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { selectBackend } from '../../src/backend';
import { writeTfjs } from '../../src/export';
import { cli } from '../helpers/cli';
import { makeOracleModel } from '../runtime/oracle';
import { ARTEFACTS, checkOut } from '../../src/cli/out-paths';

describe('cli eval: a corrupt model is a usage error', function () {
  this.timeout(120000);
  let tmp: string;
  before(async () => {
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-evalcli-'));
    const { model, meta } = makeOracleModel();
    await writeTfjs(model, meta, path.join(tmp, 'good'));
    model.dispose();
    fs.mkdirSync(path.join(tmp, 'data'));
    for (const i of [0, 1]) {
      await sharp(Buffer.alloc(32 * 24 * 3, 90), { raw: { width: 32, height: 24, channels: 3 } }).png().toFile(path.join(tmp, 'data', `${i}.png`));
      await sharp(Buffer.alloc(32 * 24).fill(255, 0, 300), { raw: { width: 32, height: 24, channels: 1 } }).png().toFile(path.join(tmp, 'data', `${i}_mask.png`));
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('model.json that is not JSON, weights that are cut short: one line naming --model, exit 2', () => {
    const badJson = path.join(tmp, 'bad-json');
    const shortWeights = path.join(tmp, 'short-weights');
    for (const d of [badJson, shortWeights]) fs.cpSync(path.join(tmp, 'good'), d, { recursive: true });
    fs.writeFileSync(path.join(badJson, 'model.json'), '{ garbage');
    const bin = fs.readdirSync(shortWeights).find((f) => f.endsWith('.bin'))!;
    fs.truncateSync(path.join(shortWeights, bin), 4);
    for (const m of [badJson, shortWeights]) {
      const r = cli(['eval', '--model', m, '--data', path.join(tmp, 'data'), '--backend', 'cpu']);
      assert.equal(r.code, 2, `${m}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('portraitseg:'));
      assert.equal(lines.length, 1, r.stderr);
      // names the model: the flag and folder (eval's own check) or the file inside it (model I/O's check)
      assert.match(lines[0], new RegExp(`^portraitseg: error: (--model )?${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(/[\\w.-]+)?: `));
      assert.doesNotMatch(r.stderr, /--verbose for the stack trace/);
    }
    const ok = cli(['eval', '--model', path.join(tmp, 'good'), '--data', path.join(tmp, 'data'), '--backend', 'cpu']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /mIoU/);
  });

  it('output paths are checked before any work: a file where a folder goes and the reverse, one line, exit 2', () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const folder = (p: string) => checkOut({ flag: '--out', path: p, artefact: ARTEFACTS.export });
    const report = (p: string) => checkOut({ flag: '--report', path: p, artefact: ARTEFACTS.evalReport });
    assert.throws(() => folder(file), /^UsageError: --out .*a-file: is a file, not a folder/);
    assert.throws(() => folder(path.join(file, 'sub', 'deeper')), /--out .*a-file\/sub\/deeper: .*a-file is a file, so this folder cannot be created/);
    assert.throws(() => report(tmp), /--report .*: is a folder, expected a file name/);
    assert.throws(() => report(path.join(file, 'r.json')), /--report .*r\.json: .*a-file is a file/);
    assert.doesNotThrow(() => folder(path.join(tmp, 'new', 'folder')));
    assert.doesNotThrow(() => report(path.join(tmp, 'new', 'r.json')));
    for (const args of [
      ['eval', '--model', path.join(tmp, 'good'), '--data', path.join(tmp, 'data'), '--report', path.join(file, 'r.json')],
      ['eval', '--model', path.join(tmp, 'good'), '--data', path.join(tmp, 'data'), '--overlays', file],
      ['export', '--model', path.join(tmp, 'good'), '--out', file],
      ['data', 'inspect', '--data', path.join(tmp, 'data'), '--out', file],
    ]) {
      const r = cli([...args, '--backend', 'cpu']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^portraitseg: error: --(report|overlays|out) .*a-file/m);
      assert.doesNotMatch(r.stderr, /EEXIST|ENOTDIR|--verbose/);
    }
  });
});
