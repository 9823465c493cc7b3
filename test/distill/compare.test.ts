import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultConfig } from '../../src/config/config';
import { createModel } from '../../src/models/registry';
import { saveModel } from '../../src/train';
import { writePng } from '../../src/util/image';
import { compareModels, formatTable, heldOutRefs } from '../../src/distill/compare';
import { parseModelSpec } from '../../src/cli/commands/distill';

describe('distill/compare', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('evaluates each model on the same held-out split and formats the table', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-distill-compare-'));
    fs.mkdirSync(path.join(root, 'data/images'), { recursive: true });
    fs.mkdirSync(path.join(root, 'data/masks'), { recursive: true });
    for (let k = 0; k < 10; k++) {
      const img = new Uint8Array(32 * 32 * 3).map((_, i) => ((i * 7 + k * 13) % 251));
      const mask = new Uint8Array(32 * 32).map((_, i) => ((i % 32) < 10 + k ? 255 : 0));
      await writePng(path.join(root, `data/images/${k}.png`), img, 32, 32, 3);
      await writePng(path.join(root, `data/masks/${k}.png`), mask, 32, 32, 1);
    }
    for (const [name, dir] of [['unet_teacher_s', 't'], ['mnv2_student_s', 's']]) {
      const { model, meta } = createModel(name, { inputSize: [32, 32] }, { seed: 1 });
      await saveModel(path.join(root, dir), model, meta);
      model.dispose();
    }
    const cfg = defaultConfig();
    cfg.data.path = path.join(root, 'data');
    cfg.data.valFraction = 0.3;
    cfg.eval.stabilityShift = 2;
    const refs = await heldOutRefs(cfg);
    assert.ok(refs.length >= 1 && refs.length < 10, `held-out ${refs.length}`);
    assert.deepEqual((await heldOutRefs(cfg)).map((r) => r.id), refs.map((r) => r.id), 'split is deterministic');
    const before = tf.memory().numTensors;
    const rows = await compareModels([parseModelSpec(`teacher=${path.join(root, 't')}`), parseModelSpec(path.join(root, 's'))], refs, cfg);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(rows.map((r) => r.label), ['teacher', 's']);
    for (const r of rows) {
      assert.equal(r.count, refs.length);
      assert.ok(r.params > 0 && r.gflops > 0 && r.miou >= 0 && r.miou <= 1 && r.stability >= 0 && r.stability <= 1);
    }
    assert.ok(rows[0].params > rows[1].params);
    const md = formatTable(rows);
    assert.match(md, /^\| model \| params \| GFLOPs\/frame \| ms\/frame \| mIoU \| boundary F \| stability \|/);
    assert.match(md, /\| s \(`mnv2_student_s`\) \| [\d,]+ \(1\/\d+\.\d\) \|/);
    assert.match(md, /% of teacher\)/);
  });
});
