/**
 * `distill student`: the distillation recipe on the shared run setup (src/recipes/run.ts). What it
 * adds: the frozen teacher (our run or an external TensorFlow.js model), batches mixing labeled
 * and unlabeled frames (src/distill/student.ts mixedBatches), the distillation loss, and an
 * optional feature adapter trained with the student.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { DataLoader } from '../data/loader';
import type { ModelMeta } from '../models/types';
import { DEFAULT_STUDENT } from '../models/registry';
import type { Callback, TrainResult } from '../train/loop';
import { FeatureAdapter } from '../distill/losses';
import { checkCompatible, FrozenTeacher, TeacherTargets } from '../distill/teacher';
import {
  DistillError,
  ExternalLoader,
  labelsOnlyTeacher,
  loadTeacherSet,
  lossWeights,
  makeDistillLossFn,
  mixedBatches,
  unlabeledRows,
  withFeatures,
  type WorkerDistillLossOptions,
} from '../distill/student';
import { absoluteSpec } from '../models/import/packaged';
import { loaderOptions, openRun, RecipeInfo, RunOptions, trainRun, valLoader } from './run';
import { ownResolutionBatches, teacherReport } from '../distill/ensemble';

/** The shipped distillation recipe (configs/distill.json): the base of a fresh student run. */
export const STUDENT_RECIPE = path.resolve(__dirname, '../../configs/distill.json');

export interface DistillRunOptions extends RunOptions {
  /** Alias of `config` (the resolved config of a fresh run). */
  cfg?: Config;
  /** Teacher spec (run folder, checkpoint, model.json); defaults to cfg.distill.teacher (on resume: the run's own). */
  teacher?: string | null;
  /** Treat the teacher as an external TensorFlow.js model (the eval-style --input-size/--input-range/--output flags were given). */
  externalTeacher?: boolean;
  loadExternal?: ExternalLoader;
  /** What the run is for, in its default folder name (runs/<kind>-<model>-<time>): a teacher trained on this loop (`train teacher` with a frozen teacher) says teacher. */
  kind?: 'teacher' | 'student';
}

export interface DistillRunResult extends TrainResult {
  runDir: string;
  /** The trained student (the caller disposes it). */
  model: tf.LayersModel;
  meta: ModelMeta;
  teacher: string;
  cache: { hits: number; misses: number; teacherMs: number };
  /** The run's resolved config (as saved in its config.json). */
  config: Config;
}

/** Extra resume state stored in each checkpoint's state.json. */
interface DistillExtra {
  distill: { teacher: string; externalTeacher: boolean; adapter: boolean };
}

/** The teacher a run distils from, chosen before the data is read (see chooseTeacher). */
interface TeacherChoice {
  teacher: FrozenTeacher | null;
  spec: string | null;
  external: boolean;
}

/**
 * Teacher first: a bad teacher should fail before any data is read. Without one (the
 * labels-only baseline: soft = boundary = feature = 0) the same recipe trains from labels.
 * A resumed run takes the teacher its state.json names unless one is given.
 */
