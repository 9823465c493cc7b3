/**
 * Worker side of src/backend/parallel.ts: owns a tfjs engine (wasm with portraitseg's kernels
 * by default), a copy of the model, and computes loss + gradients on its share of each batch.
 */
import { parentPort } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './index';
import type { HostBatch } from '../data/types';
import { makeTrainStep, type LossFn, type TrainStep } from './step';

interface InitMsg {
  type: 'init';
  backend: 'wasm' | 'cpu';
  model: { name: string; args: Record<string, unknown> };
  loss: { module: string; exportName: string; options?: unknown };
}
interface StepMsg {
  type: 'step';
  weights: Float32Array[];
  batch: HostBatch;
  microBatch: number;
  step: number;
}

let model: tf.LayersModel | null = null;
let vars: tf.Variable[] = [];
let lossFn: LossFn | null = null;
let trainStep: TrainStep | null = null;

async function init(m: InitMsg): Promise<void> {
  await selectBackend(m.backend);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createModel } = require('../models/registry') as typeof import('../models/registry');
  model = createModel(m.model.name, m.model.args, { seed: 0 }).model;
  vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(m.loss.module) as Record<string, (o: unknown) => LossFn | Promise<LossFn>>;
  if (typeof mod[m.loss.exportName] !== 'function') throw new Error(`loss ${m.loss.exportName} not exported by ${m.loss.module}`);
  lossFn = await mod[m.loss.exportName](m.loss.options);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  trainStep = makeTrainStep();
}

async function step(m: StepMsg): Promise<{ loss: number; parts: Record<string, number>; grads: Float32Array[] }> {
  if (!model || !lossFn || !trainStep) throw new Error('worker not initialised');
  if (m.weights.length !== vars.length) throw new Error(`expected ${vars.length} weight tensors, got ${m.weights.length}`);
  vars.forEach((v, i) => {
    if (m.weights[i].length !== v.size) throw new Error(`weight ${v.name}: expected ${v.size} values, got ${m.weights[i].length}`);
    tf.tidy(() => v.assign(tf.tensor(m.weights[i], v.shape)));
  });
  const out = await trainStep({ model, vars, batch: m.batch, lossFn, microBatch: m.microBatch, step: m.step });
  // Copies: on wasm, typed arrays may alias the heap, which must not be transferred.
  const grads = out.grads.map((g) => new Float32Array(g.dataSync() as Float32Array));
  tf.dispose(out.grads);
  return { loss: out.loss, parts: out.parts, grads };
}

parentPort!.on('message', (m: InitMsg | StepMsg) => {
  const run = m.type === 'init' ? init(m).then(() => ({ type: 'ready' as const })) : step(m).then((r) => ({ type: 'result' as const, ...r }));
  run.then(
    (r) => {
      const transfer = 'grads' in r ? r.grads.map((g) => g.buffer as ArrayBuffer) : [];
      parentPort!.postMessage(r, transfer);
    },
    (e: Error) => parentPort!.postMessage({ type: 'error', message: e.message }),
  );
});
