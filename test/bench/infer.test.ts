import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { benchInfer, formatInferTable, Runner } from '../../src/bench/infer';

/** A one-conv runner: what matters here is the bookkeeping, not the model. */
function tinyRunner(label: string, fixedSize?: [number, number]): Runner {
  return {
    label,
    fixedSize,
    async build() {
      const inp = tf.input({ shape: [null, null, 3] });
      const model = tf.model({ inputs: inp, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(inp) as tf.SymbolicTensor });
      return { frame: (x) => tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor)), dispose: () => model.dispose() };
    },
  };
}

describe('bench/infer', () => {
  before(async () => {
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
  });

  it('measures every runner x size (fixed-size runners once), median with an injected clock, no leaks', async () => {
    let t = 0;
    const now = () => (t += 2); // each timed frame takes exactly 2 "ms" (start and end calls)
    const before = tf.memory().numTensors;
    const rows = await benchInfer({
      backends: ['cpu'],
      sizes: [
        [16, 8],
        [24, 16],
      ],
      runners: [tinyRunner('a'), tinyRunner('ref', [12, 12])],
      minRuns: 3,
      budgetMs: 0,
      now,
    });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(
      rows.map((r) => [r.model, r.backend, r.size.join('x'), r.runs]),
      [
        ['a', 'cpu', '16x8', 3],
        ['a', 'cpu', '24x16', 3],
        ['ref', 'cpu', '12x12', 3],
      ],
    );
    for (const r of rows) assert.equal(r.msPerFrame, 2);
    const table = formatInferTable(rows, [
      [16, 8],
      [24, 16],
    ]).split('\n');
    assert.equal(table[0], '| model | backend | 16x8 | 24x16 | 12x12 |');
    assert.equal(table[2], '| a | cpu | 2.0 ms | 2.0 ms |  |');
    assert.equal(table[3], '| ref | cpu |  |  | 2.0 ms |');
  });
});
