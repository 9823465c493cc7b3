/**
 * `portraitseg/runtime`: the browser runtime (the live page's bundle uses the same modules).
 * No Node built-ins and no training code: segment, blur and replace backgrounds with a model
 * exported by `portraitseg export` (loaded by URL) or a tf.LayersModel + ModelMeta in memory.
 */
export { createSegmenter, frameToTensor, loadFromUrl } from './runtime/segmenter';
export type { Segmenter, SegmenterOptions, Frame, PixelFrame, BrowserFrame, RgbResult, ModelSource, BlurOptions } from './runtime/segmenter';
export { blurComposite, replaceComposite, fastBlur, boxBlur, featherMask, DEFAULT_STRENGTH, DEFAULT_FEATHER } from './runtime/composite';
export { registerCustomLayers } from './models/layers';
export type { ModelMeta } from './models/types';
