/**
 * Layered config resolution: defaults < JSON file (with `extends`) < --set a.b=c < named flags.
 * Every layer is validated against CONFIG_SCHEMA; errors name the key and, for files, the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CONFIG_SCHEMA, Config, defaultConfig } from './config';
import { ConfigError, fieldAt, FORBIDDEN_KEYS, forbiddenKeyError, kindOf, refuseForbiddenKeys, unwrap, validate, z } from './schema';
import { writeFileAtomic } from '../util/fs';

type Json = Record<string, unknown>;

/** Largest config file read (a config is a few KB; this stops /dev/zero-like files early). */
export const CONFIG_MAX_BYTES = 1 << 20;

function isPlainObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, everything else (arrays included) replaces. */
export function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // `out["__proto__"] = v` would replace out's prototype instead of adding a key
    if (FORBIDDEN_KEYS.includes(k)) throw forbiddenKeyError(k);
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Json, v) : v;
  }
  return out;
}

/**
 * Reads one JSON config file: a regular file (not a folder, FIFO or device) of at most
 * CONFIG_MAX_BYTES, UTF-8 with or without a byte-order mark, whose top level is an object
 * and which holds no key in FORBIDDEN_KEYS. Errors name the file.
 */
export function readConfigJson(file: string): Json {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new ConfigError(`config file not found: ${file}`);
  }
  if (!st.isFile()) throw new ConfigError(`${file}: not a regular file (a config is a JSON file)`);
  if (st.size > CONFIG_MAX_BYTES) throw new ConfigError(`${file}: ${st.size} bytes, larger than the ${CONFIG_MAX_BYTES} bytes a config may have`);
  // O_NONBLOCK: a FIFO swapped in after the stat cannot block the open; fstat then checks what was opened
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  let text: string;
  try {
    if (!fs.fstatSync(fd).isFile()) throw new ConfigError(`${file}: not a regular file (a config is a JSON file)`);
    const buf = Buffer.alloc(CONFIG_MAX_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = fs.readSync(fd, buf, n, buf.length - n, null);
    if (n > CONFIG_MAX_BYTES) throw new ConfigError(`${file}: larger than the ${CONFIG_MAX_BYTES} bytes a config may have`);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new ConfigError(`${file}: the top level must be a JSON object`);
  try {
    refuseForbiddenKeys(raw);
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  return raw;
}

/** Reads a JSON config file, following `extends` (relative to the file) with cycle detection. */
export function readConfigFile(file: string, seen: string[] = []): Json {
  const abs = path.resolve(file);
  if (seen.includes(abs)) throw new ConfigError(`${file}: "extends" cycle: ${[...seen, abs].join(' -> ')}`);
  const raw = readConfigJson(file);
  const { extends: parent, ...rest } = raw as Json & { extends?: unknown };
  let base: Json = {};
  if (parent !== undefined) {
    if (typeof parent !== 'string') throw new ConfigError(`${file}: "extends" must be a path string`);
    base = readConfigFile(path.resolve(path.dirname(abs), parent), [...seen, abs]);
  }
  // Validate this file's own keys early so the error names the file that holds them.
  try {
    validate(CONFIG_SCHEMA, deepMerge(base, rest));
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message}`);
    throw e;
  }
  return deepMerge(base, rest);
}

/** Parses the value of `--set key=value` according to the declaration at `key`. */
export function parseSetValue(schema: z.core.$ZodType, key: string, raw: string): unknown {
  const kind = kindOf(schema);
  if (raw === 'null' && unwrap(schema).nullable) return null;
  switch (kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new ConfigError(`${key}: expected a number, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new ConfigError(`${key}: expected true or false, got "${raw}"`);
    case 'string':
    case 'enum':
      return raw;
    default:
      try {
        return JSON.parse(raw);
      } catch {
        // Comma lists for arrays of scalars: --set data.frameSize=256,192
        if (kind === 'array' || kind === 'tuple') return raw.split(',').map((x) => (x.trim() !== '' && !Number.isNaN(Number(x)) ? Number(x) : x));
        throw new ConfigError(`${key}: expected JSON, got "${raw}"`);
      }
  }
}

/** Sets a dotted key in a plain object; `fieldAt` has refused FORBIDDEN_KEYS on the way. */
function setPath(obj: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!Object.prototype.hasOwnProperty.call(cur, p) || !isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Json;
  }
  cur[parts[parts.length - 1]] = value;
}

export interface ConfigSources {
  /** --config FILE */
  file?: string | null;
  /** --set a.b=c (repeatable) */
  set?: string[];
  /** Named flags already mapped to dotted keys, e.g. {'data.path': '...'}; undefined values are skipped. */
  flags?: Record<string, unknown>;
  /** A base to start from instead of the defaults (e.g. a resumed run's config). */
  base?: Json;
}

export function resolveConfig(src: ConfigSources = {}): Config {
  if (src.base) refuseForbiddenKeys(src.base);
  let merged: Json = src.base ?? (defaultConfig() as unknown as Json);
  if (src.file) merged = deepMerge(merged, readConfigFile(src.file));
  const overrides: Json = {};
  for (const item of src.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${item}: expected key=value, e.g. --set train.lr=0.001`);
    const key = item.slice(0, eq).trim();
    const value = parseSetValue(fieldAt(CONFIG_SCHEMA, key), key, item.slice(eq + 1));
    refuseForbiddenKeys(value, key);
    setPath(overrides, key, value);
  }
  for (const [key, value] of Object.entries(src.flags ?? {})) {
    if (value === undefined) continue;
    fieldAt(CONFIG_SCHEMA, key);
    setPath(overrides, key, value);
  }
  merged = deepMerge(merged, overrides);
  const cfg = validate(CONFIG_SCHEMA, merged);
  checkCrossFields(cfg);
  return cfg;
}

/** Rules that involve several keys (principle 3 in DEVELOPERS.md). Model-specific rules live with the model registry. */
export function checkCrossFields(cfg: Config): void {
  if (cfg.train.microBatch !== null && cfg.train.microBatch > cfg.train.batchSize) {
    throw new ConfigError(`train.microBatch (${cfg.train.microBatch}) must not exceed train.batchSize (${cfg.train.batchSize})`);
  }
  if (cfg.train.minLr > cfg.train.lr) throw new ConfigError(`train.minLr (${cfg.train.minLr}) must not exceed train.lr (${cfg.train.lr})`);
  const l = cfg.train.loss;
  if (l.bce + l.dice + l.lovasz + l.boundary <= 0) throw new ConfigError('train.loss: at least one of bce, dice, lovasz, boundary must be > 0');
  if (l.ignoreBand > 0 && l.lovasz > 0) throw new ConfigError(`train.loss.ignoreBand (${l.ignoreBand}) cannot be used with train.loss.lovasz > 0 (the Lovasz hinge ranks every pixel): set one of them to 0`);
  if (l.ignoreBand > 0 && l.boundary > 0 && l.boundaryWidth <= l.ignoreBand) {
    throw new ConfigError(`train.loss.boundaryWidth (${l.boundaryWidth}) must exceed train.loss.ignoreBand (${l.ignoreBand}) while train.loss.boundary > 0: the boundary term would count no pixel`);
  }
}

/** Writes the resolved config into a run folder (atomically). */
export function saveConfig(cfg: Config, dir: string, name = 'config.json'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileAtomic(file, JSON.stringify(cfg, null, 2) + '\n');
  return file;
}
