/**
 * The model registry: every named model, listed explicitly (no registration by import
 * side effect). `createModel(name, args, {seed})` builds a model that follows the contract
 * in src/models/types.ts and returns it with its ModelMeta.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, didYouMean } from '../config/schema';
import { ContractArgs, Init, SymbolicTensor, wrapContract } from './common';
import { registerCustomLayers } from './layers';
import { buildMobileNet, MNV2_M_DEFAULTS, MNV2_S_DEFAULTS, MNV2_XS_DEFAULTS } from './mobilenet';
import { ModelMeta } from './types';
import { packageVersion } from '../util/version';
import { buildUnet, UNET_M_DEFAULTS, UNET_S_DEFAULTS } from './unet';

type Built = { args: ContractArgs; body: (x: SymbolicTensor) => SymbolicTensor; init: Init; stride: number };

interface Entry {
  name: string;
  family: ModelMeta['family'];
  description: string;
  defaultArgs: Record<string, unknown>;
  build: (name: string, args: Record<string, unknown> | undefined, seed: number | undefined) => Built;
}

const unet = (defaults: typeof UNET_S_DEFAULTS) => (name: string, a: Record<string, unknown> | undefined, seed: number | undefined) =>
  buildUnet(name, defaults, a, seed);
const mnv2 = (defaults: typeof MNV2_S_DEFAULTS) => (name: string, a: Record<string, unknown> | undefined, seed: number | undefined) =>
  buildMobileNet(name, defaults, a, seed);

const ENTRIES: Entry[] = [
  {
    name: 'unet_teacher_s',
    family: 'teacher',
    description: 'U-Net + pyramid pooling, widths 16-128 (default teacher)',
    defaultArgs: { ...UNET_S_DEFAULTS },
    build: unet(UNET_S_DEFAULTS),
  },
  {
    name: 'unet_teacher_s_dgf',
    family: 'teacher',
    description: 'unet_teacher_s with the deep guided filter (net 128, frames 256)',
    defaultArgs: { ...UNET_S_DEFAULTS, maskFilter: true },
    build: unet({ ...UNET_S_DEFAULTS, maskFilter: true }),
  },
  {
    name: 'unet_teacher_m',
    family: 'teacher',
    description: 'U-Net + pyramid pooling, widths 24-256 (larger teacher)',
    defaultArgs: { ...UNET_M_DEFAULTS },
    build: unet(UNET_M_DEFAULTS),
  },
  {
    name: 'mnv2_student_xs',
    family: 'student',
    description: 'MobileNetV2-style student, width 0.35',
    defaultArgs: { ...MNV2_XS_DEFAULTS },
    build: mnv2(MNV2_XS_DEFAULTS),
  },
  {
    name: 'mnv2_student_s',
    family: 'student',
    description: 'MobileNetV2-style student, width 0.5 (default student)',
    defaultArgs: { ...MNV2_S_DEFAULTS },
    build: mnv2(MNV2_S_DEFAULTS),
  },
  {
    name: 'mnv2_student_s_dgf',
    family: 'student',
    description: 'mnv2_student_s with the deep guided filter (net 128, frames 256)',
    defaultArgs: { ...MNV2_S_DEFAULTS, maskFilter: true },
    build: mnv2({ ...MNV2_S_DEFAULTS, maskFilter: true }),
  },
  {
    name: 'mnv2_student_m',
    family: 'student',
    description: 'MobileNetV2-style student, width 1.0',
    defaultArgs: { ...MNV2_M_DEFAULTS },
    build: mnv2(MNV2_M_DEFAULTS),
  },
];

// duplicates would make lookups ambiguous
{
  const seen = new Set<string>();
  for (const e of ENTRIES) {
    if (seen.has(e.name)) throw new Error(`model registry: duplicate name ${e.name}`);
    seen.add(e.name);
  }
}

export const DEFAULT_TEACHER = 'unet_teacher_s';
export const DEFAULT_STUDENT = 'mnv2_student_s';

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function listModels(): { name: string; family: ModelMeta['family']; description: string; defaultArgs: Record<string, unknown> }[] {
  return ENTRIES.map((e) => ({ name: e.name, family: e.family, description: e.description, defaultArgs: clone(e.defaultArgs) }));
}

export function modelNames(): string[] {
  return ENTRIES.map((e) => e.name);
}

function entry(name: string): Entry {
  const e = ENTRIES.find((x) => x.name === name);
  if (!e) {
    const known = modelNames();
    throw new ConfigError(`model.name: unknown model "${name}"${didYouMean(name, known)}; known models: ${known.join(', ')}`);
  }
  return e;
}

/**
 * Resolves and validates args without building (cheap): the full args and the meta
 * fields that do not need the model. Throws ConfigError naming `model.name` / `model.args.<key>`.
 */
