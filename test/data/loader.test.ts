import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { DataError, DataLoader, HostBatch, inspectDataset, loadSample, openDataset, Sample, SampleCache, SampleRef } from '../../src/data';
import type { Rng } from '../../src/util/rng';
import { rmrf, sample, tmpDir, writeFolders, writeImage, writeMask, writeTruncatedJpeg } from './fixtures';

/** A stand-in augmentation that depends on its rng: brightness shift + random horizontal flip. */
function augment(s: Sample, rng: Rng): Sample {
  const shift = rng.int(-40, 40);
  const flip = rng.chance(0.5);
  const { width: w, height: h } = s.image;
  const img = new Uint8Array(s.image.data.length);
  const msk = s.mask ? new Uint8Array(s.mask.data.length) : null;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = flip ? w - 1 - x : x;
      for (let c = 0; c < 3; c++) img[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, s.image.data[(y * w + sx) * 3 + c] + shift));
      if (msk) msk[y * w + x] = s.mask!.data[y * w + sx];
    }
  }
  return { id: s.id, image: { width: w, height: h, data: img }, mask: msk ? { width: w, height: h, data: msk } : null };
}

function bytes(b: HostBatch): Buffer {
  return Buffer.concat([Buffer.from(b.images.buffer), Buffer.from(b.masks.buffer), Buffer.from(b.hasMask), Buffer.from(b.ids.join(','))]);
}

async function take(it: AsyncIterableIterator<HostBatch>, n: number): Promise<HostBatch[]> {
  const out: HostBatch[] = [];
  for (let i = 0; i < n; i++) out.push((await it.next()).value as HostBatch);
  await it.return?.();
  return out;
}

