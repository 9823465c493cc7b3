/**
 * The transform registry and the pipeline builder (PaddleSeg / mmsegmentation compose a
 * list of transforms from config; principles 3 and 7 in DEVELOPERS.md). Every transform is listed here
 * explicitly with typed parameters and defaults; `buildPipeline` validates a config list
 * at build time and errors name the key path (`augment.train[2].maxDegres: ...`).
 */
import type { TransformSpec } from '../config/config';
import { ConfigError, describeValue, didYouMean, unwrap, validate, z } from '../config/schema';
import type { Sample } from '../data/types';
import type { RgbImage } from '../util/image';
import type { Rng } from '../util/rng';
import { BACKGROUND_SWAP_PARAMS, backgroundSwap, ProceduralBackground } from './background';
import { flipSample, rotateSample, scaleCropSample } from './geometric';
import { CAMERA_NOISE_PARAMS, cameraNoise, COLOR_JITTER_PARAMS, colorJitter } from './photometric';
import { BORDER_MODES } from './raster';

/** A pure, seeded transform: never mutates its input, returns a sample of the same size. */
export type Transform = (s: Sample, rng: Rng) => Sample;

export interface PipelineContext {
  /** Background photos for `backgroundSwap` (see loadBackgrounds); empty = procedural backgrounds. */
  backgrounds: RgbImage[];
  /** Generator used when `backgrounds` is empty (default: proceduralBackground from src/data/synth). */
  proceduralBackground?: ProceduralBackground;
}

/** One registry entry; its parameters are a zod object whose every field has a default and a description. */
export interface TransformDef<P extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  doc: string;
  params: z.ZodObject<P>;
  /** Cross-parameter rules; returns [param, message] of the first violation. */
  check?: (p: z.output<z.ZodObject<P>>) => [string, string] | null;
  make: (p: z.output<z.ZodObject<P>>, ctx: PipelineContext) => Transform;
}

/** Keeps each entry's parameter type for its own `check` and `make` while listing them together. */
const define = <P extends z.ZodRawShape>(d: TransformDef<P>): TransformDef => d as unknown as TransformDef;

/** The probability every step takes besides its own parameters. */
const P_PARAM = z.number().min(0).max(1).default(1).describe('probability of applying the step');
const border = () =>
  z.enum(BORDER_MODES).default('auto').describe('how uncovered pixels are filled: auto (reflect sideways, replicate up/down) | reflect | replicate | constant');
const fill = () => z.number().min(0).max(255).default(0).describe('grey level for border=constant');

/** The registry, in the order the docs list it. */
export const TRANSFORMS: readonly TransformDef[] = [
  define({
    name: 'backgroundSwap',
    doc: 'composite the person onto a random crop of a background photo (procedural when none), with feathering, light wrap and colour matching; skipped for unlabeled samples',
    params: BACKGROUND_SWAP_PARAMS,
    make: (params, ctx) => {
      const backgrounds = ctx.backgrounds;
      return (s, rng) => backgroundSwap(s, rng, params, backgrounds, ctx.proceduralBackground);
    },
  }),
  define({
    name: 'scaleCrop',
    doc: 'zoom about the centre by a random scale, shift, and crop back to the same size',
    params: z.object({
      minScale: z.number().min(0.05).default(0.75).describe('smallest zoom (< 1 zooms out and fills the border)'),
      maxScale: z.number().min(0.05).default(1.25).describe('largest zoom'),
      maxShift: z.number().min(0).max(1).default(0.1).describe('largest shift as a fraction of width / height'),
      border: border(),
      fill: fill(),
    }),
    check: (p) => (p.minScale > p.maxScale ? ['minScale', `must be <= maxScale (${p.maxScale}), got ${p.minScale}`] : null),
    make: (p) => (s, rng) => {
      // log-uniform scale so zooming in and out by the same factor are equally likely
      const scale = Math.exp(rng.uniform(Math.log(p.minScale), Math.log(p.maxScale)));
      const m = p.maxShift;
      return scaleCropSample(s, scale, rng.uniform(-m, m), rng.uniform(-m, m), p.border, p.fill);
    },
  }),
  define({
    name: 'rotate',
    doc: 'rotate about the centre by a uniform angle in [-maxDegrees, maxDegrees]',
    params: z.object({
      maxDegrees: z.number().min(0).max(180).default(15).describe('largest rotation in degrees'),
      border: border(),
      fill: fill(),
    }),
    make: (p) => (s, rng) => rotateSample(s, rng.uniform(-p.maxDegrees, p.maxDegrees), p.border, p.fill),
  }),
  define({
    name: 'flip',
    doc: 'mirror left-right',
    params: z.object({}),
    make: () => (s) => flipSample(s),
  }),
  define({
    name: 'colorJitter',
    doc: 'random brightness, contrast, saturation, hue and white balance (one colour matrix)',
    params: COLOR_JITTER_PARAMS,
    make: (p) => (s, rng) => colorJitter(s, rng, p),
  }),
  define({
    name: 'cameraNoise',
    doc: 'webcam degradations: low light, blur, signal-dependent sensor noise, JPEG artefacts (sync DCT quantisation)',
    params: CAMERA_NOISE_PARAMS,
    make: (p) => (s, rng) => cameraNoise(s, rng, p),
  }),
];

