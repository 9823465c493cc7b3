/**
 * Augmentation: pure, seeded transforms on Sample, composed from config (cfg.augment.train).
 *
 *   const backgrounds = await loadBackgrounds('../shared/datasets/backgrounds');
 *   const augment = buildPipeline(cfg.augment.train, { backgrounds });
 *   const out = augment(sample, rng.fork(sampleIndex));
 */
export type { Transform, PipelineContext, TransformDef, ResolvedStep } from './registry';
export { buildPipeline, validateAugment, describeTransforms, TRANSFORMS, TRANSFORM_NAMES, getTransformDef } from './registry';
export { backgroundSwap, compositeOnto, loadBackgrounds, sampleCrop } from './background';
export type { BackgroundSwapParams, ProceduralBackground } from './background';
export { rotateSample, flipSample, scaleCropSample } from './geometric';
export { colorJitter, colorJitterImage, cameraNoise, jpegArtefacts } from './photometric';
export type { ColorJitterParams, ColorJitterAmounts, CameraNoiseParams } from './photometric';
export { AugmentPool } from './pool';
export type { AugmentPoolOptions } from './pool';
export { renderPreview, drawOutline } from './preview';
export type { PreviewOptions } from './preview';
export { BORDER_MODES } from './raster';
export type { BorderMode } from './raster';
