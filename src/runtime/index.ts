/**
 * The runtime API for Node: the same as ./segmenter (which the browser bundle uses), plus
 * loading from a local folder (an export, a run folder or a model.json) by path.
 */
import * as fs from 'fs';
import { loadModel } from '../models/io';
import { createSegmenter as createFromSource, ModelSource, Segmenter, SegmenterOptions } from './segmenter';

export { frameToTensor, loadFromUrl, DEFAULT_MAX_PIXELS } from './segmenter';
export type { Segmenter, SegmenterOptions, Frame, PixelFrame, RgbResult, BlurOptions, ModelSource } from './segmenter';
export { blurComposite, replaceComposite, fastBlur, boxBlur, featherMask, DEFAULT_STRENGTH, DEFAULT_FEATHER } from './composite';

/**
 * createSegmenter(source, opts): source is {model, meta} (caller keeps ownership), an
 * http(s) URL, or a local path (export folder, run folder, checkpoint folder or model.json;
 * the model is disposed with the segmenter).
 */
export async function createSegmenter(source: ModelSource, opts: SegmenterOptions = {}): Promise<Segmenter> {
  if (typeof source === 'string' && !/^https?:\/\//.test(source)) {
    if (!fs.existsSync(source)) throw new Error(`model not found: ${source}`);
    const { model, meta } = await loadModel(source);
    const seg = await createFromSource({ model, meta }, opts);
    return {
      ...seg,
      meta: seg.meta,
      dispose() {
        seg.dispose();
        model.dispose();
      },
    };
  }
  return createFromSource(source, opts);
}
