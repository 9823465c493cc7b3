/**
 * A tiny schema language for typed, validated configs (principle 3 in DEVELOPERS.md).
 *
 * Every leaf knows its type and default; `validate` walks a user value against the
 * schema and reports the dotted path of the first bad key ("train.lr: expected a
 * number, got \"fast\""), including unknown keys with a did-you-mean.
 */

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Schema =
  | { kind: 'number'; default: number | null; min?: number; max?: number; integer?: boolean; nullable?: boolean; doc?: string }
  | { kind: 'string'; default: string | null; nullable?: boolean; doc?: string }
  | { kind: 'boolean'; default: boolean; doc?: string }
  | { kind: 'enum'; values: readonly string[]; default: string | null; nullable?: boolean; doc?: string }
  | { kind: 'array'; item: Schema; default: unknown[] | null; nullable?: boolean; minLength?: number; maxLength?: number; doc?: string }
  | { kind: 'object'; fields: Record<string, Schema>; doc?: string }
  /** Free-form map (e.g. model args); validated later by its owner (the model registry, a transform). */
  | { kind: 'record'; default: Record<string, unknown>; doc?: string };

type NumOpts = { min?: number; max?: number; doc?: string };

export const s = {
  num: (d: number, o: NumOpts = {}): Schema => ({ kind: 'number', default: d, ...o }),
  int: (d: number, o: NumOpts = {}): Schema => ({ kind: 'number', default: d, integer: true, ...o }),
  optNum: (d: number | null, o: NumOpts & { integer?: boolean } = {}): Schema => ({ kind: 'number', default: d, nullable: true, ...o }),
  str: (d: string, doc?: string): Schema => ({ kind: 'string', default: d, doc }),
  optStr: (d: string | null = null, doc?: string): Schema => ({ kind: 'string', default: d, nullable: true, doc }),
  bool: (d: boolean, doc?: string): Schema => ({ kind: 'boolean', default: d, doc }),
  oneOf: <T extends string>(values: readonly T[], d: T, doc?: string): Schema => ({ kind: 'enum', values, default: d, doc }),
  arr: (item: Schema, d: unknown[], o: { minLength?: number; maxLength?: number; doc?: string } = {}): Schema => ({ kind: 'array', item, default: d, ...o }),
  optArr: (item: Schema, d: unknown[] | null = null, o: { minLength?: number; maxLength?: number; doc?: string } = {}): Schema => ({ kind: 'array', item, default: d, nullable: true, ...o }),
  obj: (fields: Record<string, Schema>, doc?: string): Schema => ({ kind: 'object', fields, doc }),
  record: (d: Record<string, unknown> = {}, doc?: string): Schema => ({ kind: 'record', default: d, doc }),
};

/** Builds the default value described by a schema. */
export function defaults(schema: Schema): unknown {
  if (schema.kind === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema.fields)) out[k] = defaults(v);
    return out;
  }
  return structuredClone(schema.default);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length][b.length];
}

export function didYouMean(name: string, known: string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best && bestD <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/**
 * Validates `value` against `schema` and returns it with defaults filled in for
 * missing keys. Throws ConfigError naming the dotted path of the bad key.
 */
export function validate(schema: Schema, value: unknown, path = ''): unknown {
  const where = path || '<root>';
  switch (schema.kind) {
    case 'object': {
      if (value === undefined) return defaults(schema);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new ConfigError(`${where}: expected an object, got ${describe(value)}`);
      }
      const known = Object.keys(schema.fields);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value as object)) {
        if (!(key in schema.fields)) {
          const p = path ? `${path}.${key}` : key;
          throw new ConfigError(`${p}: unknown config key${didYouMean(key, known)}; known keys here: ${known.join(', ')}`);
        }
      }
      for (const [k, sub] of Object.entries(schema.fields)) {
        out[k] = validate(sub, (value as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      }
      return out;
    }
    case 'record': {
      if (value === undefined) return structuredClone(schema.default);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new ConfigError(`${where}: expected an object, got ${describe(value)}`);
      }
      return value;
    }
    default:
      break;
  }
  if (value === undefined) return structuredClone(schema.default);
  if (value === null) {
    if ('nullable' in schema && schema.nullable) return null;
    throw new ConfigError(`${where}: must not be null`);
  }
  switch (schema.kind) {
    case 'number': {
      if (typeof value !== 'number' || Number.isNaN(value)) throw new ConfigError(`${where}: expected a number, got ${describe(value)}`);
      // 1e400 parses (in --set, in JSON files, in yargs flags) to Infinity: never a sensible setting
      if (!Number.isFinite(value)) throw new ConfigError(`${where}: expected a finite number, got ${value}`);
      if (schema.integer && !Number.isInteger(value)) throw new ConfigError(`${where}: expected an integer, got ${value}`);
      if (schema.min !== undefined && value < schema.min) throw new ConfigError(`${where}: must be >= ${schema.min}, got ${value}`);
      if (schema.max !== undefined && value > schema.max) throw new ConfigError(`${where}: must be <= ${schema.max}, got ${value}`);
      return value;
    }
    case 'string':
      if (typeof value !== 'string') throw new ConfigError(`${where}: expected a string, got ${describe(value)}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${describe(value)}`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) {
        throw new ConfigError(`${where}: expected one of ${schema.values.join('|')}, got ${describe(value)}${typeof value === 'string' ? didYouMean(value, [...schema.values]) : ''}`);
      }
      return value;
    case 'array': {
      if (!Array.isArray(value)) throw new ConfigError(`${where}: expected an array, got ${describe(value)}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) throw new ConfigError(`${where}: needs at least ${schema.minLength} items, got ${value.length}`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) throw new ConfigError(`${where}: takes at most ${schema.maxLength} items, got ${value.length}`);
      return value.map((item, i) => validate(schema.item, item, `${where}[${i}]`));
    }
    default:
      throw new Error('unreachable');
  }
}

/** Finds the schema at a dotted path, or throws naming the first unknown segment. */
export function schemaAt(schema: Schema, path: string): Schema {
  let cur: Schema = schema;
  const parts = path.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (cur.kind === 'record') return { kind: 'record', default: {} };
    if (cur.kind !== 'object') throw new ConfigError(`${parts.slice(0, i).join('.')}: is not an object, cannot set ${path}`);
    const next: Schema | undefined = cur.fields[parts[i]];
    if (!next) {
      const p = parts.slice(0, i + 1).join('.');
      throw new ConfigError(`${p}: unknown config key${didYouMean(parts[i], Object.keys(cur.fields))}`);
    }
    cur = next;
  }
  return cur;
}
