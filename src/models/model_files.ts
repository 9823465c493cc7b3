/**
 * The one rule for the files a TensorFlow.js model.json names (issue 18): every weight shard in
 * its `weightsManifest` is a regular file whose real path lies inside the real path of the
 * model.json's folder, and the shards of each manifest group hold exactly the bytes its weights
 * need, checked from their sizes before a byte is read. model.json itself is a regular file of at
 * most MAX_MODEL_JSON_BYTES. Used by every reader of a model.json: our model folders
 * (src/models/io.ts), the graph-model importer and its reference (src/models/import), the export's
 * reload (src/export/tfjs.ts) and external models in eval (through io.ts).
 *
 * So `../secret/x.bin`, `../../../../etc/passwd`, a link to /dev/zero, a FIFO (which would block
 * the read forever) and a shard with bytes appended or cut off are each one line naming the
 * model.json and the path, never read.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../config/schema';

/** A model file that cannot be used (corrupt weights, invalid portraitseg.json, a shard outside its folder): a user-fixable input, exit 2. */
export class ModelFileError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFileError';
  }
}

/** model.json and portraitseg.json are read whole: larger files are refused (a graph model's topology is a few MB). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/** Bytes per value of a manifest entry (tfjs-core io's DTYPE_VALUE_SIZE_MAP; quantised weights by their stored dtype). */
const VALUE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a small file that must be a regular file (not a FIFO, a device or a folder) of at most
 * `maxBytes`; checked before it is opened, and again on the open descriptor.
 */
export function readRegularFile(file: string, maxBytes: number, what = 'file'): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFileError(code === 'ENOENT' ? `${what} not found: ${file}` : `${file}: cannot read it (${code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new ModelFileError(`${file}: ${kindOf(st)}, expected a regular ${what}`);
  if (st.size > maxBytes) throw new ModelFileError(`${file}: ${st.size} bytes, over the ${maxBytes}-byte limit of a ${what}`);
  return readExactly(file, st.size, maxBytes, what);
}

/** Opens without blocking (a FIFO swapped in after the stat), checks the descriptor, reads `size` bytes and no more. */
function readExactly(file: string, size: number, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new ModelFileError(`${file}: cannot open it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ModelFileError(`${file}: ${kindOf(st)}, expected a regular ${what}`);
    if (st.size !== size || st.size > maxBytes) throw new ModelFileError(`${file}: changed while it was read (${size} then ${st.size} bytes)`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) throw new ModelFileError(`${file}: ended after ${off} of ${size} bytes while it was read`);
      off += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses a model.json (a regular file under MAX_MODEL_JSON_BYTES; a UTF-8 byte-order mark is allowed). */
export function readModelJson(file: string): Record<string, unknown> {
  const text = readRegularFile(file, MAX_MODEL_JSON_BYTES, 'model.json').toString('utf8').replace(/^\uFEFF/, '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ModelFileError(`${file}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/**
 * Bytes one manifest entry occupies in its shards; throws naming the entry when it cannot be sized
 * up front (string weights, whose size only their bytes tell, are not supported).
 */
function entryBytes(modelJson: string, w: unknown, where: string): number {
  const e = w as Partial<tf.io.WeightsManifestEntry> | null;
  if (!e || typeof e !== 'object' || typeof e.name !== 'string') throw new ModelFileError(`${modelJson}: ${where}: expected {name, shape, dtype}`);
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ModelFileError(`${modelJson}: weight "${e.name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  const dtype = e.quantization ? e.quantization.dtype : e.dtype;
  const per = typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(VALUE_BYTES, dtype) ? VALUE_BYTES[dtype] : 0;
  if (!per || (e.quantization && !['float32', 'int32', undefined].includes(e.dtype))) {
    throw new ModelFileError(`${modelJson}: weight "${e.name}": dtype ${JSON.stringify(e.dtype)}${e.quantization ? ` quantised as ${JSON.stringify(dtype)}` : ''} is not supported`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(n * per)) throw new ModelFileError(`${modelJson}: weight "${e.name}": shape [${shape.join(',')}] is too large`);
  return n * per;
}

/**
 * The real path of one shard, checked: inside `realDir`, a regular file. `p` is the manifest's
 * spelling (relative to the model.json's folder).
 */
function checkedShard(modelJson: string, dir: string, realDir: string, p: unknown): { file: string; size: number } {
  if (typeof p !== 'string' || p === '' || p.includes('\0')) throw new ModelFileError(`${modelJson}: weightsManifest path ${JSON.stringify(p)} is not a file name`);
  const spelled = path.resolve(dir, p);
  let real: string;
  try {
    real = fs.realpathSync(spelled);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFileError(`${modelJson}: weight shard missing: ${spelled}`);
    throw new ModelFileError(`${modelJson}: weight shard ${p}: cannot resolve it (${code ?? (e as Error).message})`);
  }
  const rel = path.relative(realDir, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new ModelFileError(`${modelJson}: weight shard "${p}" is outside the model's folder (${real}): a model.json may only name files inside its folder`);
  }
  const st = fs.statSync(real);
  if (!st.isFile()) throw new ModelFileError(`${modelJson}: weight shard "${p}" is ${kindOf(st)}, expected a regular file`);
  return { file: real, size: st.size };
}

/**
 * Reads the weight shards a model.json's `weightsManifest` names, each group checked (see the
 * file comment) before anything is read. Returns the weight specs in manifest order and their
 * bytes concatenated, what tf.io.decodeWeights and ModelArtifacts take.
 */
export function readWeightShards(modelJson: string, json: Record<string, unknown>): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new ModelFileError(`${modelJson}: weightsManifest: expected a list of {paths, weights}`);
  const dir = path.dirname(path.resolve(modelJson));
  const realDir = fs.realpathSync(dir);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const groups: { files: { file: string; size: number }[]; need: number }[] = [];
  let total = 0;
  manifest.forEach((group: unknown, gi: number) => {
    const g = group as { paths?: unknown; weights?: unknown } | null;
    if (!g || typeof g !== 'object' || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new ModelFileError(`${modelJson}: weightsManifest[${gi}]: expected {paths: [...], weights: [...]}`);
    }
    const need = g.weights.reduce((n: number, w: unknown, wi: number) => n + entryBytes(modelJson, w, `weightsManifest[${gi}].weights[${wi}]`), 0);
    const files = g.paths.map((p: unknown) => checkedShard(modelJson, dir, realDir, p));
    const have = files.reduce((n, f) => n + f.size, 0);
    if (have !== need) {
      throw new ModelFileError(
        `${modelJson}: weightsManifest[${gi}]: its shards (${(g.paths as string[]).join(', ')}) hold ${have} bytes, its weights need ${need}: a shard is truncated, has bytes appended, or belongs to another model`,
      );
    }
    specs.push(...(g.weights as tf.io.WeightsManifestEntry[]));
    groups.push({ files, need });
    total += need;
  });
  const out = new Uint8Array(total);
  let off = 0;
  for (const g of groups) {
    for (const f of g.files) {
      out.set(readExactly(f.file, f.size, f.size, 'weight shard'), off);
      off += f.size;
    }
  }
  return { specs, data: out.buffer };
}
