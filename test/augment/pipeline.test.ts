import { strict as assert } from 'assert';
import { buildPipeline, describeTransforms, TRANSFORM_NAMES, validateAugment } from '../../src/augment';
import { DEFAULT_AUGMENT, defaultConfig } from '../../src/config/config';
import { ConfigError } from '../../src/config/schema';
import type { Sample } from '../../src/data/types';
import { makeRng } from '../../src/util/rng';
import { cloneSample, greenBackground, portraitSample } from './fixtures';

const ctx = { backgrounds: [greenBackground()] };
/** Every transform at p = 1 with strong settings, so each one really runs. */
const ALL_ON = [
  { name: 'backgroundSwap', p: 1 },
  { name: 'scaleCrop', p: 1 },
  { name: 'rotate', p: 1, maxDegrees: 20 },
  { name: 'flip', p: 1 },
  { name: 'colorJitter', p: 1 },
  { name: 'cameraNoise', p: 1, jpeg: 1, lowLight: 1 },
];

function throwsConfig(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test((e as Error).message));
}

describe('augment: pipeline and config validation', () => {
  it('the default config pipeline builds and every transform is registered', () => {
    assert.deepEqual(defaultConfig().augment.train, DEFAULT_AUGMENT);
    buildPipeline(DEFAULT_AUGMENT, ctx);
    assert.deepEqual(TRANSFORM_NAMES, ['backgroundSwap', 'scaleCrop', 'rotate', 'flip', 'colorJitter', 'cameraNoise']);
    for (const n of TRANSFORM_NAMES) assert.match(describeTransforms(), new RegExp(`^${n}: `, 'm'));
  });

  it('unknown transform names are errors naming the key, with a did-you-mean and the known names', () => {
    throwsConfig(() => buildPipeline([{ name: 'flip' }, { name: 'rotat' }], ctx), /^augment\.train\[1\]\.name: unknown transform "rotat" \(did you mean "rotate"\?\); known transforms: backgroundSwap, scaleCrop, rotate, flip, colorJitter, cameraNoise$/);
    throwsConfig(() => buildPipeline([{ p: 0.5 } as never], ctx), /^augment\.train\[0\]\.name: expected a transform name/);
    throwsConfig(() => buildPipeline(['flip'] as never, ctx), /^augment\.train\[0\]: expected an object/);
  });

  it('unknown or mistyped parameters are errors naming augment.train[i].<param>', () => {
    throwsConfig(() => buildPipeline([{ name: 'flip' }, { name: 'colorJitter' }, { name: 'rotate', maxDegres: 10 }], ctx), /^augment\.train\[2\]\.maxDegres: unknown parameter for rotate \(did you mean "maxDegrees"\?\); known parameters: p, maxDegrees, border, fill$/);
    throwsConfig(() => buildPipeline([{ name: 'rotate', maxDegrees: 'ten' }], ctx), /^augment\.train\[0\]\.maxDegrees: expected a number, got "ten"$/);
    throwsConfig(() => buildPipeline([{ name: 'rotate', border: 'reflekt' }], ctx), /^augment\.train\[0\]\.border: expected one of auto\|reflect\|replicate\|constant, got "reflekt" \(did you mean "reflect"\?\)$/);
    throwsConfig(() => buildPipeline([{ name: 'flip', p: 1.5 }], ctx), /^augment\.train\[0\]\.p: must be <= 1, got 1\.5$/);
    throwsConfig(() => buildPipeline([{ name: 'flip', amount: 1 }], ctx), /^augment\.train\[0\]\.amount: unknown parameter for flip; it takes only p$/);
    throwsConfig(() => buildPipeline([{ name: 'scaleCrop', minScale: 1.5, maxScale: 1.2 }], ctx), /^augment\.train\[0\]\.minScale: must be <= maxScale/);
    // the key path is the caller's
    throwsConfig(() => validateAugment([{ name: 'cameraNoise', jpeg: 2 }], 'distill.augment'), /^distill\.augment\[0\]\.jpeg: must be <= 1, got 2$/);
  });

  it('the same seed gives byte-identical output, different seeds differ', () => {
    const aug = buildPipeline(ALL_ON, ctx);
    const s = portraitSample();
    const a = aug(s, makeRng('same'));
    const b = aug(s, makeRng('same'));
    assert.deepEqual(a.image.data, b.image.data);
    assert.deepEqual(a.mask!.data, b.mask!.data);
    const c = aug(s, makeRng('other'));
    assert.notDeepEqual(a.image.data, c.image.data);
    // and a freshly built pipeline (another process, same config) gives the same bytes
    const again = buildPipeline(ALL_ON, { backgrounds: [greenBackground()] })(s, makeRng('same'));
    assert.deepEqual(again.image.data, a.image.data);
  });

  it('adding a step does not change the randomness of the others', () => {
    const s = portraitSample();
    const base = [{ name: 'rotate', maxDegrees: 30 }];
    const withColour = [{ name: 'colorJitter', p: 0 }, { name: 'rotate', maxDegrees: 30 }, { name: 'flip', p: 0 }];
    const a = buildPipeline(base, ctx)(s, makeRng(7));
    const b = buildPipeline(withColour, ctx)(s, makeRng(7));
    assert.deepEqual(b.image.data, a.image.data);
  });

  it('never mutates its input, keeps the size, and p = 0 is the identity', () => {
    const s = portraitSample();
    const before = cloneSample(s);
    for (let k = 0; k < 4; k++) {
      const out = buildPipeline(ALL_ON, ctx)(s, makeRng(k));
      assert.equal(out.image.width, s.image.width);
      assert.equal(out.image.height, s.image.height);
      assert.equal(out.mask!.data.length, s.mask!.data.length);
      assert.equal(out.id, s.id);
    }
    assert.deepEqual(s, before);
    const off = buildPipeline(ALL_ON.map((t) => ({ ...t, p: 0 })), ctx)(s, makeRng(1));
    assert.deepEqual(off, s);
  });

  it('unlabeled samples pass through: image transforms apply, background swap is skipped', () => {
    const s: Sample = { ...portraitSample(), mask: null };
    const swapOnly = buildPipeline([{ name: 'backgroundSwap' }], ctx)(s, makeRng(3));
    assert.equal(swapOnly, s);
    const out = buildPipeline(ALL_ON, ctx)(s, makeRng(3));
    assert.equal(out.mask, null);
    assert.notDeepEqual(out.image.data, s.image.data);
  });
});
