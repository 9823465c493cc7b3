/**
 * The portraitseg configuration: one typed object, layered as
 *   defaults  <  JSON file (--config, may `extends` another)  <  --set a.b=c  <  named flags.
 * Each section is owned by one module; its schema lives here so that the whole
 * config is validated at start-up, before any data is read or model built.
 */
import { s, Schema, defaults } from './schema';

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** One augmentation step: a transform name from src/augment's registry plus its parameters. */
export interface TransformSpec {
  name: string;
  p?: number;
  [param: string]: unknown;
}

export interface LossConfig {
  bce: number;
  dice: number;
  lovasz: number;
  boundary: number;
  boundaryWidth: number;
  /** Pixels within this distance of a label's edge do not count in the label loss (0 = off). */
  ignoreBand: number;
}

export interface Config {
  /** What a config (a recipe) is for: free text, kept in the run's config.json. */
  description: string | null;
  seed: number;
  backend: BackendName;
  threads: number;
  data: {
    /** Folder, list file or datasets/*.json description. */
    path: string | null;
    /** Separate validation set; when null a seeded `valFraction` split of `path` is used. */
    val: string | null;
    valFraction: number;
    /** Unlabeled image folders (distillation). */
    unlabeled: string[];
    /** Background photos for background-swap augmentation. */
    backgrounds: string | null;
    /** Size [height, width] frames are resized to before augmentation and batching. */
    frameSize: [number, number];
    /** Alpha mattes: threshold at 0.5 ('binary') or keep soft. */
    maskMode: 'binary' | 'soft';
    strict: boolean;
    /** On-disk cache of decoded samples; null disables it. */
    cacheDir: string | null;
    maxSamples: number | null;
    prefetch: number;
  };
  augment: {
    train: TransformSpec[];
  };
  model: {
    name: string;
    args: Record<string, unknown>;
  };
  train: {
    /** Training length in images seen (the unit the quality bar is stated in). */
    images: number;
    batchSize: number;
    /** Micro-batch size for gradient accumulation; null = automatic (whole batch if it fits). */
    microBatch: number | null;
    optimizer: 'adam' | 'adamw' | 'sgd';
    lr: number;
    minLr: number;
    warmupImages: number;
    weightDecay: number;
    gradClip: number | null;
    /** Weight averaging decay (0 = off): validation, checkpoints and exports use the averaged weights. */
    ema: number;
    loss: LossConfig;
    evalEvery: number;
    /**
     * 'photo': validation scores each val photo at its own resolution like `eval` (downsampled once
     * so its longer side is at most valMaxSide); 'frame': at the training frame size (cheaper).
     */
    valResolution: 'photo' | 'frame';
    valMaxSide: number;
    checkpointEvery: number;
    keep: number;
    earlyStopPatience: number | null;
    logEvery: number;
    /** Start from this model folder's weights (and architecture): an earlier run, a checkpoint, an imported model. */
    init: string | null;
    /** How train.init is imported when it is a packaged name or a .tflite file (cached per option set). */
    initImport: {
      /** [height, width] the net runs at; null = the file's. */
      inputSize: [number, number] | null;
      /** Add the mask filter (also on for packaged names that have it, e.g. mediapipe:selfie-mf). */
      maskFilter: boolean;
      /** Function-preserving widening factor (src/models/widen.ts); 1 = as it is. */
      widen: number;
    };
    /** Layers left out of training: "N" (the first N layers with weights) or a regex on layer names. */
    freeze: string | null;
  };
  distill: {
    /** Teacher run folder or model.json. */
    teacher: string | null;
    temperature: number;
    soft: number;
    hard: number;
    feature: number;
    featureMode: 'attention' | 'l2';
    boundary: number;
    consistency: number;
    consistencyShift: number;
    /** Fraction of each batch drawn from unlabeled images (when any are given). */
    unlabeledFraction: number;
    cacheTeacher: boolean;
    /** More teachers (an ensemble: mean P(person)), each with its own input options (null: cfg.external's / auto). */
    teachers: { path: string; inputSize: [number, number] | null; inputRange: '0..1' | '-1..1' | '0..255' | null; output: 'sigmoid' | 'softmax1' | 'logits' | null }[];
    /** Horizontal-flip test-time augmentation of the teacher(s). */
    teacherFlip: boolean;
    /** Frames the teacher labels: 'teacher' = at the larger of its own and the student's frame size, 'student' = the student's frame. */
    teacherResolution: 'teacher' | 'student';
  };
  eval: {
    threshold: number;
    boundaryTolerance: number;
    worst: number;
    stabilityShift: number;
  };
  /** For external (non-portraitseg) TensorFlow.js models in eval / distill. */
  external: {
    inputSize: [number, number] | null;
    inputRange: '0..1' | '-1..1' | '0..255';
    output: 'sigmoid' | 'softmax1' | 'logits';
  };
  export: {
    format: 'tfjs' | 'onnx' | 'tflite';
    quantize: 'none' | 'float16' | 'uint8';
    tolerance: number | null;
  };
  /** Where frozen models run (issue #13): the distillation teacher (src/export/native.ts). */
  runtime: {
    /** auto: onnxruntime-node when installed and its ONNX export passes parity at load, else tfjs. */
    frozen: 'auto' | 'onnx' | 'tfjs';
  };
  /** Background blur / replacement (runtime, `blur` command, web page). */
  blur: {
    /** Blur radius in pixels. */
    strength: number;
    /** Mask edge feathering radius in pixels. */
    edgeFeather: number;
  };
}

