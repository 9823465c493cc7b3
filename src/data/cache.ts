/**
 * Decoded-sample cache: in memory (LRU, bounded in bytes) and on disk. Entries are keyed by
 * the files' absolute paths, mtimes and sizes, the frame size and the mask mode, so editing
 * a file or changing the frame size misses. A disk entry that fails its checks (bad magic,
 * other key, wrong length, checksum) is ignored, counted in stats.corrupt and rewritten.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Sample, SampleRef } from './types';
import { loadSample, LoadOptions } from './sample';
import { hash32 } from './split';
import { defaultConfig } from '../config/config';

const MAGIC = 'PSC1';

export interface CacheOptions {
  /** Folder of the on-disk cache; null = memory only; absent = the config default (data.cacheDir). */
  dir?: string | null;
  /** Memory budget in MiB (default 512). 0 disables the memory level. */
  memoryMB?: number;
}

export interface CacheStats {
  memoryHits: number;
  diskHits: number;
  misses: number;
  corrupt: number;
}

function statKey(p: string | null): string {
  if (!p) return '-';
  try {
    const st = fs.statSync(p);
    return `${path.resolve(p)}|${st.mtimeMs}|${st.size}`;
  } catch {
    return `${path.resolve(p)}|missing`;
  }
}

function checksum(buf: Uint8Array): number {
  // FNV-1a over bytes, strided for long buffers: catches truncation and most corruption cheaply.
  let h = 0x811c9dc5;
  const step = buf.length > 1 << 16 ? 7 : 1;
  for (let i = 0; i < buf.length; i += step) {
    h ^= buf[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SampleCache {
  readonly dir: string | null;
  readonly stats: CacheStats = { memoryHits: 0, diskHits: 0, misses: 0, corrupt: 0 };
  private mem = new Map<string, Sample>();
  /** Loads in flight, so concurrent requests for one sample decode it once. */
  private pending = new Map<string, Promise<Sample>>();
  private memBytes = 0;
  private readonly memLimit: number;

  constructor(opts: CacheOptions = {}) {
    this.dir = opts.dir === undefined ? defaultConfig().data.cacheDir : opts.dir;
    this.memLimit = (opts.memoryMB ?? 512) * 1024 * 1024;
  }

  /** The cache key of a ref at given load options. */
  key(ref: SampleRef, opts: LoadOptions): string {
    return [statKey(ref.imagePath), ref.maskFromAlpha ? 'alpha' : statKey(ref.maskPath), JSON.stringify(opts.frameSize ?? null), opts.maskMode ?? 'binary'].join('#');
  }

  fileFor(key: string): string | null {
    if (!this.dir) return null;
    return path.join(this.dir, `${crypto.createHash('sha1').update(key).digest('hex')}.psc`);
  }

  /** The sample for `ref`, from memory, disk or by decoding (and then stored in both). */
  async get(ref: SampleRef, opts: LoadOptions = {}): Promise<Sample> {
    const key = this.key(ref, opts);
    const m = this.mem.get(key);
    if (m) {
      this.stats.memoryHits++;
      this.mem.delete(key);
      this.mem.set(key, m);
      return m.id === ref.id ? m : { ...m, id: ref.id };
    }
    const file = this.fileFor(key);
    if (file) {
      const s = this.readDisk(file, key, ref.id);
      if (s) {
        this.stats.diskHits++;
        this.remember(key, s);
        return s;
      }
    }
    const inflight = this.pending.get(key);
    if (inflight) {
      this.stats.memoryHits++;
      const s = await inflight;
      return s.id === ref.id ? s : { ...s, id: ref.id };
    }
    this.stats.misses++;
    const p = loadSample(ref, opts).then((s) => {
      this.remember(key, s);
      if (file) this.writeDisk(file, key, s);
      return s;
    });
    this.pending.set(key, p);
    try {
      return await p;
    } finally {
      this.pending.delete(key);
    }
  }

  clearMemory(): void {
    this.mem.clear();
    this.memBytes = 0;
  }

  private remember(key: string, s: Sample): void {
    if (this.memLimit <= 0) return;
    const bytes = s.image.data.length + (s.mask?.data.length ?? 0);
    this.mem.set(key, s);
    this.memBytes += bytes;
    for (const [k, v] of this.mem) {
      if (this.memBytes <= this.memLimit) break;
      this.mem.delete(k);
      this.memBytes -= v.image.data.length + (v.mask?.data.length ?? 0);
    }
  }

  private readDisk(file: string, key: string, id: string): Sample | null {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch {
      return null;
    }
    try {
      if (buf.toString('latin1', 0, 4) !== MAGIC) throw new Error('magic');
      const keyLen = buf.readUInt32LE(4);
      if (buf.toString('utf8', 8, 8 + keyLen) !== key) throw new Error('key');
      let o = 8 + keyLen;
      const w = buf.readUInt32LE(o);
      const h = buf.readUInt32LE(o + 4);
      const hasMask = buf[o + 8];
      o += 9;
      const n = w * h;
      if (buf.length !== o + n * 3 + (hasMask ? n : 0) + 4) throw new Error('length');
      const payload = new Uint8Array(buf.buffer, buf.byteOffset + o, n * 3 + (hasMask ? n : 0));
      if (checksum(payload) !== buf.readUInt32LE(buf.length - 4)) throw new Error('checksum');
      const image = { width: w, height: h, data: new Uint8Array(payload.subarray(0, n * 3)) };
      const mask = hasMask ? { width: w, height: h, data: new Uint8Array(payload.subarray(n * 3)) } : null;
      return { id, image, mask };
    } catch {
      this.stats.corrupt++;
      return null;
    }
  }

  private writeDisk(file: string, key: string, s: Sample): void {
    const keyBuf = Buffer.from(key, 'utf8');
    const n = s.image.width * s.image.height;
    const payloadLen = n * 3 + (s.mask ? n : 0);
    const buf = Buffer.alloc(8 + keyBuf.length + 9 + payloadLen + 4);
    buf.write(MAGIC, 0, 'latin1');
    buf.writeUInt32LE(keyBuf.length, 4);
    keyBuf.copy(buf, 8);
    let o = 8 + keyBuf.length;
    buf.writeUInt32LE(s.image.width, o);
    buf.writeUInt32LE(s.image.height, o + 4);
    buf[o + 8] = s.mask ? 1 : 0;
    o += 9;
    buf.set(s.image.data, o);
    if (s.mask) buf.set(s.mask.data, o + n * 3);
    buf.writeUInt32LE(checksum(new Uint8Array(buf.buffer, buf.byteOffset + o, payloadLen)), buf.length - 4);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${hash32(key + Date.now())}.tmp`;
      fs.writeFileSync(tmp, buf);
      fs.renameSync(tmp, file);
    } catch {
      // A cache that cannot be written is only slower, never an error.
    }
  }
}
