/**
 * Output paths of the commands (issue 18, src/util/out-paths.ts), through the CLI: no output
 * lands on or inside an input, an existing dataset is never rewritten in place, and a bad output
 * costs one line and exit 2 before any work, with no temp folder left.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeTfjs } from '../../src/export';
import { writeSynthDataset } from '../../src/data/synth';
import { cli } from '../helpers/cli';
import { makeOracleModel } from '../runtime/oracle';

const files = (dir: string): Record<string, Buffer> => Object.fromEntries(fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));

describe('cli: output paths (one rule for every command)', function () {
  this.timeout(300000);
  let root = '';
  let data = '';
  let model = '';
  before(async () => {
    await tf.setBackend('cpu');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-outputs-'));
    data = path.join(root, 'data');
    await writeSynthDataset(data, { count: 3, seed: 4, width: 32, height: 32 });
    const { model: m, meta } = makeOracleModel();
    model = path.join(root, 'model');
    await writeTfjs(m, meta, model);
    m.dispose();
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function refused(args: string[], message: RegExp): void {
    const r = cli([...args, '--backend', 'cpu']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('portraitseg: error:')).length, 1, r.stderr);
    assert.match(lines[lines.length - 1], message);
    assert.doesNotMatch(r.stderr, /EISDIR|ENOTDIR|EEXIST|--verbose/);
  }

  it('data synth --out an existing dataset: refused (its files and their hard links untouched); --overwrite replaces a synth dataset whole, never another', () => {
    const ds = path.join(root, 'synth');
    const make = (seed: number, extra: string[] = []) => cli(['data', 'synth', '--out', ds, '--count', '3', '--seed', String(seed), '--size', '32x32', ...extra]);
    const first = make(1);
    assert.equal(first.code, 0, first.stderr);
    // `label` hard-links photos: a labelled copy shares the inode
    const copy = path.join(root, 'labelled-copy.jpg');
    fs.linkSync(path.join(ds, 'images', '0000.jpg'), copy);
    const before = files(ds);
    const copyBefore = fs.readFileSync(copy);
    const again = make(2);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /^portraitseg: error: --out .*synth: already exists \(a synthetic dataset \(synth\.json from data synth\)\): add --overwrite to replace it, or choose another folder$/m);
    assert.deepEqual(files(ds), before, 'nothing rewritten');
    const over = make(2, ['--overwrite']);
    assert.equal(over.code, 0, over.stderr);
    assert.notDeepEqual(fs.readFileSync(path.join(ds, 'images', '0000.jpg')), before['images/0000.jpg'], 'the new dataset is in place');
    assert.deepEqual(fs.readFileSync(copy), copyBefore, 'the labelled copy keeps its photo: files are replaced, never rewritten in place');
    assert.equal(JSON.parse(fs.readFileSync(path.join(ds, 'synth.json'), 'utf8')).kind, 'portraitseg-synth');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.synth.')), [], 'no temp folder left');
    // a dataset that data synth did not write is never replaced
    const real = files(data);
    refused(['data', 'synth', '--out', data, '--count', '3', '--size', '32x32', '--overwrite'], /--out .*data: already exists and is not a synthetic dataset/);
    assert.deepEqual(files(data), real);
  });

  it('reports, tables and pictures never land on or inside an input: eval --report, distill compare --out, data inspect --out, augment preview --out', () => {
    const mask = path.join(data, 'masks', '0000.png');
    const before = files(data);
    refused(['eval', '--model', model, '--data', data, '--report', mask], /^portraitseg: error: --report .*masks\/0000\.png: inside the input --data .*data: write it outside the input/);
    refused(['eval', '--model', model, '--data', data, '--overlays', path.join(model, 'overlays')], /--overlays .*model\/overlays: inside the input --model/);
    refused(['distill', 'compare', '--model', `m=${model}`, '--val', data, '--out', mask], /--out .*masks\/0000\.png: inside the input --val/);
    refused(['data', 'inspect', '--data', data, '--out', path.join(data, 'images')], /--out .*images: inside the input --data/);
    refused(['augment', 'preview', '--data', data, '--out', path.join(data, 'images', 'grid.png'), '--count', '2'], /--out .*grid\.png: inside the input --data/);
    assert.deepEqual(files(data), before, 'the dataset is untouched');
  });

  it('distill compare --out DIR: one line, exit 2, before the work, no temp file left', () => {
    const dir = path.join(root, 'tables');
    fs.mkdirSync(dir);
    refused(['distill', 'compare', '--model', `m=${model}`, '--val', data, '--out', dir], /^portraitseg: error: --out .*tables: is a folder, expected a file name$/);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.deepEqual(fs.readdirSync(root).filter((n) => /\.(tmp|partial|complete|replaced)-/.test(n)), []);
  });
});
