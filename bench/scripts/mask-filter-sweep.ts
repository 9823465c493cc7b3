/**
 * The classic (untrained) guided filter of P(person) over a model's low-resolution output, at
 * the photos' resolution, for a grid of radii and eps: what src/models/guided_filter.ts's
 * defaults (radius 4, eps 1e-3) were chosen from (bench/mask-filter-sweep.md).
 *
 *   BK=tensorflow npx tsx bench/scripts/mask-filter-sweep.ts MODEL_DIR DATA_DIR [N]
 *
 * MODEL_DIR: a model without a mask filter (e.g. `portraitseg import --model
 * node_modules/@mediapipe/selfie_segmentation/selfie_segmentation.tflite --out runs/selfie`).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import type { BackendName } from '../../src/config/config';
import { loadModel } from '../../src/models/io';
import { openDataset } from '../../src/data/dataset';
import { samplesFromRefs } from '../../src/eval/evaluate';
import { MetricsAccumulator } from '../../src/eval/metrics';
import { guidedUpsample } from '../../src/models/guided_filter';

async function main(): Promise<void> {
  const [modelDir, data, n] = process.argv.slice(2);
  await selectBackend((process.env.BK ?? 'auto') as BackendName, () => {});
  const { model } = await loadModel(modelDir);
  const low = tf.model({ inputs: model.inputs, outputs: (model.getLayer('logits').input as tf.SymbolicTensor[])[0] });
  const refs = (await openDataset(data, { labeled: true })).refs.slice(0, n ? Number(n) : undefined);
  const luma = (f: tf.Tensor4D) => f.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true) as tf.Tensor4D;
  const variants: Record<string, (lo: tf.Tensor4D, f: tf.Tensor4D) => tf.Tensor4D> = {
    'bilinear (logits)': (lo, f) => tf.image.resizeBilinear(lo, [f.shape[1], f.shape[2]]).sigmoid() as tf.Tensor4D,
  };
  for (const r of [1, 2, 3, 4]) {
    for (const eps of [1e-4, 1e-3, 1e-2]) {
      variants[`guided r${r} eps ${eps}`] = (lo, f) => {
        const small = tf.image.resizeBilinear(f, [lo.shape[1], lo.shape[2]], false, true) as tf.Tensor4D;
        return guidedUpsample(lo.sigmoid() as tf.Tensor4D, luma(small), luma(f), r, eps).clipByValue(0, 1) as tf.Tensor4D;
      };
    }
  }
  const acc = Object.fromEntries(Object.keys(variants).map((k) => [k, new MetricsAccumulator({ threshold: 0.5, boundaryTolerance: 3, worst: 0 })]));
  let i = 0;
  for await (const s of samplesFromRefs(refs)) {
    const { width: w, height: h } = s.image;
    const f = tf.tidy(() => tf.tensor4d(s.image.data, [1, h, w, 3], 'int32').toFloat().div(255) as tf.Tensor4D);
    const lo = low.predict(f) as tf.Tensor4D;
    for (const [k, fn] of Object.entries(variants)) {
      const p = tf.tidy(() => fn(lo, f));
      acc[k].add(s.id, (await p.data()) as Float32Array, s.mask!.data, w, h);
      p.dispose();
    }
    tf.dispose([f, lo]);
    if (++i % 50 === 0) process.stderr.write(`${i} photos\n`);
  }
  console.log(`| filter | mIoU | boundary F (3 px) | MAE |\n|---|---:|---:|---:|`);
  for (const [k, a] of Object.entries(acc)) {
    const r = a.result();
    console.log(`| ${k} | ${r.miou.toFixed(4)} | ${r.boundaryF.toFixed(4)} | ${r.mae.toFixed(4)} |`);
  }
}
main();
