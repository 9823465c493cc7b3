/**
 * Test fixtures for the runtime, the blur command and the web page: a synthetic "person"
 * scene (a reddish head-and-shoulders silhouette on a grey, high-frequency textured
 * background) and a tiny model that segments exactly that scene by colour, built from
 * standard layers plus our custom ResizeTo/ResizeLike layers (so loading it proves the
 * custom layers are registered). No training needed, so assertions can be strict.
 */
import * as tf from '@tensorflow/tfjs';
import { ResizeTo, ResizeLike } from '../../src/models/layers';
import type { ModelMeta } from '../../src/models/types';
import { testMeta } from '../helpers/meta';

export interface Scene {
  width: number;
  height: number;
  data: Uint8Array; // RGB
  person: Uint8Array; // 1 where the person is
}

/** Person silhouette: head ellipse + shoulders; `shift` moves it horizontally (for video). */
export function isPerson(x: number, y: number, w: number, h: number, shift = 0): boolean {
  const cx = w / 2 + shift;
  const head = ((x - cx) / (w * 0.16)) ** 2 + ((y - h * 0.38) / (h * 0.2)) ** 2 <= 1;
  const body = y >= h * 0.62 && Math.abs(x - cx) <= w * 0.3 - Math.max(0, (h * 0.75 - y) * 0.8);
  return head || body;
}

export function makeScene(width: number, height: number, shift = 0): Scene {
  const data = new Uint8Array(width * height * 3);
  const person = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (isPerson(x, y, width, height, shift)) {
        person[i] = 1;
        // skin/shirt-like red, gently shaded
        data.set([200, 60 + ((x * 3) % 20), 50], i * 3);
      } else {
        // grey checker texture with 2 px cells: strong local variance, R == G == B
        const v = ((x >> 1) + (y >> 1)) % 2 ? 210 : 40;
        data.set([v, v, v], i * 3);
      }
    }
  }
  return { width, height, data, person };
}

/** logits = 30 * (R - G) - 6 on 0..1 RGB: person red -> ~ +10, grey -> -6. */
export function makeOracleModel(): { model: tf.LayersModel; meta: ModelMeta } {
  const frame = tf.input({ shape: [null, null, 3], name: 'image' });
  const small = new ResizeTo({ size: [32, 32], name: 'resize_in' }).apply(frame) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'colour', weights: [tf.tensor4d([30, -30, 0], [1, 1, 3, 1]), tf.tensor1d([-6])] });
  const low = conv.apply(small) as tf.SymbolicTensor;
  const out = new ResizeLike({ name: 'logits' }).apply([low, frame]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: frame, outputs: out, name: 'oracle' });
  const meta = testMeta(model, { name: 'oracle', family: 'student', size: [32, 32] });
  return { model, meta };
}

/** Mean of the local (3x3) variance of the grey level over the pixels where `where` is 1. */
export function localVariance(img: { width: number; height: number; data: Uint8Array }, where: (i: number) => boolean): number {
  const { width: w, height: h, data } = img;
  const c = data.length / (w * h);
  const g = (x: number, y: number) => data[(y * w + x) * c];
  let sum = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      if (!where(y * w + x)) continue;
      let s = 0;
      let s2 = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const v = g(x + dx, y + dy);
        s += v;
        s2 += v * v;
      }
      sum += s2 / 9 - (s / 9) ** 2;
      n++;
    }
  }
  return n ? sum / n : NaN;
}

/** 1 where every pixel within `r` of i has the same person label as i (away from the edge). */
export function interior(scene: Scene, r: number): (i: number, label: number) => boolean {
  const { width: w, height: h, person } = scene;
  return (i, label) => {
    const x = i % w;
    const y = Math.floor(i / w);
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const xx = x + dx;
      const yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
      if (person[yy * w + xx] !== label) return false;
    }
    return person[i] === label;
  };
}
