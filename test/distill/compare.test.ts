import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultConfig } from '../../src/config/config';
import { createModel } from '../../src/models/registry';
import { saveModel } from '../../src/train';
import { writePng } from '../../src/util/image';
import { compareModels, formatTable, heldOutRefs, parseCompareSpec, runWallSeconds } from '../../src/distill/compare';

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
    const t = path.join(root, 't');
    const st = path.join(root, 's');
    const sets = [
      { label: 'split', refs },
      { label: 'all', refs: (await heldOutRefs({ ...cfg, data: { ...cfg.data, val: path.join(root, 'data') } })) },
    ];
    const rows = await compareModels([parseCompareSpec(`teacher=${t}`), parseCompareSpec(st), parseCompareSpec(`pair=${t}+${st},flip`)], sets, cfg);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(rows.map((r) => r.label), ['teacher', 's', 'pair']);
    for (const r of rows) {
      assert.equal(r.count, refs.length);
      assert.deepEqual(r.scores.map((x) => [x.set, x.count]), [['split', refs.length], ['all', 10]]);
      assert.ok(r.params > 0 && r.gflops > 0 && r.miou >= 0 && r.miou <= 1 && r.stability >= 0 && r.stability <= 1 && r.msPerFrame > 0);
      assert.equal(r.miou, r.scores[0].miou);
    }
    assert.ok(rows[0].params > rows[1].params);
    // an ensemble: the members' params; flip doubles the GFLOPs
    assert.equal(rows[2].params, rows[0].params + rows[1].params);
    assert.ok(Math.abs(rows[2].gflops - 2 * (rows[0].gflops + rows[1].gflops)) < 1e-9);
    assert.equal(rows[2].model, 'unet_teacher_s + mnv2_student_s +flip');
    assert.equal(rows[0].trainSeconds, null, 'a model folder that is no run has no training time');
    const md = formatTable(rows);
    assert.match(md, new RegExp(`^\\| model \\| params \\| GFLOPs/frame \\| ms/frame \\| split \\(${refs.length}\\) mIoU \\| split \\(${refs.length}\\) boundary F \\| all \\(10\\) mIoU \\| all \\(10\\) boundary F \\| stability \\| training wall time \\|`));
    assert.match(md, /\| s \(`mnv2_student_s`\) \| [\d,]+ \(1\/\d+\.\d\) \|/);
    assert.match(md, /\d\.\d{4} \([+-]\d+\.\d{2}\) \|/);
  });

  it('parses LABEL=SPEC[+SPEC...][,flip]', () => {
    assert.deepEqual(parseCompareSpec('selfie=mediapipe:selfie'), { label: 'selfie', members: ['mediapipe:selfie'], flip: false });
    assert.deepEqual(parseCompareSpec('t=mediapipe:selfie+mediapipe:selfie-landscape,flip'), { label: 't', members: ['mediapipe:selfie', 'mediapipe:selfie-landscape'], flip: true });
    assert.deepEqual(parseCompareSpec('runs/student/'), { label: 'student', members: ['runs/student/'], flip: false });
    assert.throws(() => parseCompareSpec('x=a++b'), /--model x=a\+\+b: an empty member/);
  });

  it('training wall time: the sum over the sessions of a resumed run (metrics.jsonl)', () => {
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-compare-wall-'));
    fs.mkdirSync(path.join(run, 'best'));
    const step = (e: number) => JSON.stringify({ kind: 'step', elapsedSec: e });
    // session 1 ran 100 s, session 2 (resumed) 30 s; eval lines and a cut last line are skipped
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), [step(10), step(100), JSON.stringify({ kind: 'eval', miou: 0.5 }), step(5), step(30), '{"kind":"st'].join('\n'));
    assert.equal(runWallSeconds(run), 130);
    assert.equal(runWallSeconds(path.join(run, 'best')), 130);
    assert.equal(runWallSeconds(os.tmpdir() + '/no-such-run-here'), null);
  });
});
