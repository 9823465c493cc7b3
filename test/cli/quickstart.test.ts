import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cli } from '../helpers/cli';
import { dryParse } from '../helpers/dry-parse';
import { quickstartSteps } from '../../src/recipes/quickstart';

describe('quickstart', () => {
  it('plans every stage of the pipeline, in data-flow order', () => {
    const steps = quickstartSteps({ out: 'o', images: 100, count: 20, seed: 1 });
    const heads = steps.map((s) => s.command.slice(0, 2).join(' '));
    const order = ['data synth', 'data inspect', 'augment preview', 'train teacher', 'distill student', 'eval --model', 'export --model', 'blur --model'];
    let at = -1;
    for (const h of order) {
      const i = heads.indexOf(h);
      assert.ok(i > at, `${h} should come after the previous stage (got ${heads.join(' | ')})`);
      at = i;
    }
  });

  it('prints for each step a command line the CLI accepts (the same step by hand)', async () => {
    const steps = quickstartSteps({ out: 'o', images: 100, count: 20, seed: 1, backend: 'cpu' });
    assert.ok(steps.length >= 10, `${steps.length} steps`);
    for (const s of steps) {
      const r = await dryParse(s.command);
      assert.ok('command' in r, `portraitseg ${s.command.join(' ')}: ${'error' in r ? r.error : ''}`);
      assert.deepEqual(r.command, s.command.filter((a) => !a.startsWith('-')).slice(0, r.command.length));
    }
  });

  it('--fast runs the whole pipeline end to end and leaves every artefact', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-qs-'));
    const r = cli(['quickstart', '--fast', '--out', out], { timeout: 300000 });
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    for (const f of [
      'inspect/contact-sheet.png',
      'augment-preview.png',
      'teacher/config.json',
      'teacher/metrics.jsonl',
      'teacher/curves.png',
      'student/config.json',
      'eval-teacher.json',
      'eval-student.json',
      'export/tfjs/model.json',
      'export/tfjs/portraitseg.json',
      'export/onnx/model.onnx',
      'blurred.png',
    ]) {
      assert.ok(fs.existsSync(path.join(out, f)), `missing ${f}`);
    }
    const report = JSON.parse(fs.readFileSync(path.join(out, 'eval-student.json'), 'utf8'));
    for (const k of ['miou', 'personIou', 'backgroundIou', 'boundaryF', 'mae', 'msPerImage', 'count']) assert.equal(typeof report[k], 'number', k);
    // the embedded default trains our own nets from random weights (named recipes, not the pretrained defaults)
    const tc = JSON.parse(fs.readFileSync(path.join(out, 'teacher/config.json'), 'utf8'));
    const sc = JSON.parse(fs.readFileSync(path.join(out, 'student/config.json'), 'utf8'));
    assert.deepEqual([tc.model.name, tc.train.init, sc.model.name, sc.train.init], ['unet_teacher_s', null, 'mnv2_student_s', null]);
    assert.match(r.stdout, /quickstart finished/);
    assert.match(r.stdout + r.stderr, /parity \S+ onnx vs the in-memory model .* OK/);
  });
});
