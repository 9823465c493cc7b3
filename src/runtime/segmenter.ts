/**
 * The runtime API, the same in Node and in the browser (this file imports nothing from
 * Node): load a model, segment a frame, blur or replace its background, dispose.
 * Modelled on tfjs-models' createSegmenter / segmentPeople / dispose.
 *
 *   const seg = await createSegmenter('models/student');      // URL (browser) or folder (Node, see ./index)
 *   const mask = await seg.segment(frame);                      // GrayImage at the frame's size
 *   const out = await seg.blur(frame, { strength: 12, edgeFeather: 2 });
 *   const swapped = await seg.replace(frame, backgroundImage);
 *   seg.dispose();
 *
 * A frame is an RgbImage-like {width, height, data} with 3 (RGB) or 4 (RGBA) bytes per
 * pixel, or in the browser anything tf.browser.fromPixels takes (ImageData, video, canvas,
 * image, ImageBitmap). Results are plain RgbImage / GrayImage objects (Uint8Array data).
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../models/types';
import { registerCustomLayers } from '../models/layers';
import { BlurOptions, blurComposite, replaceComposite, DEFAULT_FEATHER } from './composite';
import { blurBytes, downscaleToFloat, fitSize, FloatGray, fullMask, replaceBytes, resizeGrayBilinear } from './large-frame';

export type { BlurOptions } from './composite';

export interface PixelFrame {
  width: number;
  height: number;
  /** row-major, 3 (RGB) or 4 (RGBA) bytes per pixel */
  data: Uint8Array | Uint8ClampedArray;
}

/** Browser sources tf.browser.fromPixels accepts (typed loosely so this file compiles in Node). */
export type BrowserFrame = Parameters<typeof tf.browser.fromPixels>[0];
export type Frame = PixelFrame | BrowserFrame;

export interface RgbResult {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface SegmenterOptions {
  /**
   * Frames larger than this [height, width] are downscaled (keeping nothing else) before the
   * model and the mask is brought back to full size; null = run the model on the full frame
   * (mask-filter models then filter at full resolution). Default null.
   */
  maxSize?: [number, number] | null;
  /**
   * RGB(A) byte frames with more pixels than this (phone photos) take the bounded-memory
   * path (./large-frame): the model runs on a copy downscaled to fit in maxPixels and the
   * compositing runs in JS on the full-resolution bytes, about 10 bytes per pixel instead
   * of tf's float tensors. The result is the same to rounding. Default 2^21 (2 MP; a
   * 1920x1080 video frame stays on the tf path).
   */
  maxPixels?: number;
  /**
   * Runs the network instead of `model.predict`: frames [B,H,W,3] in 0..1 -> person logits
   * [B,h,w,1] (brought to H, W here when they differ). For a native runtime in Node (the blur
   * command runs the model's ONNX export on onnxruntime-node this way). Default model.predict.
   */
  forward?: (frames: tf.Tensor4D) => tf.Tensor4D;
}

export const DEFAULT_MAX_PIXELS = 2 ** 21;

export interface Segmenter {
  readonly meta: ModelMeta;
  /** P(person) as 0..255 at the frame's resolution. */
  segment(frame: Frame): Promise<RgbResult & { channels: 1 }>;
  /** The frame with its background blurred. */
  blur(frame: Frame, opts?: BlurOptions): Promise<RgbResult>;
  /** The frame with its background replaced by `background` (stretched to the frame's size). */
  replace(frame: Frame, background: Frame, opts?: { edgeFeather?: number }): Promise<RgbResult>;
  /** Tensor-level access for callers that draw on their own: [1,H,W,1] P(person). Caller disposes. */
  maskTensor(frame: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export type ModelSource = { model: tf.LayersModel; meta: ModelMeta } | string;

function isPixelFrame(f: Frame): f is PixelFrame {
  const p = f as PixelFrame;
  // RgbImage-like objects and ImageData (RGBA) both take the cheap JS conversion path
  return typeof p.width === 'number' && typeof p.height === 'number' && p.data != null && typeof (p.data as Uint8Array).length === 'number';
}

/** [1,H,W,3] float32 in 0..1. */
export function frameToTensor(frame: Frame): tf.Tensor4D {
  if (isPixelFrame(frame)) {
    const { width, height, data } = frame;
    const c = data.length / (width * height);
    if (c !== 3 && c !== 4) throw new Error(`frame ${width}x${height}: data has ${data.length} bytes, expected ${width * height * 3} (RGB) or ${width * height * 4} (RGBA)`);
    // one JS pass (drop alpha, scale to 0..1) and one upload: much cheaper than int32 upload + slice + cast + div in tf
    const n = width * height;
    const f = new Float32Array(n * 3);
    for (let i = 0, j = 0, k = 0; i < n; i++, j += c, k += 3) {
      f[k] = data[j] / 255;
      f[k + 1] = data[j + 1] / 255;
      f[k + 2] = data[j + 2] / 255;
    }
    return tf.tensor4d(f, [1, height, width, 3]);
  }
  return tf.tidy(() => tf.browser.fromPixels(frame as BrowserFrame, 3).toFloat().div(255).expandDims(0) as tf.Tensor4D);
}

/** [1,H,W,C] 0..1 -> bytes (C = 1 or 3). Disposes `t`. Quantised in JS: cheaper than 4 more tf ops. */
async function toBytes(t: tf.Tensor4D): Promise<RgbResult> {
  const [, height, width] = t.shape;
  const f = (await t.data()) as Float32Array;
  t.dispose();
  // Uint8ClampedArray assignment rounds (half to even) and clamps to 0..255
  const out = new Uint8ClampedArray(f.length);
  for (let i = 0; i < f.length; i++) out[i] = f[i] * 255;
  return { width, height, data: new Uint8Array(out.buffer) };
}

function sameBase(url: string): { modelJson: string; metaJson: string } {
  const base = url.endsWith('.json') ? url.slice(0, url.lastIndexOf('/') + 1) : url.endsWith('/') ? url : `${url}/`;
  return { modelJson: url.endsWith('.json') ? url : `${base}model.json`, metaJson: `${base}portraitseg.json` };
}

/** Loads an exported model from a URL (folder or model.json with portraitseg.json beside it). */
export async function loadFromUrl(url: string): Promise<{ model: tf.LayersModel; meta: ModelMeta }> {
  registerCustomLayers();
  const { modelJson, metaJson } = sameBase(url);
  const res = await fetch(metaJson);
  if (!res.ok) throw new Error(`${metaJson}: HTTP ${res.status} (an exported portraitseg model has portraitseg.json beside model.json)`);
  const meta = (await res.json()) as ModelMeta;
  const model = await tf.loadLayersModel(modelJson);
  return { model, meta };
}

/**
 * Creates a segmenter from an in-memory {model, meta} (not disposed by dispose(): the
 * caller owns it) or a URL (loaded here, disposed by dispose()).
 */
export async function createSegmenter(source: ModelSource, opts: SegmenterOptions = {}): Promise<Segmenter> {
  const owned = typeof source === 'string';
  const { model, meta } = typeof source === 'string' ? await loadFromUrl(source) : source;
  let disposed = false;
  const check = () => {
    if (disposed) throw new Error('segmenter was disposed');
  };
  const forward = opts.forward ?? ((x: tf.Tensor4D) => model.predict(x) as tf.Tensor4D);

  const maskTensor = (x: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      const [, H, W] = x.shape;
      const max = opts.maxSize ?? null;
      let input = x;
      if (max && (H > max[0] || W > max[1])) {
        const s = Math.min(max[0] / H, max[1] / W);
        input = tf.image.resizeBilinear(x, [Math.max(1, Math.round(H * s)), Math.max(1, Math.round(W * s))], false, true);
      }
      let logits = forward(input);
      if (logits.shape[1] !== H || logits.shape[2] !== W) logits = tf.image.resizeBilinear(logits, [H, W], false, true);
      return tf.sigmoid(logits) as tf.Tensor4D;
    });

  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels >= 1)) throw new Error(`maxPixels must be >= 1, got ${maxPixels}`);
  const large = (f: Frame): f is PixelFrame => isPixelFrame(f) && f.width * f.height > maxPixels;
  /** P(person) of a large frame at the size the model is fed (<= maxPixels). */
  const smallMask = async (frame: PixelFrame): Promise<FloatGray> => {
    const { width, height, data } = frame;
    const c = data.length / (width * height);
    if (c !== 3 && c !== 4) throw new Error(`frame ${width}x${height}: data has ${data.length} bytes, expected ${width * height * 3} (RGB) or ${width * height * 4} (RGBA)`);
    const [h, w] = fitSize(width, height, maxPixels, opts.maxSize ?? null);
    const p = tf.tidy(() => {
      const x = tf.tensor4d(downscaleToFloat(frame, h, w), [1, h, w, 3]);
      let logits = forward(x);
      if (logits.shape[1] !== h || logits.shape[2] !== w) logits = tf.image.resizeBilinear(logits, [h, w], false, true);
      return tf.sigmoid(logits);
    });
    const data32 = (await p.data()) as Float32Array;
    p.dispose();
    return { width: w, height: h, data: data32 };
  };

