/** Tiny models and synthetic batches for the training / eval tests (no dependency on src/models or src/data). */
import * as tf from '@tensorflow/tfjs';
import type { HostBatch } from '../../src/data/types';
import type { ModelMeta } from '../../src/models/types';
import { testMeta } from '../helpers/meta';
import { makeRng } from '../../src/util/rng';

/** A 2-conv net with batch norm: [B,H,W,3] 0..1 -> [B,H,W,1] logits, seeded init. */
export function tinyModel(seed = 1, opts: { bn?: boolean } = {}): { model: tf.LayersModel; meta: ModelMeta } {
  const input = tf.input({ shape: [null, null, 3] });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed }), name: 'c1' }).apply(input) as tf.SymbolicTensor;
  if (opts.bn !== false) x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'logits' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const meta = testMeta(model, { name: 'tiny_test', family: 'teacher', size: [16, 16] });
  return { model, meta };
}

/** A deterministic sample: a bright disk ("person") on a darker textured background. */
export function diskSample(seed: string | number, h = 16, w = 16): { image: Float32Array; mask: Float32Array } {
  const rng = makeRng(seed);
  const cy = rng.uniform(h * 0.3, h * 0.7);
  const cx = rng.uniform(w * 0.3, w * 0.7);
  const r = rng.uniform(Math.min(h, w) * 0.2, Math.min(h, w) * 0.35);
  const image = new Float32Array(h * w * 3);
  const mask = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (y - cy) ** 2 + (x - cx) ** 2 <= r * r;
      mask[y * w + x] = inside ? 1 : 0;
      for (let c = 0; c < 3; c++) image[(y * w + x) * 3 + c] = inside ? 0.75 + 0.2 * rng.next() : 0.1 + 0.3 * rng.next();
    }
  }
  return { image, mask };
}

/** The i-th batch of a deterministic infinite stream (like DataLoader.stream(fromBatch)). */
export function synthBatch(i: number, size = 4, h = 16, w = 16, seed = 7): HostBatch {
  const images = new Float32Array(size * h * w * 3);
  const masks = new Float32Array(size * h * w);
  const ids: string[] = [];
  for (let k = 0; k < size; k++) {
    const s = diskSample(`${seed}/${i}/${k}`, h, w);
    images.set(s.image, k * h * w * 3);
    masks.set(s.mask, k * h * w);
    ids.push(`b${i}-${k}`);
  }
  return { size, height: h, width: w, images, masks, hasMask: new Uint8Array(size).fill(1), ids };
}

export async function* synthStream(fromBatch = 0, size = 4, h = 16, w = 16): AsyncGenerator<HostBatch> {
  for (let i = fromBatch; ; i++) yield synthBatch(i, size, h, w);
}

export function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((t) => t.dataSync() as Float32Array);
}