async function chooseTeacher(o: DistillRunOptions, choice: TeacherChoice, ctx: Parameters<NonNullable<RecipeInfo['beforeData']>>[0]): Promise<void> {
  const { cfg, resumed, meta, log } = ctx;
  choice.spec = o.teacher ?? cfg.distill.teacher;
  choice.external = o.externalTeacher ?? false;
  if (resumed) {
    const ex = (resumed.extra as Partial<DistillExtra>).distill;
    if (!ex) throw new DistillError(`--resume ${o.resume}: not a distillation run (no distill state in ${resumed.dir}/state.json); use train teacher --resume`);
    choice.spec = o.teacher ?? (ex.teacher || null);
    choice.external = o.externalTeacher ?? ex.externalTeacher;
  }
  const w = lossWeights(cfg);
  const needTeacher = w.soft > 0 || w.boundary > 0 || w.feature > 0;
  if (!choice.spec && needTeacher && cfg.distill.teachers.length === 0) {
    throw new DistillError('distill student: --teacher RUN_DIR|model.json is required (e.g. portraitseg distill student --teacher runs/teacher --data DIR); config key distill.teacher');
  }
  if ((choice.spec || cfg.distill.teachers.length) && !needTeacher && !resumed) {
    // a teacher nothing learns from would be loaded and run for nothing, and the run would look distilled
    throw new DistillError(
      `distill student: a teacher is given (${choice.spec ?? cfg.distill.teachers[0].path}) but distill.soft, distill.boundary and distill.feature are all 0, so nothing learns from it: ` +
        `give --set distill.soft=1 to learn from it on the fly, or leave it out to train on the masks of --data (e.g. labels written once by portraitseg label)`,
    );
  }
  const loaded = await loadTeacherSet(choice.spec, cfg, { forceExternal: choice.external, loadExternal: o.loadExternal, log });
  const teacher = loaded ?? labelsOnlyTeacher();
  choice.teacher = teacher;
  if (w.feature > 0 && teacher.featureChannels === null) {
    throw new DistillError(`distill.feature=${w.feature} but teacher ${teacher.describe} has no "features" layer; set distill.feature=0`);
  }
  log(`teacher: ${teacher.describe}${teacher.meta ? `, ${teacher.meta.params} params` : ''}`);
  if (teacher.meta && teacher.meta.params > 0 && meta.name === teacher.meta.name && meta.family === 'teacher') {
    log(`note: distilling ${meta.name} into itself (model.name is the teacher's architecture; pass --student ${DEFAULT_STUDENT} for the default student)`);
  }
  try {
    if (loaded) checkCompatible(teacher, meta);
  } catch (e) {
    throw new DistillError((e as Error).message);
  }
  log(`student: ${meta.name}, ${meta.params} params, frames ${meta.frameSize[0]}x${meta.frameSize[1]}`);
}

/**
 * The labeled and unlabeled loaders of one batch, and the frame the teacher labels: at its own
 * resolution, the larger frame is augmented and the student gets it area-downsampled.
 */
function studentLoaders(run: Awaited<ReturnType<typeof openRun>>, t: FrozenTeacher, needTeacher: boolean) {
  const { cfg, meta, log } = run;
  const w = lossWeights(cfg);
  const B = cfg.train.batchSize;
  const bu = unlabeledRows(B, cfg.distill.unlabeledFraction, run.unlabeled.length > 0);
  const sf = meta.frameSize;
  const tf_ = t.frameSize;
  const ownRes = needTeacher && cfg.distill.teacherResolution === 'teacher' && w.feature === 0 && tf_ !== null && tf_[0] * tf_[1] > sf[0] * sf[1];
  const labelFrame: [number, number] = ownRes ? [tf_![0], tf_![1]] : [sf[0], sf[1]];
  if (ownRes) log(`teacher labels ${labelFrame[1]}x${labelFrame[0]} frames (augmented at that size), the student trains on them area-downsampled to ${sf[1]}x${sf[0]} (distill.teacherResolution=teacher)`);
  else if (needTeacher && w.feature > 0 && tf_ && tf_[0] * tf_[1] > sf[0] * sf[1]) log(`teacher labels the student's ${sf[1]}x${sf[0]} frames: feature distillation needs both at one size`);
  const common = { ...loaderOptions(run), frameSize: labelFrame };
  const labeledLoader = B - bu > 0 ? new DataLoader(run.data.train, { ...common, batchSize: B - bu, seed: cfg.seed }) : null;
  const unlabeledLoader = bu > 0 ? new DataLoader(run.unlabeled, { ...common, batchSize: bu, seed: `${cfg.seed}/unlabeled` }) : null;
  log(`data: ${run.data.train.length} labeled train, ${run.data.val.length} val, ${run.unlabeled.length} unlabeled; batch ${B} = ${B - bu} labeled + ${bu} unlabeled`);
  return { ownRes, labelFrame, studentFrame: [sf[0], sf[1]] as [number, number], labeledLoader, unlabeledLoader };
}