export const TRANSFORM_NAMES: string[] = TRANSFORMS.map((t) => t.name);

export function getTransformDef(name: string): TransformDef | undefined {
  return TRANSFORMS.find((t) => t.name === name);
}

type ParamValues = Record<string, unknown>;

export interface ResolvedStep {
  name: string;
  p: number;
  params: ParamValues;
  def: TransformDef;
}

/** The whole declaration of one step: its name, `p` and the transform's own parameters, nothing else. */
const STEP_SCHEMAS = new Map(TRANSFORMS.map((t) => [t.name, z.strictObject({ name: z.string(), p: P_PARAM, ...t.params.shape })]));

/**
 * Validates a config list of transform specs without building anything (no backgrounds
 * needed), so commands can fail at start-up. Returns the specs with defaults filled in.
 */
export function validateAugment(specs: unknown, keyPath = 'augment.train'): ResolvedStep[] {
  if (!Array.isArray(specs)) throw new ConfigError(`${keyPath}: expected an array of transforms, got ${describeValue(specs)}`);
  return specs.map((spec: unknown, i) => {
    const at = `${keyPath}[${i}]`;
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      throw new ConfigError(`${at}: expected an object like {"name": "flip", "p": 0.5}, got ${describeValue(spec)}`);
    }
    const raw = spec as Record<string, unknown>;
    if (typeof raw.name !== 'string') throw new ConfigError(`${at}.name: expected a transform name (one of ${TRANSFORM_NAMES.join(', ')}), got ${describeValue(raw.name)}`);
    const def = getTransformDef(raw.name);
    if (!def) {
      throw new ConfigError(`${at}.name: unknown transform "${raw.name}"${didYouMean(raw.name, TRANSFORM_NAMES)}; known transforms: ${TRANSFORM_NAMES.join(', ')}`);
    }
    const { name: _name, p, ...params } = validate(STEP_SCHEMAS.get(def.name)!, raw, {
      at,
      unknownKey: (where, key, known) => {
        const names = known.filter((k) => k !== 'name');
        const list = names.length > 1 ? `known parameters: ${names.join(', ')}` : 'it takes only p';
        return `${where}: unknown parameter for ${def.name}${didYouMean(key, names)}; ${list}`;
      },
    });
    const bad = def.check?.(params);
    if (bad) throw new ConfigError(`${at}.${bad[0]}: ${bad[1]}`);
    return { name: def.name, p, params, def };
  });
}

/**
 * Builds the training pipeline from config specs (validated first; errors name
 * `<keyPath>[i].<param>`). Step i draws from `rng.fork("<name>#<k>")` (k = how many earlier
 * steps share the name), so adding, removing or reordering other steps does not change
 * its randomness. Give each sample its own generator (e.g. `rng.fork(sampleIndex)`): the
 * pipeline is a pure function of (sample, rng seed).
 */
export function buildPipeline(specs: TransformSpec[], ctx: PipelineContext, keyPath = 'augment.train'): Transform {
  const steps = validateAugment(specs, keyPath);
  const seen = new Map<string, number>();
  const built = steps.map((st) => {
    const k = seen.get(st.name) ?? 0;
    seen.set(st.name, k + 1);
    return { label: `${st.name}#${k}`, p: st.p, fn: st.def.make(st.params, ctx) };
  });
  return (s: Sample, rng: Rng): Sample => {
    let cur = s;
    for (const st of built) {
      const r = rng.fork(st.label);
      if (!r.chance(st.p)) continue;
      const next = st.fn(cur, r);
      if (next.image.width !== cur.image.width || next.image.height !== cur.image.height) {
        throw new Error(`augment step ${st.label} changed the sample size (${cur.image.width}x${cur.image.height} -> ${next.image.width}x${next.image.height})`);
      }
      cur = next;
    }
    return cur;
  };
}

/** Human-readable list of transforms and parameters (for `augment list` and the docs). */
export function describeTransforms(): string {
  const lines: string[] = [];
  const line = (key: string, value: unknown, s: z.ZodType) => {
    const base = unwrap(s).base as z.ZodType & { minValue?: number | null; maxValue?: number | null };
    const min = base.minValue ?? undefined;
    const max = base.maxValue ?? undefined;
    const range = `${Number.isFinite(min) ? ` min ${min}` : ''}${Number.isFinite(max) ? ` max ${max}` : ''}`;
    lines.push(`  ${key} = ${JSON.stringify(value)}  ${s.description ?? ''}${range ? ` (${range.trim()})` : ''}`);
  };
  for (const t of TRANSFORMS) {
    lines.push(`${t.name}: ${t.doc}`);
    lines.push(`  p = 1  ${P_PARAM.description}`);
    const defaults = t.params.parse({}) as ParamValues;
    for (const [k, s] of Object.entries(t.params.shape)) line(k, defaults[k], s as z.ZodType);
  }
  return lines.join('\n');
}
