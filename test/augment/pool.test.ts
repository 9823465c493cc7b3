import { strict as assert } from 'assert';
import * as path from 'path';
import { DataLoader, HostBatch, openDataset, SampleRef } from '../../src/data';
import { AugmentPool, buildPipeline } from '../../src/augment';
import { DEFAULT_AUGMENT } from '../../src/config/config';
import { rmrf, tmpDir, writeFolders } from '../data/fixtures';

async function take(it: AsyncIterableIterator<HostBatch>, n: number): Promise<HostBatch[]> {
  const out: HostBatch[] = [];
  for (let i = 0; i < n; i++) out.push((await it.next()).value as HostBatch);
  await it.return?.();
  return out;
}

describe('data/pool: augmentation in worker threads', () => {
  let dir: string;
  let refs: SampleRef[];
  let pool: AugmentPool | null = null;
  before(async () => {
    dir = tmpDir('pool');
    await writeFolders(path.join(dir, 'ds'), 4);
    refs = (await openDataset(path.join(dir, 'ds'))).refs;
  });
  after(async () => {
    await pool?.close();
    rmrf(dir);
  });

  it('gives the same bytes as the in-thread pipeline', async () => {
    pool = new AugmentPool({ specs: DEFAULT_AUGMENT, backgrounds: null, workers: 2 });
    const base = { frameSize: [16, 16] as [number, number], batchSize: 3, seed: 'pool' };
    const inThread = await take(new DataLoader(refs, { ...base, augment: buildPipeline(DEFAULT_AUGMENT, { backgrounds: [] }) }).stream(), 3);
    const viaPool = await take(new DataLoader(refs, { ...base, augmentPool: pool }).stream(), 3);
    const plain = await take(new DataLoader(refs, base).stream(), 3);
    assert.ok(plain.some((b, i) => !Buffer.from(b.images.buffer).equals(Buffer.from(inThread[i].images.buffer))), 'augmentation changed nothing');
    for (let i = 0; i < 3; i++) {
      assert.ok(Buffer.from(viaPool[i].images.buffer).equals(Buffer.from(inThread[i].images.buffer)), `batch ${i} images differ`);
      assert.ok(Buffer.from(viaPool[i].masks.buffer).equals(Buffer.from(inThread[i].masks.buffer)), `batch ${i} masks differ`);
    }
  });
});
