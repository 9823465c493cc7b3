/**
 * The portraitseg configuration: one typed object, layered as
 *   defaults  <  JSON file (--config, may `extends` another)  <  --set a.b=c  <  named flags.
 * Each section is owned by one module; its declaration lives here so that the whole
 * config is validated at start-up, before any data is read or model built.
 *
 * CONFIG_SCHEMA is the one declaration: the `Config` type is inferred from it, defaults,
 * validation and `--set` parsing read it. A new key is one line in its section, with a default
 * (`.default(...)`) and a `.describe(...)` when its name does not say it all; a new section is
 * `section({...})`. Messages: src/config/schema.ts.
 */
import { defaults, z } from './schema';
import { MAX_FRAME_SIDE } from '../util/size';

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** A config section: unknown keys are errors; missing keys take their defaults. */
// (generic: `{}` is a valid input of every section, since each of its keys has a default)
const section = <S extends z.ZodRawShape>(shape: S) => z.strictObject(shape).prefault({} as z.input<z.ZodObject<S, z.core.$strict>>);

const num = () => z.number();
const int = () => z.int();
/** [height, width] of positive integers, at least `min`. */
/** [height, width], each side min..MAX_FRAME_SIDE (a frame of 100000x100000 would be 40 GB per batch row). */
const size = (min: number) => z.tuple([z.int().min(min).max(MAX_FRAME_SIDE), z.int().min(min).max(MAX_FRAME_SIDE)]);
const INPUT_RANGES = ['0..1', '-1..1', '0..255'] as const;
const OUTPUTS = ['sigmoid', 'softmax1', 'logits'] as const;

/**
 * One augmentation step: a transform name from src/augment's registry plus its parameters.
 * The registry checks the name and the parameters (it sits above config in the layers).
 */
export const TRANSFORM_SPEC = z.looseObject({
  name: z.string().meta({ expected: 'a transform name (portraitseg augment list)' }),
  p: z.number().optional(),
});
export type TransformSpec = z.output<typeof TRANSFORM_SPEC>;

export const DEFAULT_AUGMENT: TransformSpec[] = [
  { name: 'backgroundSwap', p: 0.5 },
  { name: 'scaleCrop', p: 0.8, minScale: 0.75, maxScale: 1.25, maxShift: 0.1 },
  { name: 'rotate', p: 0.5, maxDegrees: 15 },
  { name: 'flip', p: 0.5 },
  { name: 'colorJitter', p: 0.8, brightness: 0.25, contrast: 0.25, saturation: 0.25, hue: 0.04, whiteBalance: 0.1 },
  { name: 'cameraNoise', p: 0.3, noise: 0.04, blur: 1.0, jpeg: 0.3, lowLight: 0.2 },
];

const LOSS = section({
  bce: num().min(0).default(1),
  dice: num().min(0).default(1),
  lovasz: num().min(0).default(0),
  boundary: num().min(0).default(0.5),
  boundaryWidth: int().min(1).default(3),
  ignoreBand: int().min(0).max(64).default(0).describe('pixels within this distance of a label edge do not count in the label loss (coarse masks; 0 = off)'),
});
export type LossConfig = z.output<typeof LOSS>;

const TEACHER = z.strictObject({
  path: z.string().default('').describe('run folder, checkpoint, imported model folder or external model.json'),
  inputSize: size(1).nullable().default(null),
  inputRange: z.enum(INPUT_RANGES).nullable().default(null),
  output: z.enum(OUTPUTS).nullable().default(null),
});

