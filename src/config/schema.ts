/**
 * Declarations and their messages (STYLE.md §3). Every typed setting (the config, transform
 * parameters, model arguments, portraitseg.json) is declared once with zod: the TypeScript type
 * is inferred from the declaration (`z.output<typeof X>`) and `validate` checks a value against
 * it. This module turns zod's issues into our one-line messages: the key path of the first bad
 * key ("train.lr: expected a number, got \"fast\""), unknown keys with a did-you-mean, and the
 * error class the CLI prints and exits 2 on (ConfigError).
 *
 * Wording rules, by issue:
 *  - wrong type: "expected a number|an integer|true or false|a string|an object|an array, got X";
 *    null where none is allowed: "must not be null"; Infinity: "expected a finite number";
 *  - bounds: "must be >= N, got V" ("> N" when exclusive), "needs at least N items, got L";
 *  - tuples: "expected an array of N numbers, got X";
 *  - enums: "expected one of a|b|c, got \"x\"" and a did-you-mean;
 *  - a schema with `.meta({ expected: '...' })` reports any problem inside it as
 *    "expected <that>, got <its value>" (e.g. model.args.inputSize: a number or a pair);
 *  - unknown keys: "a.b: unknown config key (did you mean ...); known keys here: ..." unless the
 *    caller words it (transform parameters, model arguments).
 */
import { z } from 'zod';

export { z };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
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

/** A value as a message shows it: strings quoted, short arrays as JSON. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const s = JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
    return s !== undefined && s.length <= 60 ? s : `an array of ${v.length} items`;
  }
  if (typeof v === 'object') return 'an object';
  return String(v);
}

// ---------------------------------------------------------------- keys that are never settings

/**
 * Keys that would reach an object's prototype when assigned (`obj["__proto__"] = v`): refused on
 * every path of a config, in JSON files and `--set` alike (issue #18).
 */
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export function forbiddenKeyError(keyPath: string): ConfigError {
  return new ConfigError(`${keyPath}: unknown config key (${FORBIDDEN_KEYS.map((k) => `"${k}"`).join(', ')} are refused on every path)`);
}

/** Throws naming the first own key in FORBIDDEN_KEYS anywhere inside `value` (parsed JSON). */
export function refuseForbiddenKeys(value: unknown, at = ''): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => refuseForbiddenKeys(v, `${at}[${i}]`));
    return;
  }
  for (const key of Object.keys(value)) {
    const p = at ? `${at}.${key}` : key;
    if (FORBIDDEN_KEYS.includes(key)) throw forbiddenKeyError(p);
    refuseForbiddenKeys((value as Record<string, unknown>)[key], p);
  }
}

// ---------------------------------------------------------------- introspection

type Any = z.core.$ZodType;
type Def = { type: string; innerType?: Any; in?: Any; out?: Any; shape?: Record<string, Any>; element?: Any; items?: Any[]; valueType?: Any };

const defOf = (s: Any): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under default/optional/nullable/preprocess wrappers, and whether null is allowed. */
export function unwrap(s: Any): { base: Any; nullable: boolean } {
  let nullable = false;
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (d.type === 'nullable') nullable = true;
    if (d.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch'].includes(d.type)) cur = d.innerType;
    else if (d.type === 'pipe' && d.out) cur = defOf(d.in!).type === 'transform' ? d.out : d.in!;
    else return { base: cur, nullable };
  }
}

export type LeafKind = 'number' | 'boolean' | 'string' | 'enum' | 'array' | 'tuple' | 'object' | 'record' | 'other';

export function kindOf(s: Any): LeafKind {
  const t = defOf(unwrap(s).base).type;
  return (['number', 'boolean', 'string', 'enum', 'array', 'tuple', 'object', 'record'] as string[]).includes(t) ? (t as LeafKind) : 'other';
}

/** The keys an object schema declares. */
export function keysOf(s: Any): string[] {
  return Object.keys(defOf(unwrap(s).base).shape ?? {});
}

/** One step down: an object's field, an array's element, a tuple's item, a record's value. */
function child(s: Any, key: string | number): Any | undefined {
  const d = defOf(unwrap(s).base);
  if (d.type === 'object') return typeof key === 'string' && Object.prototype.hasOwnProperty.call(d.shape, key) ? d.shape![key] : undefined;
  if (d.type === 'array') return d.element;
  if (d.type === 'tuple') return typeof key === 'number' ? d.items![key] : undefined;
  if (d.type === 'record') return d.valueType;
  return undefined;
}

/** The `expected` note a schema (or one of its wrappers) carries, if any. */
function expectedNote(s: Any): string | undefined {
  let cur: Any | undefined = s;
  while (cur) {
    const m = z.globalRegistry.get(cur) as { expected?: string } | undefined;
    if (m?.expected) return m.expected;
    const d = defOf(cur);
    cur = d.innerType ?? (d.type === 'pipe' ? d.out : undefined);
  }
  return undefined;
}

/**
 * The declaration at a dotted config key (for `--set`), or throws naming the first unknown
 * segment. Below a free-form record (model.args) every key is allowed: its owner checks it.
 */
export function fieldAt(schema: Any, dotted: string): Any {
  const parts = dotted.split('.');
  let cur = schema;
  for (let i = 0; i < parts.length; i++) {
    const p = parts.slice(0, i + 1).join('.');
    if (FORBIDDEN_KEYS.includes(parts[i])) throw forbiddenKeyError(p);
    const kind = kindOf(cur);
    if (kind === 'record') {
      // the rest of the path is the owner's business; only the reserved names are refused here
      for (let j = i + 1; j < parts.length; j++) if (FORBIDDEN_KEYS.includes(parts[j])) throw forbiddenKeyError(parts.slice(0, j + 1).join('.'));
      return z.unknown();
    }
    if (kind !== 'object') throw new ConfigError(`${parts.slice(0, i).join('.')}: is not an object, cannot set ${dotted}`);
    const next = child(cur, parts[i]);
    if (!next) throw new ConfigError(`${p}: unknown config key${didYouMean(parts[i], keysOf(cur))}`);
    cur = next;
  }
  return cur;
}

