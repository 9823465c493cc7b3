/**
 * The folders a model lives in, in one place: their file names, how a user's spec (a run folder,
 * a checkpoint folder, a model.json) resolves, and the recovery of a folder whose replacement was
 * cut by a crash. Low in the layers (fs only) so that training, eval, export and the runtime can
 * all read it.
 *
 *   model folder       model.json, weights.bin, portraitseg.json
 *   checkpoint folder  a model folder + state.json [+ optimizer.bin, extra.bin, train-weights.bin]
 *   run folder         config.json, split.json, metrics.jsonl, curves.png,
 *                      last/, best/, checkpoints/step-NNNNNNNN/ (checkpoint folders)
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from '../config/schema';
import { Artefact, checkOutput, InputPath, OutputPathError, recoverOutputDir } from '../util/out-paths';

export const MODEL_FILES = { modelJson: 'model.json', weights: 'weights.bin', meta: 'portraitseg.json' } as const;
export const CHECKPOINT_FILES = { state: 'state.json', optimizer: 'optimizer.bin', extra: 'extra.bin', trainWeights: 'train-weights.bin' } as const;
export const RUN_FILES = {
  config: 'config.json',
  split: 'split.json',
  metrics: 'metrics.jsonl',
  curves: 'curves.png',
  last: 'last',
  best: 'best',
  checkpoints: 'checkpoints',
} as const;

/** A numbered checkpoint's folder name. */
export function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

export function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILES.config)) || fs.existsSync(path.join(dir, RUN_FILES.last));
}

/**
 * Puts back a folder whose atomic replacement was cut between its two renames (kill -9): the new
 * copy waits as `.NAME.tmp-PID-N`, the old one as `.NAME.old-PID-N`. A complete new copy (one with
 * `marker`) wins over the old one. Returns true when `dir` exists afterwards.
 */
export function recoverDir(dir: string, marker: string = CHECKPOINT_FILES.state): boolean {
  if (fs.existsSync(dir)) return true;
  const parent = path.dirname(path.resolve(dir));
  if (!fs.existsSync(parent)) return false;
  const base = path.basename(dir);
  const temps = fs.readdirSync(parent).filter((n) => n.startsWith(`.${base}.tmp-`) || n.startsWith(`.${base}.old-`));
  const complete = (n: string) => fs.existsSync(path.join(parent, n, marker));
  const pick = temps.filter((n) => n.includes('.tmp-') && complete(n)).sort().pop() ?? temps.filter((n) => n.includes('.old-') && complete(n)).sort().pop();
  if (!pick) return false;
  fs.renameSync(path.join(parent, pick), dir);
  return true;
}

/** Removes the temp folders a crashed writer left in a run folder (and its checkpoints/). */
export function cleanStaleTemps(runDir: string): string[] {
  const removed: string[] = [];
  for (const dir of [runDir, path.join(runDir, RUN_FILES.checkpoints)]) {
    if (!fs.existsSync(dir)) continue;
    for (const n of fs.readdirSync(dir)) {
      if (/^\..+\.(tmp|old)-\d+(-\d+)?$/.test(n)) {
        fs.rmSync(path.join(dir, n), { recursive: true, force: true });
        removed.push(n);
      }
    }
  }
  return removed;
}

/** Recovers last/ and best/ of a run folder after a crash, then removes leftover temp folders. */
export function repairRunFolder(runDir: string): { recovered: string[]; removed: string[] } {
  const recovered: string[] = [];
  for (const sub of [RUN_FILES.last, RUN_FILES.best]) {
    const d = path.join(runDir, sub);
    if (!fs.existsSync(d) && recoverDir(d)) recovered.push(sub);
  }
  const ck = path.join(runDir, RUN_FILES.checkpoints);
  if (fs.existsSync(ck)) {
    for (const n of fs.readdirSync(ck)) {
      const m = /^\.(step-\d+)\.(tmp|old)-/.exec(n);
      if (m && !fs.existsSync(path.join(ck, m[1])) && recoverDir(path.join(ck, m[1]))) recovered.push(`${RUN_FILES.checkpoints}/${m[1]}`);
    }
  }
  return { recovered, removed: cleanStaleTemps(runDir) };
}

/**
 * The model.json a spec points at: a run folder (its best/, else last/), a checkpoint or model
 * folder, or a model.json. Throws a one-line error naming the spec otherwise.
 */
