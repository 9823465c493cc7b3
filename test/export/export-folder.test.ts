/**
 * Export folders are written whole (issue 18): an earlier export is replaced only with
 * `overwrite`, never rewritten file by file (a cut write left old model.json beside new shards,
 * which loaded with exit 0 and wrong weights), and loading checks shard sizes against the manifest.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { exportModel } from '../../src/export';
import { loadModel } from '../../src/models/io';
import { createModel } from '../../src/models/registry';

const STUDENT = { inputSize: [32, 32] };
const DEAD_PID = 4194304 + 4243;

/** The model's weights, flattened. */
function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

function sameWeights(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((w, i) => w.length === b[i].length && w.every((v, j) => v === b[i][j]));
}

describe('export folders: written whole, replaced only with overwrite, shard sizes checked', function () {
  this.timeout(120000);
  let root = '';
  let a: ReturnType<typeof createModel>;
  let b: ReturnType<typeof createModel>;
  before(async () => {
    await tf.setBackend('cpu');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-exportdir-'));
    // same architecture, different weights: a mixed folder loads without complaint
    a = createModel('mnv2_student_s', STUDENT, { seed: 1 });
    b = createModel('mnv2_student_s', STUDENT, { seed: 2 });
    assert.ok(!sameWeights(weightsOf(a.model), weightsOf(b.model)));
  });
  after(() => {
    a.model.dispose();
    b.model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function loadedWeights(dir: string): Promise<Float32Array[]> {
    const m = await loadModel(dir);
    try {
      return weightsOf(m.model);
    } finally {
      m.model.dispose();
    }
  }

  it('an earlier export is refused without overwrite; with it the folder is replaced as one (no old file left)', async () => {
    const out = path.join(root, 'refuse');
    await exportModel(a.model, a.meta, { format: 'tfjs', out });
    fs.writeFileSync(path.join(out, 'group1-shard2of2.bin'), 'a shard of an older, larger export');
    await assert.rejects(exportModel(b.model, b.meta, { format: 'tfjs', out }), /--out .*refuse: already exists \(an export .*\): add --overwrite to replace it/);
    assert.ok(sameWeights(await loadedWeights(out), weightsOf(a.model)), 'the earlier export is untouched');
    await exportModel(b.model, b.meta, { format: 'tfjs', out, overwrite: true });
    assert.ok(sameWeights(await loadedWeights(out), weightsOf(b.model)));
    assert.ok(!fs.existsSync(path.join(out, 'group1-shard2of2.bin')), 'nothing of the old folder is left');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.refuse.')), [], 'no temp folder left');
    // overwrite replaces exports only, never another folder
    const other = path.join(root, 'mine');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'keep');
    await assert.rejects(exportModel(b.model, b.meta, { format: 'onnx', out: other, overwrite: true }), /already exists and is not an export/);
    assert.deepEqual(fs.readdirSync(other), ['notes.txt']);
  });

  it('a write cut after the shards (a crash) leaves the earlier export whole: never old model.json beside new shards', async () => {
    const out = path.join(root, 'cut');
    await exportModel(a.model, a.meta, { format: 'tfjs', out });
    // the crash: every write of portraitseg.json (written after the shards, before model.json) fails
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const realFs = require('fs') as typeof fs;
    const write = realFs.writeFileSync;
    realFs.writeFileSync = ((f: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
      if (typeof f === 'string' && path.basename(f).startsWith('portraitseg.json')) throw new Error('simulated crash');
      return (write as (...x: unknown[]) => void)(f, ...rest);
    }) as typeof fs.writeFileSync;
    try {
      await assert.rejects(exportModel(b.model, b.meta, { format: 'tfjs', out, overwrite: true }), /simulated crash/);
    } finally {
      realFs.writeFileSync = write;
    }
    assert.ok(sameWeights(await loadedWeights(out), weightsOf(a.model)), 'the folder still loads as the earlier export, weights and all');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.cut.')), [], 'no temp folder left');
  });

  it('killed between the two renames of a replacement: loading puts the complete new export back', async () => {
    const out = path.join(root, 'swap');
    const oldCopy = path.join(root, `.swap.replaced-${DEAD_PID}-1`);
    const newCopy = path.join(root, `.swap.complete-${DEAD_PID}-2`);
    await exportModel(a.model, a.meta, { format: 'tfjs', out: oldCopy });
    await exportModel(b.model, b.meta, { format: 'tfjs', out: newCopy });
    assert.ok(!fs.existsSync(out));
    assert.ok(sameWeights(await loadedWeights(out), weightsOf(b.model)));
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.swap.')), []);
  });

  it('a shard with bytes appended (or cut short) is refused on load, naming the shard and both sizes', async () => {
    const out = path.join(root, 'padded');
    await exportModel(a.model, a.meta, { format: 'tfjs', out });
    const shard = fs.readdirSync(out).find((f) => f.endsWith('.bin'))!;
    const size = fs.statSync(path.join(out, shard)).size;
    fs.appendFileSync(path.join(out, shard), Buffer.alloc(8, 7));
    await assert.rejects(loadModel(out), (e: Error) => e.name === 'ModelFileError' && new RegExp(`model\\.json: weightsManifest\\[0\\]: its shards \\(${shard}\\) hold ${size + 8} bytes, its weights need ${size}`).test(e.message));
    fs.truncateSync(path.join(out, shard), size - 4);
    await assert.rejects(loadModel(out), new RegExp(`hold ${size - 4} bytes, its weights need ${size}`));
  });
});
