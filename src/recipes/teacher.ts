/**
 * `train teacher`: the supervised recipe. Everything around the loop is the shared run setup
 * (src/recipes/run.ts); the recipe adds its loss and one data loader.
 */
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { DataLoader } from '../data/loader';
import type { ModelMeta } from '../models/types';
import type { TrainResult } from '../train/loop';
import { makeSegLossFn } from '../train/losses';
import { loaderOptions, openRun, RunOptions, trainRun } from './run';

/** The shipped teacher recipe (configs/teacher.json): the base of a fresh teacher run. */
export const TEACHER_RECIPE = path.resolve(__dirname, '../../configs/teacher.json');

export interface TeacherRun {
  runDir: string;
  result: TrainResult;
  meta: ModelMeta;
  /** The run's resolved config (as saved in its config.json). */
  config: Config;
  /** The trained model (averaged weights when train.ema > 0); the caller disposes it. */
  model: tf.LayersModel;
}

export async function trainTeacher(o: RunOptions): Promise<TeacherRun> {
  const run = await openRun(o, { kind: 'teacher', file: TEACHER_RECIPE });
  const { cfg, meta, log } = run;
  log(`model ${meta.name}: ${(meta.params / 1e6).toFixed(3)} M params, frames ${meta.frameSize[1]}x${meta.frameSize[0]}${meta.maskFilter?.enabled ? ` (net ${meta.inputSize[1]}x${meta.inputSize[0]} + mask filter)` : ''}`);
  log(`data: ${run.data.train.length} training, ${run.data.val.length} validation samples${cfg.data.val ? '' : ` (seeded ${Math.round(cfg.data.valFraction * 100)}% split)`}`);
  const loader = new DataLoader(run.data.train, { ...loaderOptions(run), batchSize: cfg.train.batchSize, seed: cfg.seed });
  const result = await trainRun(
    run,
    {
      batches: loader.stream(run.state.step),
      lossFn: makeSegLossFn(cfg.train.loss),
      workerLoss: { module: require.resolve('../train/losses'), exportName: 'makeSegLossFn', options: cfg.train.loss },
    },
    o,
  );
  return { runDir: run.runDir, result, meta, config: cfg, model: run.model };
}