describe('data/loader', () => {
  let dir: string;
  let refs: SampleRef[];
  before(async () => {
    dir = tmpDir('loader');
    await writeFolders(path.join(dir, 'ds'), 5);
    refs = (await openDataset(path.join(dir, 'ds'))).refs;
  });
  after(() => rmrf(dir));

  it('yields [B,H,W,3] images and [B,H,W,1] masks in 0..1', async () => {
    const dl = new DataLoader(refs, { frameSize: [12, 16], batchSize: 3, seed: 1 });
    const [b] = await take(dl.stream(), 1);
    assert.equal(b.size, 3);
    assert.equal(b.height, 12);
    assert.equal(b.width, 16);
    assert.equal(b.images.length, 3 * 12 * 16 * 3);
    assert.equal(b.masks.length, 3 * 12 * 16);
    assert.deepEqual(Array.from(b.hasMask), [1, 1, 1]);
    assert.ok(b.images.every((v) => v >= 0 && v <= 1));
    assert.ok(b.masks.every((v) => v === 0 || v === 1));
    assert.ok(b.masks.some((v) => v === 1));
  });

  it('covers every sample once per epoch, in a seeded order that differs by epoch', async () => {
    const dl = new DataLoader(refs, { frameSize: [8, 8], batchSize: 5, seed: 9 });
    const [e0, e1] = await take(dl.stream(), 2);
    assert.deepEqual([...e0.ids].sort(), refs.map((r) => r.id).sort());
    assert.deepEqual([...e1.ids].sort(), refs.map((r) => r.id).sort());
    assert.notDeepEqual(dl.epochOrder(0), dl.epochOrder(1));
    assert.deepEqual(new DataLoader(refs, { frameSize: [8, 8], batchSize: 5, seed: 9 }).epochOrder(3), dl.epochOrder(3));
  });

  it('resuming at batch k gives byte-identical batches to an uninterrupted run (with augmentation)', async () => {
    const mk = () => new DataLoader(refs, { frameSize: [12, 16], batchSize: 3, seed: 'resume', augment, prefetch: 2 });
    const full = await take(mk().stream(), 7); // crosses epoch boundaries (5 samples, batches of 3)
    const resumed = await take(mk().stream(4), 3);
    for (let i = 0; i < 3; i++) assert.ok(bytes(resumed[i]).equals(bytes(full[4 + i])), `batch ${4 + i} differs after resume`);
    const other = await take(new DataLoader(refs, { frameSize: [12, 16], batchSize: 3, seed: 'other', augment }).stream(), 1);
    assert.ok(!bytes(other[0]).equals(bytes(full[0])));
  });

  it('once() is one ordered pass without augmentation, last batch smaller; unlabeled rows have hasMask 0', async () => {
    const mixed: SampleRef[] = [...refs, { id: 'u', imagePath: refs[0].imagePath, maskPath: null }];
    const dl = new DataLoader(mixed, { frameSize: [8, 8], batchSize: 4, seed: 1, augment: () => assert.fail('no augmentation in once()') });
    const batches: HostBatch[] = [];
    for await (const b of dl.once()) batches.push(b);
    assert.deepEqual(batches.map((b) => b.size), [4, 2]);
    assert.deepEqual(batches.flatMap((b) => b.ids), mixed.map((r) => r.id));
    assert.deepEqual(Array.from(batches[1].hasMask), [1, 0]);
    assert.ok(batches[1].masks.subarray(64).every((v) => v === 0));
  });

  it('uses a SampleCache when given one', async () => {
    const cache = new SampleCache({ dir: null });
    const dl = new DataLoader(refs, { frameSize: [8, 8], batchSize: 5, seed: 1, cache });
    await take(dl.stream(), 2);
    assert.equal(cache.stats.misses, 5, 'each file decoded once, also with batches prefetched in parallel');
    assert.ok(cache.stats.memoryHits >= 5);
  });

  it('empty and full masks: left out by the loader (training and validation) as by data inspect, with the same report', async () => {
    const tdir = path.join(dir, 'trivial');
    await writeFolders(tdir, 3);
    const s = sample(4);
    await writeImage(path.join(tdir, 'images', 'black.jpg'), s.image);
    await writeMask(path.join(tdir, 'masks', 'black.png'), new Uint8Array(32 * 24), 32, 24);
    await writeImage(path.join(tdir, 'images', 'white.jpg'), s.image);
    await writeMask(path.join(tdir, 'masks', 'white.png'), new Uint8Array(32 * 24).fill(255), 32, 24);
    // almost empty: one person pixel is data (the same threshold, > 127, in both)
    await writeImage(path.join(tdir, 'images', 'speck.jpg'), s.image);
    await writeMask(path.join(tdir, 'masks', 'speck.png'), new Uint8Array(32 * 24).fill(128, 100, 101), 32, 24);
    const inspectLines: string[] = [];
    const report = await inspectDataset(tdir, { out: path.join(dir, 'trivial-inspect'), sheetCount: 0, log: (l) => inspectLines.push(l) });
    const inspected = report.bad.map((b) => `${path.basename(b.path)}: ${b.reason}`).sort();
    assert.deepEqual(inspected, ['black.png: mask has no person pixels (empty mask)', 'white.png: mask is person everywhere (full mask)']);

    const trefs = (await openDataset(tdir)).refs;
    assert.equal(trefs.length, 6, 'pairing alone keeps them (no decoding)');
    const lines: string[] = [];
    const dl = new DataLoader(trefs, { frameSize: [8, 8], batchSize: 6, seed: 3, shuffle: false, log: (l) => lines.push(l) });
    const [b] = await take(dl.stream(), 1);
    assert.ok(!b.ids.includes('black') && !b.ids.includes('white'), b.ids.join(','));
    assert.ok(b.ids.includes('speck'));
    const reported = lines.map((l) => l.replace(/^skip /, '')).map((l) => `${path.basename(l.split(': ')[0])}: ${l.split(': ').slice(1).join(': ')}`).sort();
    assert.deepEqual(reported, inspected, 'the loader reports them as data inspect does');
    for (const l of lines) assert.ok(inspectLines.includes(l), `not the inspect line: ${l}`);
    const val: string[] = [];
    for await (const vb of dl.once(6)) val.push(...vb.ids);
    assert.deepEqual(val.sort(), ['0', '1', '2', 'speck']);
    const vlines: string[] = [];
    const vl = new DataLoader(trefs, { frameSize: [8, 8], batchSize: 6, seed: 3, log: (l) => vlines.push(l) });
    for (let pass = 0; pass < 2; pass++) {
      const ids: string[] = [];
      for await (const vb of vl.once(2)) ids.push(...vb.ids);
      assert.deepEqual(ids.sort(), ['0', '1', '2', 'speck'], `validation pass ${pass}`);
    }
    assert.equal(vlines.length, 2, `reported once over two validation passes: ${vlines.join(' | ')}`);
    await assert.rejects(loadSample(trefs.find((r) => r.id === 'white')!), (e: Error) => e instanceof DataError && /white\.png: mask is person everywhere/.test(e.message));
    const strict = new DataLoader(trefs, { frameSize: [8, 8], batchSize: 6, seed: 3, shuffle: false, strict: true });
    await assert.rejects(take(strict.stream(), 1), (e: Error) => e instanceof DataError && /(black|white)\.png/.test(e.message));
  });

  it('a file that breaks during training is reported and replaced; strict throws DataError', async () => {
    const bdir = path.join(dir, 'broken');
    await writeFolders(bdir, 3);
    const brefs = (await openDataset(bdir)).refs;
    await writeTruncatedJpeg(brefs[1].imagePath, sample(1).image);
    const lines: string[] = [];
    const dl = new DataLoader(brefs, { frameSize: [8, 8], batchSize: 3, seed: 2, log: (l) => lines.push(l) });
    const [b] = await take(dl.stream(), 1);
    assert.equal(b.size, 3);
    assert.ok(!b.ids.includes(brefs[1].id));
    assert.ok(lines.some((l) => l.includes(brefs[1].imagePath) && /corrupt/.test(l)), lines.join('\n'));
    const strict = new DataLoader(brefs, { frameSize: [8, 8], batchSize: 3, seed: 2, strict: true });
    await assert.rejects(take(strict.stream(), 1), (e: Error) => e instanceof DataError && e.message.includes(brefs[1].imagePath));
    await writeImage(brefs[1].imagePath, sample(1).image);
    assert.ok(fs.existsSync(brefs[1].imagePath));
  });
});