  return {
    meta,
    maskTensor,
    async segment(frame) {
      check();
      if (large(frame)) {
        const m = resizeGrayBilinear(await smallMask(frame), frame.height, frame.width);
        const out = new Uint8ClampedArray(m.length);
        for (let i = 0; i < m.length; i++) out[i] = m[i] * 255;
        return { width: frame.width, height: frame.height, data: new Uint8Array(out.buffer), channels: 1 as const };
      }
      const m = tf.tidy(() => {
        const x = frameToTensor(frame);
        return maskTensor(x);
      });
      return { ...(await toBytes(m)), channels: 1 as const };
    },
    async blur(frame, blurOpts = {}) {
      check();
      if (large(frame)) {
        const m = fullMask(await smallMask(frame), frame.height, frame.width, blurOpts.edgeFeather ?? DEFAULT_FEATHER);
        return { width: frame.width, height: frame.height, data: blurBytes(frame, m, blurOpts) };
      }
      const out = tf.tidy(() => {
        const x = frameToTensor(frame);
        return blurComposite(x, maskTensor(x), blurOpts);
      });
      return toBytes(out);
    },
    async replace(frame, background, replaceOpts = {}) {
      check();
      if (large(frame) && isPixelFrame(background)) {
        const m = fullMask(await smallMask(frame), frame.height, frame.width, replaceOpts.edgeFeather ?? DEFAULT_FEATHER);
        return { width: frame.width, height: frame.height, data: replaceBytes(frame, m, background) };
      }
      const out = tf.tidy(() => {
        const x = frameToTensor(frame);
        const bg = frameToTensor(background);
        return replaceComposite(x, maskTensor(x), bg, replaceOpts.edgeFeather ?? DEFAULT_FEATHER);
      });
      return toBytes(out);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (owned) model.dispose();
    },
  };
}
