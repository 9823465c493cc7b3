/**
 * `train.freeze`: layers left out of training (fine-tuning). A frozen layer's weights get no
 * gradient and no optimizer update: its layers are marked non-trainable, so they drop out of
 * `model.trainableWeights`, the variables the loop differentiates and the optimizer updates.
 * (Batch-norm moving statistics of a frozen layer still follow the data in training mode.)
 *
 *   "N"        the first N layers that hold weights, in model order (e.g. "12")
 *   a regex    every layer whose name matches it (e.g. "^enc" or "block_[0-3]_")
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../config/schema';

/** The layers of `model` that hold weights, in model order. */
export function weightedLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.weights.length > 0);
}

/** Parses and checks `train.freeze` against a model; returns the layers it names. */
export function layersToFreeze(model: tf.LayersModel, spec: string | null): tf.layers.Layer[] {
  if (spec === null || spec.trim() === '') return [];
  const layers = weightedLayers(model);
  if (/^\d+$/.test(spec.trim())) {
    const n = Number(spec);
    if (n < 1 || n >= layers.length) throw new ConfigError(`train.freeze: ${n} is out of range: ${model.name} has ${layers.length} layers with weights, freeze 1..${layers.length - 1} of them`);
    return layers.slice(0, n);
  }
  let re: RegExp;
  try {
    re = new RegExp(spec);
  } catch (e) {
    throw new ConfigError(`train.freeze: "${spec}" is not a valid regular expression (${(e as Error).message})`);
  }
  const hit = layers.filter((l) => re.test(l.name));
  if (hit.length === 0) throw new ConfigError(`train.freeze: "${spec}" matches no layer of ${model.name} (layers with weights: ${layers.slice(0, 6).map((l) => l.name).join(', ')}${layers.length > 6 ? ', ...' : ''})`);
  if (hit.length === layers.length) throw new ConfigError(`train.freeze: "${spec}" matches every layer of ${model.name}: nothing would be trained`);
  return hit;
}

/** Freezes the layers `train.freeze` names; returns their names. */
export function applyFreeze(model: tf.LayersModel, spec: string | null): string[] {
  const layers = layersToFreeze(model, spec);
  for (const l of layers) l.trainable = false;
  return layers.map((l) => l.name);
}
