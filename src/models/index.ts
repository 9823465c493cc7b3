/** Public API of src/models. */
export { createModel, listModels, modelNames, resolveModelArgs, DEFAULT_TEACHER, DEFAULT_STUDENT } from './registry';
export { packageVersion } from '../util/version';
export { registerCustomLayers, Normalize, ResizeTo, ResizeLike, CUSTOM_LAYER_CLASSES } from './layers';
export { GuidedFilter, guidedUpsample, boxMean } from './guided_filter';
export { countFlops, countMacs } from './flops';
export type { ModelMeta } from './types';
