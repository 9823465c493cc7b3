/**
 * The transform registry and the pipeline builder (PaddleSeg / mmsegmentation compose a
 * list of transforms from config; principles 3 and 7 in DEVELOPERS.md). Every transform is listed here
 * explicitly with typed parameters and defaults; `buildPipeline` validates a config list
 * at build time and errors name the key path (`augment.train[2].maxDegres: ...`).
 */
import type { TransformSpec } from '../config/config';
import { ConfigError, didYouMean } from '../config/schema';
import type { Sample } from '../data/types';
import type { RgbImage } from '../util/image';
import type { Rng } from '../util/rng';
import { backgroundSwap, BackgroundSwapParams, ProceduralBackground } from './background';
import { flipSample, rotateSample, scaleCropSample } from './geometric';
import { cameraNoise, CameraNoiseParams, colorJitter, ColorJitterParams } from './photometric';
import { BORDER_MODES, BorderMode } from './raster';

/** A pure, seeded transform: never mutates its input, returns a sample of the same size. */
export type Transform = (s: Sample, rng: Rng) => Sample;

export interface PipelineContext {
  /** Background photos for `backgroundSwap` (see loadBackgrounds); empty = procedural backgrounds. */
  backgrounds: RgbImage[];
  /** Generator used when `backgrounds` is empty (default: proceduralBackground from src/data/synth). */
  proceduralBackground?: ProceduralBackground;
}

export type ParamDef =
  | { kind: 'number'; default: number; min?: number; max?: number; integer?: boolean; doc: string }
  | { kind: 'enum'; values: readonly string[]; default: string; doc: string }
  | { kind: 'boolean'; default: boolean; doc: string };

type ParamValues = Record<string, number | string | boolean>;

export interface TransformDef {
  name: string;
  doc: string;
  params: Record<string, ParamDef>;
  /** Cross-parameter rules; returns [param, message] of the first violation. */
  check?: (p: ParamValues) => [string, string] | null;
  make: (p: ParamValues, ctx: PipelineContext) => Transform;
}

const num = (d: number, doc: string, o: { min?: number; max?: number; integer?: boolean } = {}): ParamDef => ({ kind: 'number', default: d, doc, ...o });
const border = (d: BorderMode): ParamDef => ({ kind: 'enum', values: BORDER_MODES, default: d, doc: 'how uncovered pixels are filled: auto (reflect sideways, replicate up/down) | reflect | replicate | constant' });

/** The registry, in the order the docs list it. */
export const TRANSFORMS: readonly TransformDef[] = [
  {
    name: 'backgroundSwap',
    doc: 'composite the person onto a random crop of a background photo (procedural when none), with feathering, light wrap and colour matching; skipped for unlabeled samples',
    params: {
      feather: num(0.008, 'edge softness: alpha blur sigma as a fraction of the shorter side', { min: 0, max: 0.1 }),
      lightWrap: num(0.3, 'strength of background light bleeding onto the person rim (0 = off)', { min: 0, max: 1 }),
      lightWrapWidth: num(0.015, 'light-wrap width as a fraction of the shorter side', { min: 0, max: 0.2 }),
      colorMatch: num(0.4, 'how far the person colour cast (mean chroma; luma at 30%) and contrast move towards the background (0 = off)', { min: 0, max: 1 }),
      minCrop: num(0.4, 'smallest background crop, as a fraction of the largest crop with the frame aspect', { min: 0.05, max: 1 }),
      defocus: num(0.01, 'maximum background defocus blur sigma as a fraction of the shorter side', { min: 0, max: 0.1 }),
      choke: num(0.25, 'pull the cut inward so coarse masks leave the old background behind (alpha = (blurred - choke) / (1 - choke))', { min: 0, max: 0.9 }),
      edgeClean: num(0.7, 'edge decontamination: rim pixels take this much of the colour just inside the person', { min: 0, max: 1 }),
    },
    make: (p, ctx) => {
      const params = p as unknown as BackgroundSwapParams;
      const backgrounds = ctx.backgrounds;
      return (s, rng) => backgroundSwap(s, rng, params, backgrounds, ctx.proceduralBackground);
    },
  },
  {
    name: 'scaleCrop',
    doc: 'zoom about the centre by a random scale, shift, and crop back to the same size',
    params: {
      minScale: num(0.75, 'smallest zoom (< 1 zooms out and fills the border)', { min: 0.05 }),
      maxScale: num(1.25, 'largest zoom', { min: 0.05 }),
      maxShift: num(0.1, 'largest shift as a fraction of width / height', { min: 0, max: 1 }),
      border: border('auto'),
      fill: num(0, 'grey level for border=constant', { min: 0, max: 255 }),
    },
    check: (p) => ((p.minScale as number) > (p.maxScale as number) ? ['minScale', `must be <= maxScale (${p.maxScale}), got ${p.minScale}`] : null),
    make: (p) => (s, rng) => {
      // log-uniform scale so zooming in and out by the same factor are equally likely
      const scale = Math.exp(rng.uniform(Math.log(p.minScale as number), Math.log(p.maxScale as number)));
      const m = p.maxShift as number;
      return scaleCropSample(s, scale, rng.uniform(-m, m), rng.uniform(-m, m), p.border as BorderMode, p.fill as number);
    },
  },
  {
    name: 'rotate',
    doc: 'rotate about the centre by a uniform angle in [-maxDegrees, maxDegrees]',
    params: {
      maxDegrees: num(15, 'largest rotation in degrees', { min: 0, max: 180 }),
      border: border('auto'),
      fill: num(0, 'grey level for border=constant', { min: 0, max: 255 }),
    },
    make: (p) => (s, rng) => rotateSample(s, rng.uniform(-(p.maxDegrees as number), p.maxDegrees as number), p.border as BorderMode, p.fill as number),
  },
  {
    name: 'flip',
    doc: 'mirror left-right',
    params: {},
    make: () => (s) => flipSample(s),
  },
  {
    name: 'colorJitter',
    doc: 'random brightness, contrast, saturation, hue and white balance (one colour matrix)',
    params: {
      brightness: num(0.25, 'brightness factor drawn in [1 - b, 1 + b]', { min: 0, max: 1 }),
      contrast: num(0.25, 'contrast factor drawn in [1 - c, 1 + c]', { min: 0, max: 1 }),
      saturation: num(0.25, 'saturation factor drawn in [1 - s, 1 + s]', { min: 0, max: 1 }),
      hue: num(0.04, 'hue rotation drawn in [-h, h] turns', { min: 0, max: 0.5 }),
      whiteBalance: num(0.1, 'colour temperature gain drawn in [-w, w] (red up / blue down), tint half that', { min: 0, max: 0.5 }),
    },
    make: (p) => (s, rng) => colorJitter(s, rng, p as unknown as ColorJitterParams),
  },
  {
    name: 'cameraNoise',
    doc: 'webcam degradations: low light, blur, signal-dependent sensor noise, JPEG artefacts (sync DCT quantisation)',
    params: {
      noise: num(0.04, 'largest sensor-noise std as a fraction of full scale', { min: 0, max: 0.5 }),
      blur: num(1.0, 'largest blur sigma in pixels (applied half the time)', { min: 0, max: 10 }),
      jpeg: num(0.3, 'probability of JPEG artefacts (quality 15..60)', { min: 0, max: 1 }),
      lowLight: num(0.2, 'probability of a low-light frame (darker, warmer, noisier)', { min: 0, max: 1 }),
    },
    make: (p) => (s, rng) => cameraNoise(s, rng, p as unknown as CameraNoiseParams),
  },
];

