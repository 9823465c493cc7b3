import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadSample, openDataset, SampleCache } from '../../src/data';
import { rmrf, sample, tmpDir, writeFolders, writeImage } from './fixtures';

describe('data/cache', () => {
  let dir: string;
  let cacheDir: string;
  before(async () => {
    dir = tmpDir('cache');
    cacheDir = path.join(dir, 'cache');
    await writeFolders(path.join(dir, 'ds'), 2);
  });
  after(() => rmrf(dir));

  it('misses, then hits memory, then disk in a new cache, with identical bytes', async () => {
    const ds = await openDataset(path.join(dir, 'ds'));
    const opts = { frameSize: [16, 16] as [number, number], maskMode: 'binary' as const };
    const c1 = new SampleCache({ dir: cacheDir });
    const a = await c1.get(ds.refs[0], opts);
    assert.deepEqual(c1.stats, { memoryHits: 0, diskHits: 0, misses: 1, corrupt: 0 });
    await c1.get(ds.refs[0], opts);
    assert.equal(c1.stats.memoryHits, 1);
    const c2 = new SampleCache({ dir: cacheDir });
    const b = await c2.get(ds.refs[0], opts);
    assert.deepEqual(c2.stats, { memoryHits: 0, diskHits: 1, misses: 0, corrupt: 0 });
    assert.deepEqual(Buffer.from(b.image.data), Buffer.from(a.image.data));
    assert.deepEqual(Buffer.from(b.mask!.data), Buffer.from(a.mask!.data));
    const direct = await loadSample(ds.refs[0], opts);
    assert.deepEqual(Buffer.from(direct.image.data), Buffer.from(a.image.data));
    // another frame size is another entry
    await c2.get(ds.refs[0], { frameSize: [8, 8] });
    assert.equal(c2.stats.misses, 1);
  });

  it('a changed file misses; a corrupt entry is ignored and rewritten', async () => {
    const ds = await openDataset(path.join(dir, 'ds'));
    const ref = ds.refs[1];
    const opts = { frameSize: [16, 16] as [number, number] };
    const c1 = new SampleCache({ dir: cacheDir, memoryMB: 0 });
    await c1.get(ref, opts);
    await c1.get(ref, opts);
    assert.equal(c1.stats.diskHits, 1);
    // rewrite the image with other content (and a later mtime)
    await writeImage(ref.imagePath, sample(42).image);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(ref.imagePath, later, later);
    const fresh = await c1.get(ref, opts);
    assert.equal(c1.stats.misses, 2);
    assert.deepEqual(Buffer.from(fresh.image.data), Buffer.from((await loadSample(ref, opts)).image.data));
    // corrupt the entry on disk: flip bytes in the middle
    const file = c1.fileFor(c1.key(ref, opts))!;
    const buf = fs.readFileSync(file);
    for (let i = buf.length - 200; i < buf.length - 100; i++) buf[i] ^= 0xff;
    fs.writeFileSync(file, buf);
    const again = await c1.get(ref, opts);
    assert.equal(c1.stats.corrupt, 1);
    assert.deepEqual(Buffer.from(again.image.data), Buffer.from(fresh.image.data));
    // rewritten: the next read is a clean disk hit
    const c2 = new SampleCache({ dir: cacheDir, memoryMB: 0 });
    await c2.get(ref, opts);
    assert.deepEqual(c2.stats, { memoryHits: 0, diskHits: 1, misses: 0, corrupt: 0 });
    // truncated entry
    fs.truncateSync(file, 20);
    await c2.get(ref, opts);
    assert.equal(c2.stats.corrupt, 1);
  });
});