export const CONFIG_SCHEMA = z.strictObject({
  description: z.string().nullable().default(null).describe('what this config (recipe) is for; free text, kept in the run\'s config.json'),
  seed: int().default(42),
  backend: z.enum(BACKENDS).default('auto'),
  threads: int().min(0).default(0).describe('threads of the data-parallel training step (train teacher, distill student); 0 = auto: two on a multi-core machine with wasm, batches >= 8 and frames up to 128x128'),
  data: section({
    path: z.string().nullable().default(null).describe('folder, list file or datasets/*.json description'),
    val: z.string().nullable().default(null).describe('separate validation set; when null a seeded valFraction split of path is used'),
    valFraction: num().min(0).max(0.9).default(0.1),
    unlabeled: z.array(z.string()).default(() => []).describe('unlabeled image folders (distillation)'),
    backgrounds: z.string().nullable().default(null).describe('background photos for background-swap augmentation'),
    frameSize: size(8).default((): [number, number] => [128, 128]).describe('[height, width] frames are resized to before augmentation and batching'),
    maskMode: z.enum(['binary', 'soft']).default('binary').describe("alpha mattes: threshold at 0.5 ('binary') or keep soft"),
    strict: z.boolean().default(false),
    cacheDir: z.string().nullable().default('.cache/portraitseg').describe('on-disk cache of decoded samples; null disables it'),
    maxSamples: int().min(1).nullable().default(null),
    prefetch: int().min(0).default(4),
  }),
  augment: section({
    train: z.array(TRANSFORM_SPEC).default(() => structuredClone(DEFAULT_AUGMENT)),
  }),
  model: section({
    name: z.string().default('unet_teacher_s'),
    args: z.record(z.string(), z.unknown()).default(() => ({})).describe('builder arguments, checked by the model registry'),
  }),
  train: section({
    images: int().min(1).default(10000).describe('training length in images seen (the unit the quality bar is stated in)'),
    batchSize: int().min(1).default(8),
    microBatch: int().min(1).nullable().default(null).describe('micro-batch size for gradient accumulation; null = automatic (whole batch if it fits)'),
    optimizer: z.enum(['adam', 'adamw', 'sgd']).default('adamw'),
    lr: num().min(0).default(3e-3),
    minLr: num().min(0).default(1e-5),
    warmupImages: int().min(0).default(400),
    weightDecay: num().min(0).default(1e-4),
    gradClip: num().min(0).nullable().default(5),
    ema: num().min(0).max(0.99999).default(0.99).describe('weight averaging decay per step, 0 = off (validation and checkpoints use the averaged weights)'),
    loss: LOSS,
    evalEvery: int().min(1).default(500).describe('images between validations'),
    valResolution: z.enum(['photo', 'frame']).default('photo').describe("validation at each photo's own resolution like `eval` ('photo'), or at the training frame size ('frame', cheaper)"),
    valMaxSide: int().min(0).default(1024).describe('validation photos whose longer side exceeds this are downsampled once (aspect kept); 0 = never'),
    checkpointEvery: int().min(1).default(1000).describe('images between checkpoints'),
    keep: int().min(0).default(2).describe('older checkpoints kept besides last and best'),
    earlyStopPatience: int().min(1).nullable().default(null),
    logEvery: int().min(1).default(10).describe('steps between progress lines'),
    init: z.string().nullable().default(null).describe('start from this model folder (run, checkpoint, imported model): its weights and architecture (--init)'),
    initImport: section({
      inputSize: z.tuple([z.int().min(8).max(2048), z.int().min(8).max(2048)]).nullable().default(null).describe("[height, width] the imported train.init runs at; null = the file's"),
      maskFilter: z.boolean().default(false).describe('add the mask filter when importing train.init (packaged names like mediapipe:selfie-mf have it anyway)'),
      widen: num().min(1).max(8).default(1).describe('widen the imported train.init this many times, keeping its function (Net2Net)'),
    }),
    freeze: z.string().nullable().default(null).describe('layers not trained: "N" = the first N layers with weights, else a regex on layer names'),
  }),
  distill: section({
    teacher: z.string().nullable().default(null).describe('teacher run folder or model.json'),
    temperature: num().min(0.01).default(2),
    soft: num().min(0).default(1),
    hard: num().min(0).default(1),
    feature: num().min(0).default(0),
    featureMode: z.enum(['attention', 'l2']).default('attention'),
    boundary: num().min(0).default(0.25),
    consistency: num().min(0).default(0),
    consistencyShift: int().min(0).default(4),
    unlabeledFraction: num().min(0).max(1).default(0.25).describe('fraction of each batch drawn from unlabeled images (when any are given)'),
    cacheTeacher: z.boolean().default(true),
    teachers: z
      .array(TEACHER)
      .default(() => [])
      .describe('more teachers besides distill.teacher (an ensemble: mean P(person)); inputSize [h, w] / inputRange / output make one an external model'),
    teacherFlip: z.boolean().default(false).describe('horizontal-flip test-time augmentation of the teacher(s): mean P(person) of each frame and its mirror'),
    teacherResolution: z
      .enum(['teacher', 'student'])
      .default('teacher')
      .describe("frames the teacher labels: 'teacher' = augment at the larger of its and the student's frame size, teacher sees that frame, the student the area-downsampled one"),
  }),
  eval: section({
    threshold: num().min(0).max(1).default(0.5),
    boundaryTolerance: int().min(0).default(3),
    worst: int().min(0).default(10),
    stabilityShift: int().min(0).default(4),
  }),
  external: section({
    inputSize: size(1).nullable().default(null),
    inputRange: z.enum(INPUT_RANGES).default('0..1'),
    output: z.enum(OUTPUTS).default('sigmoid'),
  }).describe('for external (non-portraitseg) TensorFlow.js models in eval / distill'),
  export: section({
    format: z.enum(['tfjs', 'onnx', 'tflite']).default('tfjs'),
    quantize: z.enum(['none', 'float16', 'uint8']).default('none'),
    tolerance: num().min(0).nullable().default(null).describe('float32 parity tolerance on max |P(person) diff|; null = the rule of src/export/parity.ts: 1e-4 for tfjs, 1e-3 for onnx and tflite (another runtime)'),
  }),
  runtime: section({
    frozen: z
      .enum(['auto', 'onnx', 'tfjs'])
      .default('auto')
      .describe('runtime of frozen models (distillation teacher, eval, blur in Node): auto = onnxruntime-node if installed and parity passes, else tfjs'),
  }),
  blur: section({
    strength: num().min(0).default(12).describe('background blur radius in pixels'),
    edgeFeather: num().min(0).default(2).describe('mask edge feathering radius in pixels'),
  }),
});

export type Config = z.output<typeof CONFIG_SCHEMA>;

export function defaultConfig(): Config {
  return defaults(CONFIG_SCHEMA);
}
