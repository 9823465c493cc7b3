/** The `eval` command's work: load a model (ours or external), pick the data, evaluate, report. */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { ConfigError } from '../config/schema';
import { openDataset, resolveSpec } from '../data/dataset';
import { splitRefs } from '../data/split';
import { DataError } from '../data/errors';
import { selectBackend } from '../backend';
import { nativePredictor } from '../export/native';
import { loadModel, resolveModelJson, META_FILE } from '../models/io';
import type { ModelMeta } from '../models/types';
import { evaluate, EvalReport, modelSegmenter, samplesFromRefs, Segmenter } from './evaluate';
import { loadExternalModel } from './external';
import { ensembleSegmenter, externalOptionsFor, hasInputOptions, type ModelOptions } from './tta';

export interface RunEvalOptions {
  config: Config;
  model: string;
  data: string;
  split: 'all' | 'val' | 'train';
  /** Treat the model as an external TensorFlow.js model (cfg.external). */
  external: boolean;
  reportFile: string | null;
  overlaysDir: string | null;
  stability: boolean;
  /** More models averaged with `model` (an ensemble: mean P(person)); each with its own input options. */
  models?: ModelOptions[];
  /** Horizontal-flip test-time augmentation: mean P(person) of the frame and of its mirror (mirrored back). */
  flip?: boolean;
  log?: (line: string) => void;
}

