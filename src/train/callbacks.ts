/**
 * The standard callbacks of the training loop: progress line, metrics.jsonl, checkpoints,
 * early stopping and the loss / mIoU curves PNG.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Callback, EvalLog, StepLog, TrainContext, TrainResult } from './loop';
import { CheckpointManager } from './checkpoint';
import { type MetricsRecord, renderCurves } from './curves';

function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Mean loss and parts over the steps since the last logged line (single-batch losses are noisy). */
class WindowMean {
  private n = 0;
  private loss = 0;
  private parts: Record<string, number> = {};
  private prev: { images: number; sec: number } | null = null;
  add(log: StepLog): void {
    this.n++;
    this.loss += log.loss;
    for (const [k, v] of Object.entries(log.parts)) this.parts[k] = (this.parts[k] ?? 0) + v;
  }
  /** The window's means as a StepLog (then resets). */
  take(log: StepLog): StepLog {
    const n = Math.max(1, this.n);
    const parts: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.parts)) parts[k] = v / n;
    const out = this.n ? { ...log, loss: this.loss / n, parts } : log;
    // Throughput over the window, not just the last step.
    if (this.prev && log.elapsedSec > this.prev.sec) out.imagesPerSec = (log.imagesSeen - this.prev.images) / (log.elapsedSec - this.prev.sec);
    this.prev = { images: log.imagesSeen, sec: log.elapsedSec };
    this.n = 0;
    this.loss = 0;
    this.parts = {};
    return out;
  }
}

export function formatStepLine(ctx: TrainContext, log: StepLog): string {
  const parts = Object.entries(log.parts)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(' ');
  const val = ctx.lastEval ? ` | val mIoU ${ctx.lastEval.miou.toFixed(3)}` : '';
  return (
    `step ${log.step} | ${log.imagesSeen}/${ctx.totalImages} img | ${log.imagesPerSec.toFixed(2)} img/s | ETA ${fmtDuration(log.etaSec)}` +
    ` | loss ${log.loss.toFixed(4)}${parts ? ` (${parts})` : ''} | lr ${log.lr.toExponential(2)}${val}`
  );
}

/** A progress line to stderr every `every` steps (and on each validation). */
export function progressLogger(every: number, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Callback {
  const win = new WindowMean();
  return {
    onStepEnd(ctx, log) {
      win.add(log);
      if (log.step % every === 0 || log.imagesSeen >= ctx.totalImages) write(formatStepLine(ctx, win.take(log)));
    },
    onEval(_ctx, log) {
      const extra = Object.entries(log.metrics)
        .filter(([k]) => k !== 'miou')
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(' ');
      write(`eval @ ${log.imagesSeen} img: mIoU ${log.miou.toFixed(4)}${extra ? ` (${extra})` : ''}${log.isBest ? ' (best)' : ''}`);
    },
    onTrainEnd(_ctx, r) {
      write(`training ${r.stopReason === 'done' ? 'finished' : r.stopReason}: ${r.state.imagesSeen} images, ${r.state.step} steps, ${fmtDuration(r.seconds)}` + (r.state.bestScore !== null ? `, best val mIoU ${r.state.bestScore.toFixed(4)}` : ''));
      const v = validationSummary(r.state, r.lastEval?.miou ?? null);
      if (v) write(v);
    },
  };
}

/**
 * The start, best and gain of a run that scored its start (a fine-tune), e.g.
 * "validation mIoU: start 0.9470, best 0.9512 at step 250 (+0.42 points), last 0.9501".
 */
export function validationSummary(st: { startScore?: number | null; bestScore: number | null; bestStep: number | null }, last: number | null): string | null {
  if (st.startScore === undefined || st.startScore === null || st.bestScore === null) return null;
  const gain = (st.bestScore - st.startScore) * 100;
  const fmt = (v: number) => v.toFixed(4);
  return (
    `validation mIoU: start ${fmt(st.startScore)}, best ${fmt(st.bestScore)} at step ${st.bestStep} (${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points)` +
    (last !== null ? `, last ${fmt(last)}` : '') +
    (st.bestStep === 0 ? '; no validation beat the start: best/ holds the start model' : '')
  );
}

export type { MetricsRecord } from './curves';

/**
 * Makes `file` (JSON lines) end on a line boundary before records are appended to it: a last line
 * cut by a crash mid-write would otherwise swallow the next record (torn text + new record on one
 * line, which no reader can parse). A torn line that is not JSON is cut off, one that is complete
 * JSON only lacking its newline gets it; either way `log` says what was done.
 */
export function repairJsonlTail(file: string, log: (line: string) => void = () => {}): void {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size === 0) return;
  const buf = fs.readFileSync(file);
  if (buf[buf.length - 1] === 0x0a) return;
  const cut = buf.lastIndexOf(0x0a) + 1;
  const torn = buf.subarray(cut).toString('utf8');
  try {
    JSON.parse(torn);
    fs.appendFileSync(file, '\n');
    log(`${file}: its last line lacked a newline (cut by a crash): completed it`);
  } catch {
    fs.truncateSync(file, cut);
    log(`${file}: removed a torn last line (${buf.length - cut} bytes, cut by a crash while it was written): ${JSON.stringify(torn.slice(0, 60))}${torn.length > 60 ? '...' : ''}`);
  }
}

