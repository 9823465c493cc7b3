import type * as tf from '@tensorflow/tfjs';
import type { ModelMeta } from '../../src/models/types';

/** ModelMeta for a hand-built test model: no normalisation, no mask filter, stride 1. */
export function testMeta(model: tf.LayersModel, o: { name: string; family: ModelMeta['family']; size: [number, number] }): ModelMeta {
  return {
    name: o.name,
    args: {},
    family: o.family,
    inputSize: o.size,
    frameSize: o.size,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    output: 'logits',
    stride: 1,
    maskFilter: null,
    params: model.countParams(),
    version: 'test',
  };
}
