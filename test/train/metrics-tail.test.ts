/**
 * metrics.jsonl after a crash (src/train/callbacks.ts): a torn last line is repaired before a
 * resumed run appends, so its first record is not glued onto the torn text, and the reader never
 * drops a record in silence.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { metricsJsonl, readMetrics } from '../../src/train/callbacks';
import type { StepLog, TrainContext } from '../../src/train/loop';

function step(n: number): StepLog {
  return { step: n, imagesSeen: 2 * n, loss: 1 / n, parts: {}, lr: 0.001, gradNorm: 1, imagesPerSec: 4, elapsedSec: n, etaSec: 0 } as unknown as StepLog;
}
const ctx = { totalImages: 1000 } as unknown as TrainContext;

describe('train: metrics.jsonl after a crash', () => {
  let root = '';
  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-metrics-'))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('--resume after a torn last line: the line is cut off with a message and every new record reads back', () => {
    const file = path.join(root, 'metrics.jsonl');
    const first = metricsJsonl(file, 1);
    first.onTrainBegin?.(ctx);
    for (const n of [1, 2]) first.onStepEnd?.(ctx, step(n));
    // the crash: the third record was cut halfway through its write
    const rec3 = JSON.stringify({ kind: 'step', step: 3, imagesSeen: 6, loss: 0.3 });
    fs.appendFileSync(file, rec3.slice(0, 20));
    const lines: string[] = [];
    const resumed = metricsJsonl(file, 1, (l) => lines.push(l));
    resumed.onTrainBegin?.(ctx);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /metrics\.jsonl: removed a torn last line \(20 bytes, cut by a crash while it was written\)/);
    for (const n of [3, 4]) resumed.onStepEnd?.(ctx, step(n));
    const bad: number[] = [];
    assert.deepEqual(
      readMetrics(file, (l) => bad.push(l)).map((r) => r.step),
      [1, 2, 3, 4],
    );
    assert.deepEqual(bad, [], 'every line reads');
    // a last line that is whole JSON, only its newline lost, is kept
    fs.appendFileSync(file, JSON.stringify({ kind: 'eval', step: 4, imagesSeen: 8, miou: 0.5 }));
    metricsJsonl(file, 1, (l) => lines.push(l)).onTrainBegin?.(ctx);
    assert.match(lines[1], /lacked a newline .*: completed it/);
    assert.deepEqual(readMetrics(file).map((r) => `${r.kind}${r.step}`), ['step1', 'step2', 'step3', 'step4', 'eval4']);
  });

  it('a file written before the repair (a record glued onto a torn line): the record is recovered, the torn text reported', () => {
    const file = path.join(root, 'glued.jsonl');
    const rec = (n: number) => JSON.stringify({ kind: 'step', step: n, imagesSeen: 2 * n, loss: 1 / n });
    fs.writeFileSync(file, `${rec(1)}\n${rec(2).slice(0, 15)}${rec(3)}\n${rec(4)}\nnot json at all\n`);
    const bad: [number, string][] = [];
    assert.deepEqual(
      readMetrics(file, (n, t) => bad.push([n, t])).map((r) => r.step),
      [1, 3, 4],
    );
    assert.deepEqual(bad, [
      [2, rec(2).slice(0, 15)],
      [4, 'not json at all'],
    ]);
  });
});
