/**
 * One corrupted weight, for the tests that prove a parity check can fail: the model's last bias
 * (the logits head, or the mask filter's last conv: every pixel depends on it) gets +1 in its
 * first element. `restore()` puts the old value back.
 */
import * as tf from '@tensorflow/tfjs';

export function corruptOneWeight(model: tf.LayersModel, delta = 1): { name: string; restore: () => void } {
  const w = [...model.weights].reverse().find((v) => /bias/.test(v.originalName) && v.shape.length > 0 && (v.shape[0] ?? 0) > 0);
  if (!w) throw new Error('corruptOneWeight: the model has no bias');
  const old = w.read().clone();
  const values = old.dataSync().slice();
  values[0] += delta;
  const bad = tf.tensor(values, old.shape);
  w.write(bad);
  bad.dispose();
  return {
    name: w.originalName,
    restore: () => {
      w.write(old);
      old.dispose();
    },
  };
}
