/**
 * Adapter for external (non-portraitseg) TensorFlow.js models: a graph model (tfjs-converter
 * output, e.g. MediaPipe's selfie segmenter) or a layers model, read from disk with our own io
 * handler, presented as a Segmenter: 0..1 frames in, person logits at the frame's size out.
 *
 * The frame is resized (bilinear) to the model's input size, mapped to its input range, run,
 * the output turned into P(person), resized back bilinearly to the frame's size, and returned
 * as logits log(p / (1 - p)).
 */
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { readModelArtifacts, registerModelLayers } from '../models/io';
import type { Segmenter } from './evaluate';

export interface ExternalOptions {
  /** [height, width] the model takes; null: read it from the model's input shape. */
  inputSize: [number, number] | null;
  inputRange: '0..1' | '-1..1' | '0..255';
  /** sigmoid: one channel P(person); softmax1: two channels of logits (background, person); logits: one channel of person logits. */
  output: 'sigmoid' | 'softmax1' | 'logits';
}

export interface ExternalSegmenter extends Segmenter {
  readonly format: 'graph' | 'layers';
}

const EPS = 1e-6;

/** Loads model.json (+ shards) from disk; `spec` may be the file or its folder. */
export async function loadExternalModel(spec: string, opts: ExternalOptions): Promise<ExternalSegmenter> {
  const file = fs.existsSync(spec) && fs.statSync(spec).isDirectory() ? path.join(spec, 'model.json') : spec;
  const art = readModelArtifacts(file);
  const topo = art.modelTopology as Record<string, unknown>;
  const isGraph = art.format === 'graph-model' || Array.isArray(topo?.node);
  let run: (x: tf.Tensor4D) => tf.Tensor;
  let inShape: (number | null)[] | undefined;
  let dispose: () => void;
  let params: number | null = null;
  if (isGraph) {
    const g = await tf.loadGraphModel(tf.io.fromMemory(art));
    inShape = g.inputs[0]?.shape;
    run = (x) => {
      const out = g.execute(x);
      return Array.isArray(out) ? out[0] : (out as tf.Tensor);
    };
    dispose = () => g.dispose();
  } else {
    registerModelLayers();
    const m = await tf.loadLayersModel(tf.io.fromMemory(art));
    inShape = m.inputs[0].shape;
    params = m.countParams();
    run = (x) => {
      const out = m.predict(x);
      return Array.isArray(out) ? out[0] : out;
    };
    dispose = () => m.dispose();
  }
  let inputSize = opts.inputSize;
  if (!inputSize && inShape && typeof inShape[1] === 'number' && typeof inShape[2] === 'number' && inShape[1] > 0 && inShape[2] > 0) {
    inputSize = [inShape[1], inShape[2]];
  }
  const fixedBatch = isGraph && inShape && inShape[0] === 1;

  const toProb = (out: tf.Tensor): tf.Tensor4D => {
    let o = out;
    if (o.rank === 3) o = o.expandDims(-1);
    if (o.rank !== 4) throw new Error(`${file}: output has shape [${out.shape}], expected [batch, h, w, channels]`);
    const c = o.shape[3];
    if (opts.output === 'softmax1') {
      if (c !== 2) throw new Error(`${file}: --output softmax1 needs 2 output channels (background, person), the model gives ${c}`);
      return o.softmax().slice([0, 0, 0, 1], [-1, -1, -1, 1]) as tf.Tensor4D;
    }
    if (c !== 1) throw new Error(`${file}: --output ${opts.output} needs 1 output channel, the model gives ${c} (try --output softmax1)`);
    return (opts.output === 'sigmoid' ? o.clipByValue(0, 1) : o.sigmoid()) as tf.Tensor4D;
  };

  const predictRows = (frames: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      const [, h, w] = frames.shape;
      let x: tf.Tensor4D = inputSize && (inputSize[0] !== h || inputSize[1] !== w) ? tf.image.resizeBilinear(frames, inputSize, false, true) : frames;
      if (opts.inputRange === '-1..1') x = x.mul(2).sub(1);
      else if (opts.inputRange === '0..255') x = x.mul(255);
      let p = toProb(run(x));
      if (p.shape[1] !== h || p.shape[2] !== w) p = tf.image.resizeBilinear(p, [h, w], false, true);
      const q = p.clipByValue(EPS, 1 - EPS);
      return q.div(tf.scalar(1).sub(q)).log() as tf.Tensor4D;
    });

  return {
    format: isGraph ? 'graph' : 'layers',
    info: { name: file, kind: 'external', inputSize, params, maskFilter: false },
    predictLogits(frames) {
      if (!fixedBatch || frames.shape[0] === 1) return predictRows(frames);
      return tf.tidy(() => tf.concat(tf.split(frames, frames.shape[0]).map((f) => predictRows(f as tf.Tensor4D))) as tf.Tensor4D);
    },
    dispose,
  };
}