export function resolveModelJson(spec: string): string {
  // an export folder whose replacement was cut by a kill between its two renames: put the new one back
  if (!fs.existsSync(spec)) recoverOutputDir(path.resolve(spec));
  if (!fs.existsSync(spec)) throw new ConfigError(`model not found: ${spec}`);
  if (fs.statSync(spec).isFile()) return spec;
  for (const sub of [RUN_FILES.best, RUN_FILES.last, '.']) {
    const d = path.join(spec, sub);
    if (sub !== '.' && !fs.existsSync(d) && fs.existsSync(path.join(spec, RUN_FILES.config))) recoverDir(d);
    const f = path.join(d, MODEL_FILES.modelJson);
    if (fs.existsSync(f)) return f;
  }
  throw new ConfigError(`${spec}: no model.json in it, nor in ${spec}/best or ${spec}/last: expected a run folder, a checkpoint folder or a model.json`);
}

export interface ResumeTarget {
  /** The run folder that gets the new checkpoints, metrics and config. */
  runDir: string;
  /** The checkpoint folder to continue from (last/, best/, checkpoints/step-N/ or the one given). */
  checkpointDir: string;
}

/**
 * What `--resume SPEC` continues: SPEC is a run folder (its last/), or one of its checkpoint
 * folders (RUN/last, RUN/best, RUN/checkpoints/step-N). A last/ cut by a crash is recovered first.
 */
export function resolveResume(spec: string): ResumeTarget {
  const abs = path.resolve(spec);
  if (!fs.existsSync(abs)) throw new ConfigError(`--resume ${spec}: not found`);
  if (!fs.statSync(abs).isDirectory()) throw new ConfigError(`--resume ${spec}: not a folder (give a run folder or one of its checkpoint folders)`);
  if (fs.existsSync(path.join(abs, CHECKPOINT_FILES.state))) {
    const parent = path.dirname(abs);
    const runDir = path.basename(parent) === RUN_FILES.checkpoints ? path.dirname(parent) : parent;
    if (!fs.existsSync(path.join(runDir, RUN_FILES.config))) throw new ConfigError(`--resume ${spec}: a checkpoint outside a run folder (no ${RUN_FILES.config} in ${runDir})`);
    return { runDir, checkpointDir: abs };
  }
  if (!fs.existsSync(path.join(abs, RUN_FILES.config))) throw new ConfigError(`--resume ${spec}: not a run folder (no ${RUN_FILES.config} there) nor a checkpoint folder (no ${CHECKPOINT_FILES.state})`);
  const last = path.join(abs, RUN_FILES.last);
  recoverDir(last);
  if (!fs.existsSync(path.join(last, CHECKPOINT_FILES.state))) throw new ConfigError(`--resume ${spec}: no checkpoint there yet (expected ${last}/${CHECKPOINT_FILES.state})`);
  return { runDir: abs, checkpointDir: last };
}

/**
 * A run folder as an output (src/util/out-paths.ts): never replaced. An existing run is continued
 * with --resume; any other non-empty folder is refused.
 */
export const RUN_ARTEFACT: Artefact = {
  what: 'a run folder',
  kind: 'folder',
  refuse: (flag, p) =>
    isRunFolder(p) ? `${flag} ${p} already holds a run: continue it with --resume ${p}, or choose another ${flag}` : `${flag} ${p}: already exists and is not empty (not a run folder): give a new or empty folder for the run`,
};

/** One rule for a new run's --out (the output rule of src/util/out-paths.ts): not a file, not a folder holding a run or anything else. */
export function checkNewRunFolder(out: string, inputs: InputPath[] = []): string {
  try {
    return checkOutput({ flag: '--out', path: out, artefact: RUN_ARTEFACT, inputs }).target;
  } catch (e) {
    if (e instanceof OutputPathError) throw new ConfigError(e.message);
    throw e;
  }
}

/**
 * The paths of a model spec that outputs must stay out of: the folder of a model.json (its
 * weights are beside it; for a run folder the best/ or last/ it resolves to), or the model file
 * itself (.tflite). Packaged names and missing paths give none.
 */
export function modelInputs(flag: string, spec: string | null | undefined): InputPath[] {
  if (!spec || !fs.existsSync(spec)) return [];
  try {
    const mj = resolveModelJson(spec);
    return [{ flag, path: path.basename(mj) === MODEL_FILES.modelJson || fs.statSync(spec).isDirectory() ? path.dirname(mj) : mj }];
  } catch {
    return [{ flag, path: spec }];
  }
}