/** The run folder a model spec belongs to (for the seed and split of `--split val`), if any. */
export function runConfigFor(spec: string): { seed: number; valFraction: number; file: string } | null {
  let dir = fs.existsSync(spec) && fs.statSync(spec).isFile() ? path.dirname(spec) : spec;
  for (let i = 0; i < 3 && dir; i++) {
    const f = path.join(dir, 'config.json');
    if (fs.existsSync(f)) {
      try {
        const c = JSON.parse(fs.readFileSync(f, 'utf8'));
        if (typeof c.seed === 'number' && typeof c.data?.valFraction === 'number') return { seed: c.seed, valFraction: c.data.valFraction, file: f };
      } catch {
        /* not ours */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** split.json of the run folder a model spec belongs to (written by train teacher), if any. */
export function runSplitFor(spec: string): string | null {
  let dir = fs.existsSync(spec) && fs.statSync(spec).isFile() ? path.dirname(spec) : spec;
  for (let i = 0; i < 3 && dir; i++) {
    const f = path.join(dir, 'split.json');
    if (fs.existsSync(f)) return f;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

export async function loadSegmenter(spec: string, cfg: Config, external: boolean): Promise<Segmenter> {
  if (external) return loadExternalModel(spec, cfg.external);
  const modelJson = resolveModelJson(spec);
  if (!fs.existsSync(path.join(path.dirname(modelJson), META_FILE))) {
    throw new ConfigError(`${modelJson}: no ${META_FILE} beside it: for an external TensorFlow.js model give --input-size WxH --input-range 0..1|-1..1|0..255 --output sigmoid|softmax1|logits`);
  }
  const { model, meta } = await loadModel(spec);
  return frozenSegmenter(model, meta, cfg);
}

/**
 * One of our loaded models as a frozen Segmenter (it owns the model): on onnxruntime-node when
 * runtime.frozen allows it (ONNX export, parity checked at load), else tfjs.
 */
export function frozenSegmenter(model: tf.LayersModel, meta: ModelMeta, cfg: Config): Segmenter {
  const seg = modelSegmenter(model, meta);
  // runtime.frozen: onnxruntime-node (ONNX export, parity checked at load) when available.
  const choice = nativePredictor(model, { runtime: cfg.runtime.frozen, name: meta.name, frameSize: [meta.frameSize[0], meta.frameSize[1]] });
  const native = choice.predictor;
  return {
    predictLogits: native
      ? (frames) => {
          const r = native.predict(frames.dataSync() as Float32Array, frames.shape);
          return tf.tensor4d(r.data, r.dims as [number, number, number, number]);
        }
      : seg.predictLogits,
    info: { ...seg.info, runtime: choice.reason },
    dispose: () => {
      native?.dispose();
      seg.dispose();
    },
  };
}

export async function runEval(o: RunEvalOptions): Promise<EvalReport> {
  const cfg = o.config;
  const log = o.log ?? (() => {});
  if (!fs.existsSync(o.model)) throw new ConfigError(`--model ${o.model}: not found`);
  for (const m of o.models ?? []) if (!fs.existsSync(m.path)) throw new ConfigError(`--model ${m.path}: not found`);
  try {
    resolveSpec(o.data);
  } catch (e) {
    throw e instanceof DataError ? new ConfigError(`--data ${e.message}`) : e;
  }
  await selectBackend(cfg.backend, log);
  const ds = await openDataset(o.data, { strict: cfg.data.strict, labeled: true, log }).catch((e) => {
    throw e instanceof DataError ? new ConfigError(`--data ${e.message}`) : e;
  });
  let refs = ds.refs;
  const splitFile = o.split !== 'all' ? runSplitFor(o.model) : null;
  if (splitFile) {
    const ids = new Set<string>((JSON.parse(fs.readFileSync(splitFile, 'utf8')) as Record<string, string[]>)[o.split] ?? []);
    refs = refs.filter((r) => ids.has(r.id));
    log(`split ${o.split}: ${refs.length} of ${ds.refs.length} images (ids from ${splitFile})`);
    if (refs.length === 0) throw new ConfigError(`--split ${o.split}: none of the ${o.split} ids in ${splitFile} are in ${o.data} (is it the run's training data?)`);
  } else if (o.split !== 'all') {
    const rc = runConfigFor(o.model);
    const seed = rc?.seed ?? cfg.seed;
    const frac = rc?.valFraction ?? cfg.data.valFraction;
    refs = splitRefs(refs, frac, seed)[o.split];
    log(`split ${o.split}: ${refs.length} of ${ds.refs.length} images (seed ${seed}, valFraction ${frac}${rc ? ` from ${rc.file}` : ''})`);
  }
  if (cfg.data.maxSamples) refs = refs.slice(0, cfg.data.maxSamples);
  // a model file that does not load (corrupt JSON, truncated weights, ...) is the user's input: one line, exit 2, like export and blur
  const load = (spec: string, c: Config, external: boolean) =>
    loadSegmenter(spec, c, external).catch((e: Error) => {
      throw e instanceof ConfigError ? e : new ConfigError(`--model ${spec}: ${String(e?.message ?? e).split('\n')[0]}`);
    });
  const members = [await load(o.model, cfg, o.external)];
  try {
    for (const m of o.models ?? []) {
      const own = hasInputOptions(m);
      members.push(await load(m.path, own ? { ...cfg, external: externalOptionsFor(m, cfg.external) } : cfg, own || o.external));
    }
  } catch (e) {
    members.forEach((m) => m.dispose());
    throw e;
  }
  const seg = ensembleSegmenter(members, !!o.flip);
  log(`model ${seg.info.name} (${seg.info.kind}${seg.info.inputSize ? `, input ${seg.info.inputSize[1]}x${seg.info.inputSize[0]}` : ''}${seg.info.maskFilter ? ', mask filter' : ''}); ${refs.length} images`);
  if (seg.info.runtime) log(`runtime: ${seg.info.runtime}`);
  let lastLog = 0;
  const t0 = Date.now();
  try {
    const report = await evaluate(seg, samplesFromRefs(refs, { maskMode: cfg.data.maskMode, log }), {
      threshold: cfg.eval.threshold,
      boundaryTolerance: cfg.eval.boundaryTolerance,
      worst: cfg.eval.worst,
      overlaysDir: o.overlaysDir,
      total: refs.length,
      stabilityShift: o.stability ? cfg.eval.stabilityShift : null,
      onImage: (done, total) => {
        const t = Date.now();
        if (t - lastLog > 2000 || done === total) {
          lastLog = t;
          const rate = done / Math.max(1e-3, (t - t0) / 1000);
          log(`eval ${done}/${total} | ${rate.toFixed(1)} img/s | ETA ${Math.round(((total ?? done) - done) / Math.max(rate, 1e-9))}s`);
        }
      },
    });
    if (o.reportFile) {
      fs.mkdirSync(path.dirname(path.resolve(o.reportFile)), { recursive: true });
      const { meta, ...info } = report.model as typeof report.model & { meta?: unknown };
      const json = { ...report, model: { ...info, meta: meta ?? null, spec: o.model, ...(o.models?.length ? { ensemble: [o.model, ...o.models.map((m) => m.path)] } : {}) }, flip: !!o.flip, data: o.data, split: o.split, date: new Date().toISOString() };
      const tmp = `${o.reportFile}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify(json, null, 2) + '\n');
      fs.renameSync(tmp, o.reportFile);
      log(`report written to ${o.reportFile}`);
    }
    if (o.overlaysDir) log(`overlays (image | mask | prediction) in ${o.overlaysDir}`);
    return report;
  } finally {
    seg.dispose();
  }
}

export function formatReport(r: EvalReport): string {
  const rows: [string, string][] = [
    ['images', String(r.count)],
    ['mIoU', r.miou.toFixed(4)],
    ['person IoU', r.personIou.toFixed(4)],
    ['background IoU', r.backgroundIou.toFixed(4)],
    [`boundary F (${r.boundaryTolerance} px)`, r.boundaryF.toFixed(4)],
    ['MAE', r.mae.toFixed(4)],
    ['ms per image', r.msPerImage.toFixed(1)],
  ];
  if (r.stability !== undefined) rows.push(['stability (shift IoU)', r.stability.toFixed(4)]);
  const w = Math.max(...rows.map((x) => x[0].length));
  let out = `model: ${r.model.name}\n` + rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n') + '\n';
  if (r.worst.length) out += `worst ${r.worst.length} by person IoU:\n` + r.worst.map((x) => `  ${x.iou.toFixed(3)}  ${x.id}`).join('\n') + '\n';
  return out;
}
