import { strict as assert } from 'assert';
import * as path from 'path';
import { resolveConfig } from '../../src/config/load';

const CONFIGS = path.join(__dirname, '../../configs');
const load = (f: string) => resolveConfig({ file: path.join(CONFIGS, f) });

/** The issue-14 recipes and their labels-only controls (same start and budget, no teacher). */
const PAIRS: [string, string][] = [
  ['teacher-finetune.json', 'teacher-finetune-labels-only.json'],
  ['distill-finetune.json', 'distill-finetune-labels-only.json'],
  ['distill-strong-scratch.json', 'distill-strong-scratch-labels-only.json'],
];

describe('recipes: the shipped pretrained-start recipes', () => {
  it('each resolves, describes itself, and its labels-only control has the same start and budget without a teacher', () => {
    assert.equal(PAIRS.length, 3);
    for (const [recipe, control] of PAIRS) {
      const r = load(recipe);
      const c = load(control);
      assert.ok((r.description ?? '').length > 80, `${recipe}: description`);
      assert.ok((c.description ?? '').includes('Control of'), `${control}: description`);
      assert.ok(r.distill.soft > 0 && r.distill.teacher, `${recipe}: distils from a teacher`);
      assert.equal(c.distill.soft + c.distill.boundary + c.distill.feature, 0, `${control}: labels only`);
      assert.equal(c.distill.teacher, null);
      assert.deepEqual(c.distill.teachers, []);
      for (const k of ['images', 'batchSize', 'lr', 'minLr', 'warmupImages', 'ema', 'init', 'loss'] as const) assert.deepEqual(c.train[k], r.train[k], `${control}: train.${k} as in ${recipe}`);
      assert.deepEqual(c.model, r.model);
      assert.deepEqual(c.augment, r.augment);
    }
    const t = load('teacher-finetune.json');
    assert.equal(t.train.init, 'mediapipe:selfie');
    assert.equal(t.distill.teacherFlip, true);
    assert.ok(t.train.lr <= 1e-4, 'fine-tuning: a low learning rate');
    assert.ok(t.augment.train.some((a) => a.name === 'backgroundSwap'), 'background swaps');
    assert.equal(t.train.loss.ignoreBand, 4, 'labels do not count near their edges');
    const s = load('distill-finetune.json');
    assert.equal(s.train.init, 'mediapipe:selfie');
    assert.equal(s.distill.teacher, 'mediapipe:selfie');
    assert.deepEqual(s.distill.teachers.map((x) => x.path), ['mediapipe:selfie-landscape']);
    assert.ok(s.distill.unlabeledFraction > 0);
    assert.equal(load('distill-strong-scratch.json').train.init, null);
    // taught by labels written once: soft masks, no live teacher, the same start and budget
    const soft = load('distill-finetune-soft.json');
    assert.equal(soft.data.maskMode, 'soft');
    assert.equal(soft.distill.teacher, null);
    assert.equal(soft.distill.soft + soft.distill.boundary, 0);
    for (const k of ['images', 'batchSize', 'lr', 'init'] as const) assert.deepEqual(soft.train[k], s.train[k], `distill-finetune-soft: train.${k}`);
    assert.equal(soft.train.loss.ignoreBand, 0, 'a teacher\'s soft masks are not coarse: no ignore band');
  });
});
