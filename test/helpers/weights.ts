import * as tf from '@tensorflow/tfjs';

/**
 * Weights that make export parity tests mean something: non-trivial batch-norm statistics (so
 * folding them into convs is really tested) and a mask filter whose learned guide is away from
 * its zero start (so the guidance net's emission is really tested).
 */
export function randomiseForExport(model: tf.LayersModel): void {
  let k = 0;
  for (const l of model.layers) {
    const cls = l.getClassName();
    if (cls !== 'BatchNormalization' && cls !== 'GuidedFilter') continue;
    const ws = l.getWeights().map((w, i) => {
      if (cls === 'BatchNormalization') return tf.randomUniform(w.shape, 0.5, 1.5, 'float32', 100 + k++);
      // GuidedFilter weights: guide_w1, guide_b1, guide_w2, log_eps
      return l.weights[i].originalName.endsWith('guide_w2') ? tf.randomNormal(w.shape, 0, 0.5, 'float32', 100 + k++) : w.clone();
    });
    l.setWeights(ws);
    tf.dispose(ws);
  }
}
