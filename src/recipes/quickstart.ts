/**
 * The quick start: the whole pipeline on synthetic data, end to end, through the library (the
 * functions each CLI command calls): synthesize data -> inspect -> augmentation preview -> train
 * teacher -> distill student -> eval both -> export the student (tfjs + ONNX, parity-checked) ->
 * blur a sample image. Each step also names the command line that does the same by hand.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeAugmentPreview } from '../augment/preview';
import { selectBackend } from '../backend';
import type { BackendName, Config } from '../config/config';
import { resolveConfig } from '../config/load';
import { formatReport as formatInspectReport, inspectDataset } from '../data/inspect';
import { writeSynthDataset } from '../data/synth';
import { formatReport as formatEvalReport, runEval } from '../eval/run';
import { describeParity, exportModel } from '../export';
import { loadModel } from '../models/io';
import { createSegmenter } from '../runtime';
import { readRgb, writePng } from '../util/image';
import { distillStudent, STUDENT_RECIPE } from './student';
import { TEACHER_RECIPE, trainTeacher } from './teacher';

export interface QuickstartOptions {
  /** Folder for everything the quick start writes. */
  out: string;
  /** Training length (images seen) of the teacher and of the student. */
  images: number;
  /** Synthetic training images. */
  count: number;
  seed: number;
  backend?: BackendName;
  log?: (line: string) => void;
  /** Abort (Ctrl-C): a training step saves its checkpoint and stops; no later step starts. */
  signal?: AbortSignal;
}

export interface QuickstartStep {
  title: string;
  /** The same step as a command line (`portraitseg ...`), printed before it runs. */
  command: string[];
  run: () => Promise<void>;
}