export function resolveModelArgs(name: string, args?: Record<string, unknown>): Record<string, unknown> {
  const e = entry(name);
  const built = e.build(name, args, undefined);
  return clone(built.args) as unknown as Record<string, unknown>;
}

function metaFor(e: Entry, built: Built, params: number): ModelMeta {
  const a = built.args;
  const scale = a.maskFilter ? a.filterScale : 1;
  return {
    name: e.name,
    args: clone(a) as unknown as Record<string, unknown>,
    family: e.family,
    inputSize: [a.inputSize[0], a.inputSize[1]],
    frameSize: [a.inputSize[0] * scale, a.inputSize[1] * scale],
    mean: [...a.mean] as [number, number, number],
    std: [...a.std] as [number, number, number],
    output: 'logits',
    stride: built.stride,
    maskFilter: a.maskFilter ? { enabled: true, radius: a.filterRadius, eps: a.filterEps, scale: a.filterScale, space: a.filterSpace } : null,
    params,
    version: packageVersion(),
  };
}

/**
 * Builds a registered model. Same name, args and seed -> identical weights.
 * Without a seed, tfjs' unseeded initialisers are used.
 */
export function createModel(name: string, args?: Record<string, unknown>, opts: { seed?: number } = {}): { model: tf.LayersModel; meta: ModelMeta } {
  registerCustomLayers();
  if (name.startsWith(IMPORTED_PREFIX)) return rebuildImported(name, args ?? {}, opts.seed);
  const e = entry(name);
  const built = e.build(name, args, opts.seed);
  const model = wrapContract(name, built.args, built.init, built.body);
  return { model, meta: metaFor(e, built, model.countParams()) };
}

/** Names of models made by `portraitseg import` (src/models/import). */
export const IMPORTED_PREFIX = 'imported:';

/**
 * An imported model has no registry entry: code that rebuilds a model from its meta (the
 * micro-batch probe, the two-thread step's workers, FLOP counts) re-imports its source file,
 * which gives the same architecture and the source's weights.
 */
function rebuildImported(name: string, args: Record<string, unknown>, seed: number | undefined): { model: tf.LayersModel; meta: ModelMeta } {
  const imp = args.imported as { source?: string; inputRange?: string; output?: string; constInputs?: Record<string, number>; outputNode?: string } | undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('fs') as typeof import('fs');
  if (!imp?.source || !fs.existsSync(imp.source)) {
    throw new ConfigError(`model.name ${name}: an imported model is rebuilt from its source file (model.args.imported.source: ${imp?.source ?? 'missing'}), which is not there`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { importModel } = require('./import') as typeof import('./import');
  const r = importModel(imp.source, {
    inputSize: args.inputSize as [number, number],
    inputRange: imp.inputRange as never,
    output: imp.output as never,
    maskFilter: !!args.maskFilter,
    seed,
    constInputs: imp.constInputs ?? null,
    outputNode: imp.outputNode ?? null,
  });
  return { model: r.model, meta: { ...r.meta, name } };
}