export const TRANSFORM_NAMES: string[] = TRANSFORMS.map((t) => t.name);

export function getTransformDef(name: string): TransformDef | undefined {
  return TRANSFORMS.find((t) => t.name === name);
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function checkParam(def: ParamDef, v: unknown, where: string): number | string | boolean {
  switch (def.kind) {
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${where}: expected a number, got ${describeValue(v)}`);
      if (def.integer && !Number.isInteger(v)) throw new ConfigError(`${where}: expected an integer, got ${v}`);
      if (def.min !== undefined && v < def.min) throw new ConfigError(`${where}: must be >= ${def.min}, got ${v}`);
      if (def.max !== undefined && v > def.max) throw new ConfigError(`${where}: must be <= ${def.max}, got ${v}`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !def.values.includes(v)) {
        throw new ConfigError(`${where}: expected one of ${def.values.join('|')}, got ${describeValue(v)}${typeof v === 'string' ? didYouMean(v, [...def.values]) : ''}`);
      }
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${describeValue(v)}`);
      return v;
  }
}

export interface ResolvedStep {
  name: string;
  p: number;
  params: ParamValues;
  def: TransformDef;
}

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
    let p = 1;
    if (raw.p !== undefined) p = checkParam({ kind: 'number', default: 1, min: 0, max: 1, doc: '' }, raw.p, `${at}.p`) as number;
    const known = Object.keys(def.params);
    const params: ParamValues = {};
    for (const key of Object.keys(raw)) {
      if (key === 'name' || key === 'p') continue;
      if (!(key in def.params)) {
        const list = known.length ? `known parameters: p, ${known.join(', ')}` : 'it takes only p';
        throw new ConfigError(`${at}.${key}: unknown parameter for ${def.name}${didYouMean(key, ['p', ...known])}; ${list}`);
      }
    }
    for (const [key, pd] of Object.entries(def.params)) {
      params[key] = raw[key] === undefined ? pd.default : checkParam(pd, raw[key], `${at}.${key}`);
    }
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
  for (const t of TRANSFORMS) {
    lines.push(`${t.name}: ${t.doc}`);
    lines.push(`  p = 1  probability of applying the step`);
    for (const [k, d] of Object.entries(t.params)) {
      const range = d.kind === 'number' ? `${d.min !== undefined ? ` min ${d.min}` : ''}${d.max !== undefined ? ` max ${d.max}` : ''}` : '';
      lines.push(`  ${k} = ${JSON.stringify(d.default)}  ${d.doc}${range ? ` (${range.trim()})` : ''}`);
    }
  }
  return lines.join('\n');
}