/** The quick start's steps in data-flow order; nothing runs until a step's `run` is called. */
export function quickstartSteps(o: QuickstartOptions): QuickstartStep[] {
  const at = (p: string) => path.join(o.out, p);
  const log = o.log ?? (() => {});
  const backend = o.backend ? ['--backend', o.backend] : [];
  const seed = ['--seed', String(o.seed)];
  const every = Math.max(200, Math.round(o.images / 4));
  const set = [`train.evalEvery=${every}`, `train.checkpointEvery=${every}`];
  const setFlags = set.flatMap((s) => ['--set', s]);
  const config = (flags: Record<string, unknown> = {}): Config => resolveConfig({ file: null, set: [], flags: { backend: o.backend, ...flags } });
  const train = at('data/train');
  const val = at('data/val');
  const valCount = Math.max(16, Math.round(o.count / 5));
  const unlabeled = Math.round(o.count / 2);
  const runFlags = { seed: o.seed, backend: o.backend, 'data.path': train, 'data.val': val, 'train.images': o.images };
  const evalStep = (who: 'teacher' | 'student', overlays: string | null): QuickstartStep => ({
    title: `evaluate the ${who}`,
    command: ['eval', '--model', at(who), '--data', val, '--report', at(`eval-${who}.json`), ...(overlays ? ['--overlays', overlays] : []), ...backend],
    run: async () => {
      const report = await runEval({ config: config(), model: at(who), data: val, split: 'all', external: false, reportFile: at(`eval-${who}.json`), overlaysDir: overlays, stability: false, log });
      log(formatEvalReport(report).trimEnd());
    },
  });
  const exportStep = (format: 'tfjs' | 'onnx', title: string): QuickstartStep => ({
    title,
    command: ['export', '--model', at('student'), '--format', format, '--out', at(`export/${format}`)],
    run: async () => {
      const cfg = config({ 'export.format': format });
      await selectBackend(cfg.backend, log);
      const { model, meta } = await loadModel(at('student'));
      try {
        const r = await exportModel(model, meta, { format, quantize: 'none', out: at(`export/${format}`), tolerance: cfg.export.tolerance, seed: cfg.seed });
        log(`exported ${meta.name} as ${format} to ${r.dir}: ${r.files.join(', ')}`);
        log(describeParity(r.parity));
      } finally {
        model.dispose();
      }
    },
  });
  return [
    {
      title: 'synthesize a labeled portrait dataset',
      command: ['data', 'synth', '--out', train, '--count', String(o.count), '--seed', String(o.seed), '--size', '128x128', '--unlabeled', String(unlabeled)],
      run: async () => {
        const r = await writeSynthDataset(train, { count: o.count, seed: o.seed, width: 128, height: 128, unlabeled });
        log(`wrote ${r.count} samples and ${r.unlabeled} unlabeled images to ${train}`);
      },
    },
    {
      title: 'synthesize a held-out set',
      command: ['data', 'synth', '--out', val, '--count', String(valCount), '--seed', String(o.seed + 1000), '--size', '256x256'],
      run: async () => {
        const r = await writeSynthDataset(val, { count: valCount, seed: o.seed + 1000, width: 256, height: 256 });
        log(`wrote ${r.count} samples to ${val}`);
      },
    },
    {
      title: 'inspect it (counts, coverage, contact sheet)',
      command: ['data', 'inspect', '--data', train, '--out', at('inspect'), ...seed],
      run: async () => {
        log(formatInspectReport(await inspectDataset(train, { out: at('inspect'), log })));
      },
    },
    {
      title: 'augmentation preview',
      command: ['augment', 'preview', '--data', train, '--out', at('augment-preview.png'), '--count', '12', ...seed],
      run: async () => {
        const r = await writeAugmentPreview(config({ seed: o.seed, 'data.path': train }), at('augment-preview.png'), 12, log);
        log(`augment preview: ${r.samples} samples -> ${at('augment-preview.png')}`);
      },
    },
    {
      title: 'train the teacher (unet_teacher_s)',
      command: ['train', 'teacher', '--config', TEACHER_RECIPE, '--data', train, '--val', val, '--out', at('teacher'), '--images', String(o.images), ...seed, ...backend, ...setFlags],
      run: async () => {
        const r = await trainTeacher({ sources: { file: TEACHER_RECIPE, set, flags: runFlags }, out: at('teacher'), log, signal: o.signal });
        r.model.dispose();
      },
    },
    {
      title: 'distill the student (mnv2_student_s, labeled + unlabeled images)',
      command: ['distill', 'student', '--config', STUDENT_RECIPE, '--teacher', at('teacher'), '--data', train, '--val', val, '--unlabeled', at('data/train/unlabeled/images'), '--out', at('student'), '--images', String(o.images), ...seed, ...backend, ...setFlags],
      run: async () => {
        const flags = { ...runFlags, 'distill.teacher': at('teacher'), 'data.unlabeled': [at('data/train/unlabeled/images')] };
        const r = await distillStudent({ sources: { file: STUDENT_RECIPE, set, flags }, teacher: at('teacher'), out: at('student'), log, signal: o.signal });
        r.model.dispose();
      },
    },
    evalStep('teacher', null),
    evalStep('student', at('overlays-student')),
    exportStep('tfjs', 'export the student for the browser (tfjs)'),
    exportStep('onnx', 'export the student for mobile (ONNX)'),
    {
      title: 'blur the background of a sample image with the exported student',
      command: ['blur', '--model', at('export/tfjs'), '--input', at('data/val/images/0000.jpg'), '--output', at('blurred.png'), ...backend],
      run: async () => {
        const cfg = config();
        await selectBackend(cfg.backend, log);
        const seg = await createSegmenter(at('export/tfjs'));
        try {
          const out = await seg.blur(await readRgb(at('data/val/images/0000.jpg')), { strength: cfg.blur.strength, edgeFeather: cfg.blur.edgeFeather });
          await writePng(at('blurred.png'), out.data, out.width, out.height, 3);
        } finally {
          seg.dispose();
        }
      },
    },
  ];
}

/**
 * Runs every step of the quick start in order, logging each step's title and command line;
 * returns the wall time in seconds. Stops before the next step once `signal` has fired.
 */
export async function runQuickstart(o: QuickstartOptions): Promise<{ seconds: number; interrupted: boolean }> {
  const log = o.log ?? (() => {});
  fs.mkdirSync(o.out, { recursive: true });
  const steps = quickstartSteps(o);
  const t0 = Date.now();
  for (const [i, step] of steps.entries()) {
    if (o.signal?.aborted) return { seconds: (Date.now() - t0) / 1000, interrupted: true };
    const ts = Date.now();
    log(`\n=== [${i + 1}/${steps.length}] ${step.title}\n$ portraitseg ${step.command.join(' ')}`);
    await step.run();
    log(`--- done in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
  }
  return { seconds: (Date.now() - t0) / 1000, interrupted: !!o.signal?.aborted };
}
