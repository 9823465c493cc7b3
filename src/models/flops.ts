/**
 * Compute cost per frame: 2 x multiply-accumulates of conv, depthwise conv and dense layers
 * (plus the mask filter's guidance net and affine map), the usual "FLOPs" of model tables.
 * Pooling, BN, activations and resizes are not counted.
 */
import * as tf from '@tensorflow/tfjs';
import { createModel } from './registry';
import { ModelMeta } from './types';

type Shape = (number | null)[];

function dims(shape: Shape, frame: [number, number]): [number, number, number] {
  return [shape[1] ?? frame[0], shape[2] ?? frame[1], shape[3] ?? 1];
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)];
}

function inShapes(layer: tf.layers.Layer): Shape[] {
  const inp = layer.input as tf.SymbolicTensor | tf.SymbolicTensor[];
  return (Array.isArray(inp) ? inp : [inp]).map((t) => t.shape);
}

/** Multiply-accumulates of one frame of `frame` = [height, width] through `model`. */
export function countMacs(model: tf.LayersModel, frame: [number, number]): number {
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const out = layer.outputShape as Shape;
    const cfg = layer.getConfig();
    if (cls === 'Conv2D') {
      const [oh, ow, cout] = dims(out, frame);
      const cin = inShapes(layer)[0][3] ?? 1;
      const [kh, kw] = pair(cfg.kernelSize);
      macs += oh * ow * kh * kw * cin * cout;
    } else if (cls === 'DepthwiseConv2D') {
      const [oh, ow, cout] = dims(out, frame);
      const [kh, kw] = pair(cfg.kernelSize);
      macs += oh * ow * kh * kw * cout;
    } else if (cls === 'Dense') {
      const cin = inShapes(layer)[0].slice(-1)[0] ?? 1;
      macs += cin * Number(cfg.units);
    } else if (cls === 'GuidedFilter') {
      const c = Number(cfg.channels);
      const shapes = inShapes(layer);
      const [lh, lw] = dims(shapes[0], frame);
      const [H, W] = dims(out, frame);
      const guide = 3 + 3 * c + c; // luma + 3->c + c->1 per pixel
      macs += (lh * lw + H * W) * guide + H * W; // + q = A*I + b
    }
  }
  return macs;
}

/**
 * GFLOPs (2 x MACs / 1e9) per frame of [height, width] (default: the model's frame size).
 * Accepts a built model (frame size required) or a ModelMeta (the model is rebuilt, counted and disposed).
 */
export function countFlops(modelOrMeta: tf.LayersModel | ModelMeta, frameSize?: [number, number]): number {
  if (modelOrMeta instanceof tf.LayersModel) {
    if (!frameSize) throw new Error('countFlops(model, frameSize): frameSize [height, width] is required for a model');
    return (2 * countMacs(modelOrMeta, frameSize)) / 1e9;
  }
  const meta = modelOrMeta;
  const { model } = createModel(meta.name, meta.args);
  try {
    return (2 * countMacs(model, frameSize ?? meta.frameSize)) / 1e9;
  } finally {
    model.dispose();
  }
}