export async function distillStudent(o: DistillRunOptions): Promise<DistillRunResult> {
  const choice: TeacherChoice = { teacher: null, spec: null, external: false };
  const run = await openRun(
    { ...o, config: o.config ?? o.cfg },
    { kind: o.kind ?? 'student', file: STUDENT_RECIPE, unlabeled: true, beforeData: (ctx) => chooseTeacher(o, choice, ctx) },
  ).catch((e) => {
    choice.teacher?.dispose();
    throw e;
  });
  const t = choice.teacher as unknown as FrozenTeacher;
  const teacherSpec = choice.spec;
  const externalTeacher = choice.external;
  const { cfg, model, meta, log, resumed } = run;
  const w = lossWeights(cfg);
  const needTeacher = w.soft > 0 || w.boundary > 0 || w.feature > 0;

  let adapter: FeatureAdapter | null = null;
  if (w.feature > 0 && w.featureMode === 'l2') {
    const out = withFeatures(model).outputs[1];
    const sc = out.shape[out.shape.length - 1] as number;
    adapter = new FeatureAdapter(sc, t.featureChannels!, cfg.seed + 1);
    if (resumed?.extraValues.length) adapter.setWeights(resumed.extraValues.map((v) => tf.tensor(v.values, v.shape)));
  }
  const { ownRes, labelFrame, studentFrame, labeledLoader, unlabeledLoader } = studentLoaders(run, t, needTeacher);

  const targets = new TeacherTargets(t, { cache: cfg.distill.cacheTeacher, withFeatures: w.feature > 0 });
  if (needTeacher) await printTeacherReport(run, t, labelFrame, log);
  const teacherRef = teacherSpec ? absoluteSpec(teacherSpec) : '';
  const extra: DistillExtra = { distill: { teacher: teacherRef, externalTeacher, adapter: adapter !== null } };
  let threads = 1;
  const cacheLine: Callback = {
    onStepEnd(_ctx, l) {
      if (needTeacher && l.step % cfg.train.logEvery === 0) {
        const s = targets.stats;
        log(`  teacher: ${s.hits} rows reused from cache / ${s.misses} computed, ${(s.teacherMs / Math.max(1, s.misses)).toFixed(1)} ms/row${threads > 1 ? ' (this thread; the worker labels its own rows)' : ''}`);
      }
    },
  };
  try {
    const r = await trainRun(
      run,
      {
        batches: ownRes
          ? ownResolutionBatches(mixedBatches(labeledLoader, unlabeledLoader, run.state.step), studentFrame, targets, cfg.data.maskMode === 'soft')
          : mixedBatches(labeledLoader, unlabeledLoader, run.state.step),
        lossFn: makeDistillLossFn({ cfg, targets, student: model, adapter }),
        // Each thread labels its own rows with its own copy of the teacher inside the loss.
        workerLoss: {
          module: require.resolve('../distill/student'),
          exportName: 'workerDistillLossFn',
          options: { cfg, teacher: teacherRef, externalTeacher } satisfies WorkerDistillLossOptions,
        },
        singleThreadReason: w.feature > 0
          ? 'feature distillation keeps its adapter on one thread'
          : o.loadExternal
            ? 'a custom external-teacher loader cannot be sent to a worker'
            : ownRes
              ? 'the teacher labels its own larger frames on the main thread'
              : null,
        extraVars: adapter ? adapter.variables : [],
        extraState: () => extra as unknown as Record<string, unknown>,
        callbacks: [cacheLine],
        // On one thread the teacher labels the next batches ahead of the step.
        wrapBatches: (b, n) => {
          threads = n;
          return needTeacher && n === 1 && !ownRes ? targets.prefetchAll(b) : b;
        },
      },
      o,
    );
    return { ...r, runDir: run.runDir, model, meta, config: cfg, teacher: t.describe, cache: { ...targets.stats } };
  } finally {
    adapter?.dispose();
    t.dispose();
    targets.clear();
  }
}

/**
 * What the student is taught: each teacher's (and the ensemble's) mIoU and boundary F on the
 * run's validation split, at the frames the teacher labels. One line per teacher.
 */
async function printTeacherReport(run: Awaited<ReturnType<typeof openRun>>, teacher: FrozenTeacher, frame: [number, number], log: (l: string) => void): Promise<void> {
  const loader = valLoader(run);
  if (!loader) {
    log('teacher on validation: no validation split (data.valFraction = 0 and no data.val)');
    return;
  }
  const val = new DataLoader(run.data.val, { ...loader.opts, frameSize: frame });
  const scores = await teacherReport(teacher, val.once(), run.cfg);
  for (const s of scores) log(`teacher on validation (${run.data.val.length} image${run.data.val.length === 1 ? '' : 's'} at ${frame[1]}x${frame[0]}): mIoU ${s.miou.toFixed(4)}, boundary F ${s.boundaryF.toFixed(4)} | ${s.describe}`);
}
