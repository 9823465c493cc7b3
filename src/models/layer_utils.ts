/** Small helpers the custom layer files share (layers.ts, imported_layers.ts). */
import type * as tf from '@tensorflow/tfjs';

export type Shape = (number | null)[];
export type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/** The first input of a layer call (these layers take one tensor). */
export function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

/** The first input's shape. */
export function firstShape(s: Shape | Shape[]): Shape {
  return Array.isArray(s[0]) ? (s[0] as Shape) : (s as Shape);
}
