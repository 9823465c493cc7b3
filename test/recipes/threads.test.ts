import { strict as assert } from 'assert';
import * as os from 'os';
import { resolveConfig } from '../../src/config/load';
import { resolveThreads } from '../../src/recipes/run';

describe('train/teacher: threads for the data-parallel step', () => {
  const cfg = (threads: number, batchSize = 8) => resolveConfig({ flags: { threads, 'train.batchSize': batchSize } });

  it('an explicit count wins on wasm and cpu; 1 is always one thread', () => {
    assert.equal(resolveThreads(cfg(3), 'wasm', [256, 256]), 3);
    assert.equal(resolveThreads(cfg(2), 'cpu', [128, 128]), 2);
    assert.equal(resolveThreads(cfg(1), 'wasm', [128, 128]), 1);
  });

  it('native backends parallelise by themselves, and say so when threads were asked for', () => {
    const lines: string[] = [];
    assert.equal(resolveThreads(cfg(2), 'tensorflow', [128, 128], (l) => lines.push(l)), 1);
    assert.match(lines.join('\n'), /threads 2 ignored: the tensorflow backend parallelises by itself/);
  });

  it('auto: two threads only for wasm, batches >= 8 and frames up to 128x128 on a multi-core machine', () => {
    const multi = os.cpus().length >= 2;
    assert.equal(resolveThreads(cfg(0), 'wasm', [128, 128]), multi ? 2 : 1);
    assert.equal(resolveThreads(cfg(0), 'wasm', [256, 256]), 1);
    assert.equal(resolveThreads(cfg(0, 4), 'wasm', [128, 128]), 1);
    assert.equal(resolveThreads(cfg(0), 'cpu', [128, 128]), 1);
  });
});
