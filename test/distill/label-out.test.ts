/**
 * `label --out` under the output rule: checked before any work by real path and device + inode
 * (a symlink into the input is caught), a dangling link is one line (not a raw ENOTDIR after the
 * work), an earlier label folder is replaced whole only with overwrite.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../src/config/schema';
import { defaultConfig } from '../../src/config/config';
import { saveModel } from '../../src/models/io';
import type { ModelMeta } from '../../src/models/types';
import { selectBackend } from '../../src/backend';
import { labelDataset, LabelOptions } from '../../src/distill/label';
import { writePng } from '../../src/util/image';

const META: ModelMeta = { name: 'tiny', args: {}, family: 'teacher', inputSize: [16, 16], frameSize: [16, 16], mean: [0, 0, 0], std: [1, 1, 1], output: 'logits', stride: 1, maskFilter: null, params: 4, version: 'test' };

function tinyModel(bias: number): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 1, weights: [tf.fill([1, 1, 3, 1], 2), tf.tensor1d([bias])] });
  return tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
}

describe('label --out: the output rule', function () {
  this.timeout(120000);
  let root = '';
  let data = '';
  let teacher = '';
  let other = '';
  const opts = (out: string, extra: Partial<LabelOptions> = {}): LabelOptions => {
    const cfg = defaultConfig();
    cfg.backend = 'cpu';
    return { cfg, teachers: [{ path: teacher, inputSize: null, inputRange: null, output: null }], flip: false, data, unlabeled: [], out, ...extra };
  };
  const temps = () => fs.readdirSync(root).filter((n) => /\.(tmp|partial|complete|replaced)-/.test(n));

  before(async () => {
    await selectBackend('cpu');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-labelout-'));
    data = path.join(root, 'data');
    for (const k of [0, 1]) {
      await writePng(path.join(data, 'images', `p${k}.png`), Uint8Array.from({ length: 12 * 10 * 3 }, (_, i) => (i * 7 + k) % 256), 12, 10, 3);
      await writePng(path.join(data, 'masks', `p${k}.png`), Uint8Array.from({ length: 12 * 10 }, (_, i) => (i % 12 > 5 ? 255 : 0)), 12, 10, 1);
    }
    teacher = path.join(root, 'teacher');
    other = path.join(root, 'teacher2');
    await saveModel(teacher, tinyModel(-3), META);
    await saveModel(other, tinyModel(1), META);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('--out through a symlink into the input is refused before any work (the lexical check let it through)', async () => {
    fs.symlinkSync(data, path.join(root, 'data-link'));
    await assert.rejects(labelDataset(opts(path.join(root, 'data-link', 'labels'))), (e: Error) => e instanceof ConfigError && /^--out .*data-link\/labels: inside the input --data .*data: write it outside the input/.test(e.message));
    assert.ok(!fs.existsSync(path.join(data, 'labels')));
    // and the teacher's own folder is an input too
    await assert.rejects(labelDataset(opts(path.join(teacher, 'labels'))), /inside the input --teacher/);
  });

  it('--out a dangling symlink: one line naming it, before the teacher runs, no temp folder left', async () => {
    const link = path.join(root, 'dangling');
    fs.symlinkSync(path.join(root, 'missing', 'labels'), link);
    await assert.rejects(labelDataset(opts(link)), (e: Error) => e instanceof ConfigError && /^--out .*dangling: is a symbolic link to .*missing\/labels, which does not exist: remove the link or choose another --out$/.test(e.message));
    assert.deepEqual(temps(), []);
  });

  it('an earlier label folder is replaced whole only with overwrite; another folder never', async () => {
    const out = path.join(root, 'labels');
    await labelDataset(opts(out));
    const before = fs.readFileSync(path.join(out, 'masks', 'p0.png'));
    fs.writeFileSync(path.join(out, 'masks', 'stale.png'), 'from an older labelling');
    await assert.rejects(labelDataset(opts(out, { teachers: [{ path: other, inputSize: null, inputRange: null, output: null }] })), /--out .*labels: already exists \(a label dataset .*\): add --overwrite/);
    assert.deepEqual(fs.readFileSync(path.join(out, 'masks', 'p0.png')), before);
    await labelDataset(opts(out, { teachers: [{ path: other, inputSize: null, inputRange: null, output: null }], overwrite: true }));
    assert.notDeepEqual(fs.readFileSync(path.join(out, 'masks', 'p0.png')), before, 'the new teacher\'s masks');
    assert.ok(!fs.existsSync(path.join(out, 'masks', 'stale.png')), 'replaced as one folder');
    assert.match(JSON.parse(fs.readFileSync(path.join(out, 'label.json'), 'utf8')).teachers[0].path, /teacher2$/);
    fs.mkdirSync(path.join(root, 'photos'));
    fs.writeFileSync(path.join(root, 'photos', 'x.txt'), 'mine');
    await assert.rejects(labelDataset(opts(path.join(root, 'photos'), { overwrite: true })), /already exists and is not a label dataset/);
    assert.deepEqual(temps(), []);
  });
});
