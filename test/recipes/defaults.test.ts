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
import { writeTfliteFixture } from '../models/import/fixtures';
import { resolveConfig } from '../../src/config/load';
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
    assert.match(t.line, /^recipe: configs\/teacher-large\.json \(the default while @mediapipe\/selfie_segmentation is installed\): the large teacher: .*mediapipe:selfie.* widened 4x .*mask filter.*; from random weights: --config configs\/teacher\.json$/);
    const s = defaultRecipe('student', { data: 'd' }, { student: undefined }, yes)!;
    assert.equal(s.file, RECIPES.studentPretrained);
    assert.match(s.line, /^recipe: configs\/distill-large\.json \(the default.*mediapipe:selfie-mf.*portraitseg label/);
    const absent = defaultRecipe('teacher', { data: 'd' }, {}, no)!;
    assert.equal(absent.file, RECIPES.teacher);
    assert.match(absent.line, /from random weights: @mediapipe\/selfie_segmentation is not installed; the pretrained recipe is --config configs\/teacher-large\.json/);
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

  it('the shipped recipes: the large teacher and its student are the defaults; a frozen teacher makes a teacher recipe a distillation one', () => {
    assert.equal(recipeHasTeacher(RECIPES.teacherPretrained), false, 'the large teacher learns from labels');
    assert.equal(recipeHasTeacher(path.join(ROOT, 'configs/teacher-finetune.json')), true);
    assert.equal(recipeHasTeacher(RECIPES.teacher), false);
    assert.equal(recipeHasTeacher(path.join(ROOT, 'configs/teacher-finetune-labels-only.json')), false);
    const t = resolveConfig({ file: RECIPES.teacherPretrained });
    assert.equal(t.train.init, 'mediapipe:selfie');
    assert.deepEqual(t.train.initImport, { inputSize: null, maskFilter: true, widen: 4 });
    const s = resolveConfig({ file: RECIPES.studentPretrained });
    assert.equal(s.train.init, 'mediapipe:selfie-mf');
    assert.equal(s.data.maskMode, 'soft', 'trained on soft masks written once by the teacher');
    assert.equal(s.distill.teacher, null);
    assert.equal(s.distill.soft + s.distill.boundary + s.distill.feature, 0);
    const twin = resolveConfig({ file: path.join(ROOT, 'configs/distill-large-labels-only.json') });
    assert.match(twin.description ?? '', /Control of configs\/distill-large\.json/);
    assert.deepEqual(twin.train, s.train, 'the twin has the student\'s start and budget');
    assert.deepEqual(twin.augment, s.augment);
    assert.equal(twin.data.maskMode, 'binary');
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

  it('train.initImport: a .tflite init imported widened, with the mask filter, once per option set', async function () {
    this.timeout(120000);
    const dir = tmp('pseg-initimport-');
    const f = writeTfliteFixture(dir);
    const lines: string[] = [];
    const plain = await ensureImported(f, { seed: 1, key: 'train.init', log: (l) => lines.push(l), check: checkImport });
    const wide = await ensureImported(f, { seed: 1, key: 'train.init', log: (l) => lines.push(l), check: checkImport, importOptions: { maskFilter: true, widen: 2 } });
    assert.notEqual(wide, plain, 'each option set has its own folder');
    assert.match(path.basename(wide), /^fixture-mf-w2-[0-9a-f]{16}$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1], /parity .*import vs the TFLite file.* OK/);
    const a = await loadModel(plain);
    const b = await loadModel(wide);
    assert.equal(b.meta.args.widen, 2);
    assert.equal(b.meta.maskFilter?.enabled, true);
    assert.equal(b.meta.maskFilter?.space, 'prob');
    assert.ok(b.meta.params > 2 * a.meta.params, `${a.meta.params} -> ${b.meta.params}`);
    a.model.dispose();
    b.model.dispose();
    assert.equal(await ensureImported(f, { seed: 1, key: 'train.init', log: (l) => lines.push(l), check: checkImport, importOptions: { maskFilter: true, widen: 2 } }), wide);
    assert.equal(lines.length, 2, 'reused');
  });

  it('train teacher without --config: says the recipe first, trains the large teacher (the selfie widened 4x, with the mask filter), scores the start at the photos\' resolution', async function () {
    // a packaged import (widened, with the reference and LiteRT.js checks), then a run: minutes on a loaded 2-core machine
    this.timeout(900000);
    const root = tmp('pseg-defaults-');
    const data = path.join(root, 'data');
    const s = cli(['data', 'synth', '--out', data, '--count', '10', '--seed', '5', '--size', '64x48']);
    assert.equal(s.code, 0, s.stderr);
    const out = path.join(root, 'teacher');
    const r = cli(['train', 'teacher', '--data', data, '--out', out, '--images', '2', '--batch', '2', '--set', 'train.evalEvery=2', '--set', 'train.checkpointEvery=2', '--set', 'data.valFraction=0.2'], { timeout: 840000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    assert.match(lines[0], /^recipe: configs\/teacher-large\.json \(the default while @mediapipe\/selfie_segmentation is installed\)/);
    assert.match(r.stderr, /train\.init: imported mediapipe:selfie .* into .*selfie_segmentation-mf-w4-[0-9a-f]{16}; parity .*import vs the TFLite file.* OK/);
    assert.match(r.stderr, /validation: \d photos at their own resolution \(64x48\), scored like eval/);
    assert.match(r.stderr, /eval @ 0 img: mIoU /);
    assert.match(r.stdout, /validation mIoU: start \d\.\d{4}, best \d\.\d{4} at step \d+/);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.model.name, 'imported:selfie_segmentation');
    assert.ok(cfg.train.init.startsWith(cache), cfg.train.init);
    const best = await loadModel(path.join(out, 'best'));
    assert.equal(best.meta.args.widen, 4);
    assert.equal(best.meta.maskFilter?.enabled, true);
    assert.deepEqual(best.meta.frameSize, [512, 512]);
    assert.ok(best.meta.params > 10 * 106401, `${best.meta.params} params`);
    best.model.dispose();
  });

  it('distill student: a teacher nothing learns from is refused, naming the keys', async function () {
    this.timeout(120000);
    const root = tmp('pseg-defaults-s-');
    const data = path.join(root, 'data');
    const s = cli(['data', 'synth', '--out', data, '--count', '6', '--seed', '5', '--size', '64x48']);
    assert.equal(s.code, 0, s.stderr);
    const r = cli(['distill', 'student', '--data', data, '--teacher', 'mediapipe:selfie', '--out', path.join(root, 'student'), '--images', '2', '--batch', '2']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^recipe: configs\/distill-large\.json/);
    assert.match(r.stderr, /a teacher is given \(mediapipe:selfie\) but distill\.soft, distill\.boundary and distill\.feature are all 0, so nothing learns from it: give --set distill\.soft=1/);
    assert.equal(fs.existsSync(path.join(root, 'student', 'last')), false);
  });
});
