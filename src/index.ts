/**
 * portraitseg for Node: `import { trainTeacher, distillStudent, runEval, exportModel,
 * createSegmenter, createModel } from 'portraitseg'`. The browser bundle's API is
 * `portraitseg/runtime` (src/browser.ts). Everything here is typed (dist/index.d.ts).
 */
// Recipes: train a teacher, distill a student (fine-tuning: train.init / --init, train.freeze).
export { trainTeacher, TEACHER_RECIPE } from './recipes/teacher';
export type { TeacherRun } from './recipes/teacher';
export { distillStudent, STUDENT_RECIPE } from './recipes/student';
export type { DistillRunOptions, DistillRunResult } from './recipes/student';
export { RunSetupError } from './recipes/run';
export type { RunOptions } from './recipes/run';
export { abortOnSignals } from './recipes/signals';

// The one training loop and its parts, for custom recipes.
export { train, makeTrainStep, freshState, trainableVariables, NonFiniteLossError } from './train/loop';
export type { TrainOptions, TrainResult, Callback, TrainContext, StepLog, EvalLog, ValResult } from './train/loop';
export { createOptimizer, warmupCosine } from './train/optim';
export { segmentationLoss, makeSegLossFn } from './train/losses';
export { checkpointer, progressLogger, metricsJsonl, earlyStopping } from './train/callbacks';
export { loadCheckpoint, saveCheckpoint, NonFiniteWeightsError } from './train/checkpoint';

// Data and augmentation, for custom recipes.
export { openDataset, scanDataset, inspectDataset, splitRefs, SampleCache, DataLoader, synthSample, writeSynthDataset, DataError } from './data';
export type { Sample, SampleRef, HostBatch, Dataset, LoaderOptions } from './data';
export { AugmentPool, buildPipeline, validateAugment, describeTransforms, loadBackgrounds, renderPreview, TRANSFORM_NAMES } from './augment';
export type { Transform } from './augment';
export { makeRng } from './util/rng';
export type { Rng } from './util/rng';

// Evaluation and export.
export { runEval, formatReport } from './eval/run';
export { evaluateBatches } from './eval/evaluate';
export { loadExternalModel } from './eval/external';
export { exportModel, describeParity } from './export';
export type { ExportOptions, ExportResult, ParityCheck, ExportFormat } from './export';

// Models: the registry and model folders.
export { createModel, listModels, modelNames, resolveModelArgs, DEFAULT_TEACHER, DEFAULT_STUDENT } from './models/registry';
export { registerCustomLayers } from './models/layers';
export { countFlops, countMacs } from './models/flops';
export { loadModel, saveModel, readModelMeta, checkMeta, ModelFileError } from './models/io';
export { resolveModelJson, resolveResume, RUN_FILES, MODEL_FILES } from './models/folders';
export type { ModelMeta } from './models/types';

// Runtime (Node: also loads a model folder by path).
export { createSegmenter } from './runtime';
export type { Segmenter, SegmenterOptions, Frame, PixelFrame, RgbResult, BlurOptions, ModelSource } from './runtime';

// Config and backends.
export { defaultConfig, CONFIG_SCHEMA } from './config/config';
export type { Config } from './config/config';
export { resolveConfig, readConfigFile } from './config/load';
export { ConfigError } from './config/schema';
export { selectBackend } from './backend';