// ---------------------------------------------------------------- validation

export interface ValidateOptions {
  /** Key path of the value (`model.args`, `augment.train[2]`); '' for a whole config. */
  at?: string;
  /** Wording of an unknown key at `keyPath`, given the keys known there. */
  unknownKey?: (keyPath: string, key: string, known: string[]) => string;
  /** Error class thrown (a ConfigError subclass, e.g. ModelFileError). */
  error?: new (message: string) => ConfigError;
}

function joinPath(at: string, path: readonly PropertyKey[]): string {
  let out = at;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

function valueAt(v: unknown, path: readonly PropertyKey[]): unknown {
  let cur = v;
  for (const seg of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[seg] : undefined;
  return cur;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  string: 'a string',
  object: 'an object',
  record: 'an object',
  array: 'an array',
};

function tupleWords(s: Any): string {
  const items = defOf(unwrap(s).base).items ?? [];
  return `an array of ${items.length} ${items.every((i) => kindOf(i) === 'number') ? 'numbers' : 'items'}`;
}

/** One line for one zod issue; `input` is the whole value checked. */
function message(schema: Any, input: unknown, issue: z.core.$ZodIssue, o: ValidateOptions): string {
  const at = o.at ?? '';
  // the nearest enclosing declaration with an `expected` note speaks for everything inside it
  for (let n = 0; n <= issue.path.length; n++) {
    let s: Any | undefined = schema;
    for (const seg of issue.path.slice(0, n)) s = s && child(s, seg as string | number);
    const note = s && expectedNote(s);
    if (note && issue.code !== 'unrecognized_keys') {
      return `${joinPath(at, issue.path.slice(0, n)) || '<root>'}: expected ${note}, got ${describeValue(valueAt(input, issue.path.slice(0, n)))}`;
    }
  }
  const where = joinPath(at, issue.path) || '<root>';
  const v = valueAt(input, issue.path);
  let here: Any | undefined = schema;
  for (const seg of issue.path) here = here && child(here, seg as string | number);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0];
      const keyPath = joinPath(at, [...issue.path, key]);
      const known = here ? keysOf(here) : [];
      if (FORBIDDEN_KEYS.includes(key)) return forbiddenKeyError(keyPath).message;
      if (o.unknownKey) return o.unknownKey(keyPath, key, known);
      return `${keyPath}: unknown config key${didYouMean(key, known)}; known keys here: ${known.join(', ')}`;
    }
    case 'invalid_type': {
      if (v === null) return `${where}: must not be null`;
      if (v === undefined) return `${where}: missing, expected ${here && kindOf(here) === 'tuple' ? tupleWords(here) : TYPE_WORDS[issue.expected] ?? issue.expected}`;
      if (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v) && (issue.expected === 'number' || issue.expected === 'int')) {
        return `${where}: expected a finite number, got ${v}`;
      }
      if (issue.expected === 'int' && typeof v === 'number' && !Number.isNaN(v)) return `${where}: expected an integer, got ${v}`;
      if (issue.expected === 'tuple') return `${where}: expected ${here ? tupleWords(here) : 'an array'}, got ${describeValue(v)}`;
      const want = issue.expected === 'int' ? 'a number' : TYPE_WORDS[issue.expected] ?? issue.expected;
      return `${where}: expected ${want}, got ${describeValue(v)}`;
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum);
      if (issue.origin === 'array' || issue.origin === 'set') {
        const len = Array.isArray(v) ? v.length : '?';
        if (here && kindOf(here) === 'tuple') return `${where}: expected ${tupleWords(here)}, got ${describeValue(v)}`;
        return small ? `${where}: needs at least ${bound} items, got ${len}` : `${where}: takes at most ${bound} items, got ${len}`;
      }
      if (issue.origin === 'string') return small ? `${where}: must not be empty` : `${where}: longer than ${bound} characters`;
      const op = small ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      return `${where}: must be ${op} ${bound}, got ${describeValue(v)}`;
    }
    case 'invalid_value': {
      const values = issue.values.map((x) => String(x));
      if (values.length === 1) return `${where}: expected ${JSON.stringify(issue.values[0])}, got ${describeValue(v)}`;
      return `${where}: expected one of ${values.join('|')}, got ${describeValue(v)}${typeof v === 'string' ? didYouMean(v, values) : ''}`;
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

/**
 * Checks `value` against `schema` and returns the parsed value (defaults filled in). Throws one
 * ConfigError (or `o.error`) naming the key path of the first problem; unknown keys come first,
 * since a misspelt key usually explains the rest.
 */
export function validate<S extends Any>(schema: S, value: unknown, o: ValidateOptions = {}): z.output<S> {
  try {
    // zod copies free-form keys (records, loose objects) by assignment: "__proto__" would set a prototype
    refuseForbiddenKeys(value, o.at ?? '');
  } catch (e) {
    throw new (o.error ?? ConfigError)((e as Error).message);
  }
  const r = z.safeParse(schema, value);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  throw new (o.error ?? ConfigError)(message(schema, value, first, o));
}

/** The defaults a declaration gives to an empty input. */
export function defaults<S extends Any>(schema: S): z.output<S> {
  return z.parse(schema, {});
}
