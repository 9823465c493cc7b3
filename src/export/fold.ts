/**
 * What the ONNX and TFLite writers share: a layer's weights as plain arrays and inference-time
 * batch norm folded to a per-channel affine map (each writer merges it into the convolution before).
 */
import * as tf from '@tensorflow/tfjs';

export function values(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

export interface BnParams {
  scale: Float32Array;
  shift: Float32Array;
}

/** Inference-time batch norm as y = x * scale + shift per channel. */
export function bnParams(layer: tf.layers.Layer, unsupported: (layer: string, cls: string, why: string) => Error): BnParams {
  const cfg = layer.getConfig();
  const axis = cfg.axis as number;
  if (axis !== -1 && axis !== 3) throw unsupported(layer.name, 'BatchNormalization', `axis ${axis} (only the channel axis -1 is supported)`);
  const eps = cfg.epsilon as number;
  const byName = (suffix: string) => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(suffix) || w.name.endsWith(suffix));
    return i < 0 ? null : values(layer.getWeights()[i]);
  };
  const mean = byName('moving_mean');
  const variance = byName('moving_variance');
  if (!mean || !variance) throw unsupported(layer.name, 'BatchNormalization', 'moving statistics not found');
  const gamma = byName('gamma');
  const beta = byName('beta');
  const scale = new Float32Array(mean.length);
  const shift = new Float32Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  return { scale, shift };
}