const transform: Schema = { kind: 'record', default: {} };

export const DEFAULT_AUGMENT: TransformSpec[] = [
  { name: 'backgroundSwap', p: 0.5 },
  { name: 'scaleCrop', p: 0.8, minScale: 0.75, maxScale: 1.25, maxShift: 0.1 },
  { name: 'rotate', p: 0.5, maxDegrees: 15 },
  { name: 'flip', p: 0.5 },
  { name: 'colorJitter', p: 0.8, brightness: 0.25, contrast: 0.25, saturation: 0.25, hue: 0.04, whiteBalance: 0.1 },
  { name: 'cameraNoise', p: 0.3, noise: 0.04, blur: 1.0, jpeg: 0.3, lowLight: 0.2 },
];

export const CONFIG_SCHEMA: Schema = s.obj({
  description: s.optStr(null, 'what this config (recipe) is for; free text'),
  seed: s.int(42),
  backend: s.oneOf(BACKENDS, 'auto', 'auto|tensorflow-gpu|tensorflow|wasm|cpu'),
  threads: s.int(0, { min: 0, doc: 'threads of the data-parallel training step (train teacher, distill student); 0 = auto: two on a multi-core machine with wasm, batches >= 8 and frames up to 128x128' }),
  data: s.obj({
    path: s.optStr(null),
    val: s.optStr(null),
    valFraction: s.num(0.1, { min: 0, max: 0.9 }),
    unlabeled: s.arr({ kind: 'string', default: '' }, []),
    backgrounds: s.optStr(null),
    frameSize: s.arr({ kind: 'number', default: 128, integer: true, min: 8 }, [128, 128], { minLength: 2, maxLength: 2 }),
    maskMode: s.oneOf(['binary', 'soft'] as const, 'binary'),
    strict: s.bool(false),
    cacheDir: s.optStr('.cache/portraitseg'),
    maxSamples: s.optNum(null, { integer: true, min: 1 }),
    prefetch: s.int(4, { min: 0 }),
  }),
  augment: s.obj({
    train: s.arr(transform, DEFAULT_AUGMENT),
  }),
  model: s.obj({
    name: s.str('unet_teacher_s'),
    args: s.record({}),
  }),
  train: s.obj({
    images: s.int(10000, { min: 1 }),
    batchSize: s.int(8, { min: 1 }),
    microBatch: s.optNum(null, { integer: true, min: 1 }),
    optimizer: s.oneOf(['adam', 'adamw', 'sgd'] as const, 'adamw'),
    lr: s.num(3e-3, { min: 0 }),
    minLr: s.num(1e-5, { min: 0 }),
    warmupImages: s.int(400, { min: 0 }),
    weightDecay: s.num(1e-4, { min: 0 }),
    gradClip: s.optNum(5, { min: 0 }),
    ema: s.num(0.99, { min: 0, max: 0.99999, doc: 'weight averaging decay per step, 0 = off (validation and checkpoints use the averaged weights)' }),
    loss: s.obj({
      bce: s.num(1, { min: 0 }),
      dice: s.num(1, { min: 0 }),
      lovasz: s.num(0, { min: 0 }),
      boundary: s.num(0.5, { min: 0 }),
      boundaryWidth: s.int(3, { min: 1 }),
      ignoreBand: s.int(0, { min: 0, max: 64, doc: 'pixels within this distance of a label edge do not count in the label loss (coarse masks; 0 = off)' }),
    }),
    evalEvery: s.int(500, { min: 1, doc: 'images between validations' }),
    valResolution: s.oneOf(['photo', 'frame'] as const, 'photo', "validation at each photo's own resolution like `eval` ('photo'), or at the training frame size ('frame', cheaper)"),
    valMaxSide: s.int(1024, { min: 0, doc: "validation photos whose longer side exceeds this are downsampled once (aspect kept); 0 = never" }),
    checkpointEvery: s.int(1000, { min: 1, doc: 'images between checkpoints' }),
    keep: s.int(2, { min: 0, doc: 'older checkpoints kept besides last and best' }),
    earlyStopPatience: s.optNum(null, { integer: true, min: 1 }),
    logEvery: s.int(10, { min: 1, doc: 'steps between progress lines' }),
    init: s.optStr(null, 'start from this model folder (run, checkpoint, imported model): its weights and architecture (--init)'),
    initImport: s.obj({
      inputSize: s.optArr({ kind: 'number', default: 256, integer: true, min: 8, max: 2048 }, null, { minLength: 2, maxLength: 2 }),
      maskFilter: s.bool(false, 'add the mask filter when importing train.init (packaged names like mediapipe:selfie-mf have it anyway)'),
      widen: s.num(1, { min: 1, max: 8, doc: 'widen the imported train.init this many times, keeping its function (Net2Net)' }),
    }),
    freeze: s.optStr(null, 'layers not trained: "N" = the first N layers with weights, else a regex on layer names'),
  }),
  distill: s.obj({
    teacher: s.optStr(null),
    temperature: s.num(2, { min: 0.01 }),
    soft: s.num(1, { min: 0 }),
    hard: s.num(1, { min: 0 }),
    feature: s.num(0, { min: 0 }),
    featureMode: s.oneOf(['attention', 'l2'] as const, 'attention'),
    boundary: s.num(0.25, { min: 0 }),
    consistency: s.num(0, { min: 0 }),
    consistencyShift: s.int(4, { min: 0 }),
    unlabeledFraction: s.num(0.25, { min: 0, max: 1 }),
    cacheTeacher: s.bool(true),
    teachers: s.arr(
      s.obj({
        path: s.str('', 'run folder, checkpoint, imported model folder or external model.json'),
        inputSize: s.optArr({ kind: 'number', default: 256, integer: true, min: 1 }, null, { minLength: 2, maxLength: 2 }),
        inputRange: { kind: 'enum', values: ['0..1', '-1..1', '0..255'], default: null, nullable: true },
        output: { kind: 'enum', values: ['sigmoid', 'softmax1', 'logits'], default: null, nullable: true },
      }),
      [],
      { doc: 'more teachers besides distill.teacher (an ensemble: mean P(person)); inputSize [h, w] / inputRange / output make one an external model' },
    ),
    teacherFlip: s.bool(false, 'horizontal-flip test-time augmentation of the teacher(s): mean P(person) of each frame and its mirror'),
    teacherResolution: s.oneOf(['teacher', 'student'] as const, 'teacher', "frames the teacher labels: 'teacher' = augment at the larger of its and the student's frame size, teacher sees that frame, the student the area-downsampled one"),
  }),
  eval: s.obj({
    threshold: s.num(0.5, { min: 0, max: 1 }),
    boundaryTolerance: s.int(3, { min: 0 }),
    worst: s.int(10, { min: 0 }),
    stabilityShift: s.int(4, { min: 0 }),
  }),
  external: s.obj({
    inputSize: s.optArr({ kind: 'number', default: 256, integer: true, min: 1 }, null, { minLength: 2, maxLength: 2 }),
    inputRange: s.oneOf(['0..1', '-1..1', '0..255'] as const, '0..1'),
    output: s.oneOf(['sigmoid', 'softmax1', 'logits'] as const, 'sigmoid'),
  }),
  export: s.obj({
    format: s.oneOf(['tfjs', 'onnx', 'tflite'] as const, 'tfjs'),
    quantize: s.oneOf(['none', 'float16', 'uint8'] as const, 'none'),
    tolerance: s.optNum(null, { min: 0, doc: 'float32 parity tolerance on max |P(person) diff|; null = the rule of src/export/parity.ts: 1e-4 for tfjs, 1e-3 for onnx and tflite (another runtime)' }),
  }),
  runtime: s.obj({
    frozen: s.oneOf(['auto', 'onnx', 'tfjs'] as const, 'auto', 'runtime of frozen models (distillation teacher, eval, blur in Node): auto = onnxruntime-node if installed and parity passes, else tfjs'),
  }),
  blur: s.obj({
    strength: s.num(12, { min: 0, doc: 'background blur radius in pixels' }),
    edgeFeather: s.num(2, { min: 0, doc: 'mask edge feathering radius in pixels' }),
  }),
});

export function defaultConfig(): Config {
  return defaults(CONFIG_SCHEMA) as Config;
}