/**
 * One JSON line per logged step (loss and parts: means over the steps since the previous line) and
 * per evaluation, appended to `file`. A torn last line left by a crash is repaired first (`log` says so).
 */
export function metricsJsonl(file: string, every: number, log: (line: string) => void = () => {}): Callback {
  const append = (rec: MetricsRecord) => fs.appendFileSync(file, JSON.stringify(rec) + '\n');
  const win = new WindowMean();
  return {
    onTrainBegin() {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      repairJsonlTail(file, log);
    },
    onStepEnd(ctx, raw) {
      win.add(raw);
      if (raw.step % every === 0 || raw.imagesSeen >= ctx.totalImages) {
        const log = win.take(raw);
        append({ kind: 'step', step: log.step, imagesSeen: log.imagesSeen, loss: log.loss, parts: log.parts, lr: log.lr, gradNorm: log.gradNorm, imagesPerSec: log.imagesPerSec, elapsedSec: log.elapsedSec, time: new Date().toISOString() });
      }
    },
    onEval(_ctx, log) {
      append({ kind: 'eval', step: log.step, imagesSeen: log.imagesSeen, ...log.metrics, isBest: log.isBest, time: new Date().toISOString() });
    },
  };
}

/**
 * Reads metrics.jsonl back. Lines that do not parse are not dropped in silence: a record glued
 * onto a torn line (files written before the tail repair) is recovered from the line, and what
 * cannot be read is passed to `onBad` (line number, text); a torn last line is the one expected case.
 */
export function readMetrics(file: string, onBad: (line: number, text: string) => void = () => {}): MetricsRecord[] {
  if (!fs.existsSync(file)) return [];
  const out: MetricsRecord[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
      return;
    } catch {
      /* torn, or torn with a record glued on: look for the record */
    }
    for (let at = line.lastIndexOf('{"kind":'); at > 0; at = line.lastIndexOf('{"kind":', at - 1)) {
      try {
        out.push(JSON.parse(line.slice(at)));
        onBad(i + 1, line.slice(0, at));
        return;
      } catch {
        /* not a whole record from here */
      }
    }
    onBad(i + 1, line);
  });
  return out;
}

/**
 * Checkpoints every `every` images, on a new best validation, on interrupt and at the end.
 * `config` and `extra()` are stored in state.json for --resume.
 */
export function checkpointer(o: { runDir: string; every: number; keep: number; config?: unknown; extra?: () => Record<string, unknown>; log?: (line: string) => void }): Callback & { manager: CheckpointManager } {
  const manager = new CheckpointManager(o.runDir, o.keep);
  let pendingBest = false;
  let lastSavedStep = -1;
  const data = (ctx: TrainContext) => ({
    model: ctx.model,
    meta: ctx.meta,
    optimizer: ctx.optimizer,
    state: { ...ctx.state },
    config: o.config,
    extraVars: ctx.extraVars,
    ema: ctx.ema,
    extra: o.extra?.() ?? {},
  });
  const save = async (ctx: TrainContext) => {
    const dir = await manager.save(data(ctx), { isBest: pendingBest });
    pendingBest = false;
    lastSavedStep = ctx.state.step;
    return dir;
  };
  return {
    manager,
    async onEval(ctx, log: EvalLog) {
      if (!log.isBest) return;
      // the start of a fine-tune (scored before step 1) is saved now: no step end follows with its weights
      if (ctx.state.step === 0) await manager.saveBest(data(ctx));
      else pendingBest = true;
    },
    async onStepEnd(ctx, log) {
      const before = log.imagesSeen - ctx.batchSize;
      if (Math.floor(log.imagesSeen / o.every) > Math.floor(before / o.every)) {
        await save(ctx);
      } else if (pendingBest) {
        await manager.saveBest(data(ctx));
        pendingBest = false;
      }
    },
    async onTrainEnd(ctx, r: TrainResult) {
      if (lastSavedStep !== ctx.state.step || pendingBest) {
        const dir = await save(ctx);
        if (r.stopReason === 'interrupted') o.log?.(`interrupted: checkpoint saved in ${dir}`);
      }
    },
  };
}

/** Stops when validation has not improved for `patience` evaluations. */
export function earlyStopping(patience: number, log?: (line: string) => void): Callback {
  return {
    onEval(ctx) {
      if (ctx.state.evalsSinceBest >= patience) {
        log?.(`early stop: no val mIoU improvement in ${patience} evaluation(s) (best ${ctx.state.bestScore?.toFixed(4)} at step ${ctx.state.bestStep})`);
        ctx.requestStop('early-stop');
      }
    },
  };
}

/** Redraws `file` (PNG, atomically) from metrics.jsonl on each evaluation and at the end. */
export function curvesPlot(file: string, metricsFile: string, title = '', reference: [number, number][] | null = null): Callback {
  const draw = async () => renderCurves(readMetrics(metricsFile), file, title, reference);
  return {
    onEval: draw,
    onTrainEnd: draw,
  };
}
