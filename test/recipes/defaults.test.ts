/**
 * The pretrained recipes as defaults (issue 14): which recipe a run without --config starts from,
 * the packaged model names (mediapipe:selfie) and their checked, cached import, and one default
 * `train teacher` run end to end on a few synthetic photos.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { defaultRecipe, RECIPES } from '../../src/cli/common';
import { recipeHasTeacher } from '../../src/cli/commands/train';
import { ensureImported, isPackagedName, needsImport, packagedAvailable, packagedFile } from '../../src/models/import/packaged';
import { checkImport } from '../../src/export/import-check';
import { tfliteRuntimeUnavailable } from '../../src/export/tflite-runtime';
import { requireTool } from '../helpers/required';
import { loadModel } from '../../src/models/io';
import { cli, ROOT } from '../helpers/cli';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

describe('recipes: pretrained defaults and packaged models', function () {
  // one import cache for the whole file (and the CLI children, which inherit the environment)
  const cache = tmp('pseg-import-cache-');
  const saved = process.env.PORTRAITSEG_IMPORT_CACHE;
  before(() => {
    process.env.PORTRAITSEG_IMPORT_CACHE = cache;
  });
  after(async () => {
    if (saved === undefined) delete process.env.PORTRAITSEG_IMPORT_CACHE;
    else process.env.PORTRAITSEG_IMPORT_CACHE = saved;
    await tf.setBackend('cpu');
  });

  it('defaultRecipe: pretrained while the package is there and no model is named; from scratch otherwise; nothing with --config/--resume', () => {
    const yes = () => true;
    const no = () => false;
    const t = defaultRecipe('teacher', { data: 'd' }, {}, yes)!;
    assert.equal(t.file, RECIPES.teacherPretrained);
    assert.match(t.line, /^recipe: configs\/teacher-finetune\.json \(the default while @mediapipe\/selfie_segmentation is installed\): .*mediapipe:selfie.*; from random weights: --config configs\/teacher\.json$/);
    const s = defaultRecipe('student', { data: 'd' }, { student: undefined }, yes)!;
    assert.equal(s.file, RECIPES.studentPretrained);
    assert.match(s.line, /^recipe: configs\/distill-finetune\.json \(the default/);
    const absent = defaultRecipe('teacher', { data: 'd' }, {}, no)!;
    assert.equal(absent.file, RECIPES.teacher);
    assert.match(absent.line, /from random weights: @mediapipe\/selfie_segmentation is not installed; the pretrained recipe is --config configs\/teacher-finetune\.json/);
    const named = defaultRecipe('student', { data: 'd' }, { student: 'mnv2_student_s' }, yes)!;
    assert.equal(named.file, RECIPES.student);
    assert.match(named.line, /--student names the model/);
    const args = defaultRecipe('teacher', { data: 'd', set: ['model.args={"width":8}'] }, {}, yes)!;
    assert.equal(args.file, RECIPES.teacher);
    assert.match(args.line, /--set model\.args names the model/);
    assert.equal(defaultRecipe('teacher', { data: 'd', config: 'configs/teacher.json' }, {}, yes), null);
    assert.equal(defaultRecipe('student', { resume: 'runs/x' }, {}, yes), null);
    // the real check: the dependency is installed in this project
    assert.equal(defaultRecipe('teacher', { data: 'd' })!.file, RECIPES.teacherPretrained);
  });

  it('the shipped recipes: a frozen teacher makes a teacher recipe a distillation one; the pretrained ones name packaged models', () => {
    assert.equal(recipeHasTeacher(RECIPES.teacherPretrained), true);
    assert.equal(recipeHasTeacher(RECIPES.teacher), false);
    assert.equal(recipeHasTeacher(path.join(ROOT, 'configs/teacher-finetune-labels-only.json')), false);
    for (const f of [RECIPES.teacherPretrained, RECIPES.studentPretrained]) {
      const c = JSON.parse(fs.readFileSync(f, 'utf8'));
      assert.equal(c.train.init, 'mediapipe:selfie', f);
      assert.equal(c.distill.teacher, 'mediapipe:selfie', f);
      assert.deepEqual(c.distill.teachers, [{ path: 'mediapipe:selfie-landscape' }], f);
      assert.equal(c.train.loss.ignoreBand, 4, f);
    }
  });

  it('packaged names resolve to the dependency files; unknown names and missing files are named', async () => {
    assert.ok(isPackagedName('mediapipe:selfie') && !isPackagedName('runs/selfie') && !isPackagedName('C:\\models\\x'));
    assert.ok(needsImport('mediapipe:selfie-landscape') && needsImport('x/model.tflite') && !needsImport('runs/teacher'));
    assert.ok(fs.existsSync(packagedFile('mediapipe:selfie')!));
    assert.ok(packagedAvailable('mediapipe:selfie-landscape'));
    assert.throws(() => packagedFile('mediapipe:hair'), /mediapipe:hair: unknown packaged model; known: mediapipe:selfie, mediapipe:selfie-mf, mediapipe:selfie-landscape/);
    await assert.rejects(ensureImported('/nonexistent/m.tflite', { seed: 1, key: 'train.init', log: () => {}, check: checkImport }), /train\.init \/nonexistent\/m\.tflite: not found/);
    assert.equal(await ensureImported('runs/teacher', { seed: 1, key: 'train.init', log: () => {}, check: checkImport }), 'runs/teacher', 'a folder spec passes through');
  });

  it('ensureImported: imports once with the parity check into the cache, then reuses the folder', async function () {
    this.timeout(120000);
    const lines: string[] = [];
    const a = await ensureImported('mediapipe:selfie-landscape', { seed: 1, key: 'distill.teachers[0].path', log: (l) => lines.push(l), check: checkImport });
    assert.ok(a.startsWith(cache), a);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^distill\.teachers\[0\]\.path: imported mediapipe:selfie-landscape \(MediaPipe's landscape selfie segmenter \(144x256\)\) into .*; parity imported:selfie_segmentation_landscape tflite import vs the TFLite file run op by op .* on portrait frames 2x144x256x3: .* OK; /);
    const b = await ensureImported('mediapipe:selfie-landscape', { seed: 1, key: 'k', log: (l) => lines.push(l), check: checkImport });
    assert.equal(b, a);
    assert.equal(lines.length, 1, 'the second call imports nothing');
    const m = await loadModel(a);
    assert.equal(m.meta.name, 'imported:selfie_segmentation_landscape');
    assert.deepEqual(m.meta.inputSize, [144, 256]);
    m.model.dispose();
    // mediapipe:selfie-mf: the same file imported with the mask filter, in its own folder
    const mf = await ensureImported('mediapipe:selfie-mf', { seed: 1, key: 'train.init', log: (l) => lines.push(l), check: checkImport });
    assert.match(path.basename(mf), /^selfie_segmentation-mf-[0-9a-f]{16}$/);
    const f = await loadModel(mf);
    assert.equal(f.meta.maskFilter?.enabled, true);
    assert.deepEqual(f.meta.frameSize, [512, 512]);
    f.model.dispose();
    // the packaged import runs the LiteRT.js check too, as `portraitseg import` does
    requireTool(this, 'the TFLite runtime LiteRT.js (@litertjs/core, optional dependency)', await tfliteRuntimeUnavailable());
    assert.match(lines[0], /; parity imported:selfie_segmentation_landscape tflite import vs the TFLite file in LiteRT\.js \(TFLite's interpreter\) on portrait frames 2x144x256x3: max \|P\(person\) diff\| \S+ \(tolerance 0\.001\) OK$/);
  });

  it('train teacher without --config: says the recipe first, fine-tunes mediapipe:selfie on the distillation loop', async function () {
    // two packaged imports with their reference and LiteRT.js checks, then a run: minutes on a loaded 2-core machine
    this.timeout(900000);
    const root = tmp('pseg-defaults-');
    const data = path.join(root, 'data');
    const s = cli(['data', 'synth', '--out', data, '--count', '10', '--seed', '5', '--size', '64x64', '--unlabeled', '4']);
    assert.equal(s.code, 0, s.stderr);
    const out = path.join(root, 'teacher');
    const r = cli(['train', 'teacher', '--data', data, '--unlabeled', path.join(data, 'unlabeled/images'), '--out', out, '--images', '4', '--batch', '4', '--set', 'train.evalEvery=4', '--set', 'train.checkpointEvery=4', '--set', 'data.valFraction=0.2', '--set', 'distill.unlabeledFraction=0.5'], { timeout: 840000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    assert.match(lines[0], /^recipe: configs\/teacher-finetune\.json \(the default while @mediapipe\/selfie_segmentation is installed\)/);
    assert.match(r.stderr, /train teacher: configs\/teacher-finetune\.json learns from a frozen teacher beside the labels \(distill\.\*\): it runs on the distillation loop/);
    assert.match(r.stderr, /teacher on validation \(\d+ images at 256x256\): .*ensemble of 2: imported:selfie_segmentation .* \+ imported:selfie_segmentation_landscape/);
    assert.match(r.stderr, /student: imported:selfie_segmentation, 106401 params, frames 256x256/);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.model.name, 'imported:selfie_segmentation');
    assert.ok(cfg.train.init.startsWith(cache), cfg.train.init);
    assert.equal(cfg.distill.teacher, 'mediapipe:selfie');
    assert.equal(cfg.train.loss.ignoreBand, 4);
    const best = await loadModel(path.join(out, 'best'));
    assert.equal(best.meta.params, 106401);
    best.model.dispose();
  });
});
