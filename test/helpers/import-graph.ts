/**
 * The import graph of a TypeScript source tree and the two rules DEVELOPERS.md sets for it:
 * no circles (between any two modules, lazy `require()` and type-only imports included) and
 * imports that run downward only along the layer diagram of DEVELOPERS.md ("## Layers").
 *
 * Imports are read with the TypeScript compiler's own parser (a devDependency already), so
 * every form counts: `import`/`export ... from`, `import type`, `import x = require()`,
 * `require('...')` and `import('...')` anywhere in a function body, and `typeof import('...')`
 * in a type. Only relative specifiers are followed (packages and Node built-ins are outside
 * the graph); a `require()` of a computed name cannot be, and is left out.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

export interface ImportEdge {
  /** Importing file, relative to the root, '/'-separated: `src/models/registry.ts`. */
  from: string;
  /** Imported file, same form. */
  to: string;
  /** 1-based line of the import in `from`. */
  line: number;
  /** `static` (import/export from), `type` (type-only), `require` or `dynamic` (`import()`). */
  kind: 'static' | 'type' | 'require' | 'dynamic';
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The file a relative specifier names, as Node's resolution with tsx sees it; null outside the tree. */
function resolveSpecifier(fromFile: string, spec: string): string | null {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const c of [base, `${base}.ts`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (c.endsWith('.ts') && fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  }
  return null;
}

function specifiersOf(sf: ts.SourceFile): { spec: string; pos: number; kind: ImportEdge['kind'] }[] {
  const out: { spec: string; pos: number; kind: ImportEdge['kind'] }[] = [];
  const literal = (n: ts.Node | undefined) => (n && ts.isStringLiteralLike(n) ? n.text : null);
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const s = literal(n.moduleSpecifier);
      const c = n.importClause;
      // `import type {A}` and `import {type A, type B}` are erased; `import {type A, b}` is not
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (s) out.push({ spec: s, pos: n.getStart(sf), kind: typeOnly ? 'type' : 'static' });
    } else if (ts.isExportDeclaration(n)) {
      const s = literal(n.moduleSpecifier);
      if (s) out.push({ spec: s, pos: n.getStart(sf), kind: n.isTypeOnly ? 'type' : 'static' });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      const s = literal(n.moduleReference.expression);
      if (s) out.push({ spec: s, pos: n.getStart(sf), kind: n.isTypeOnly ? 'type' : 'require' });
    } else if (ts.isCallExpression(n) && n.arguments.length >= 1) {
      const s = literal(n.arguments[0]);
      if (s && ts.isIdentifier(n.expression) && n.expression.text === 'require') out.push({ spec: s, pos: n.getStart(sf), kind: 'require' });
      else if (s && n.expression.kind === ts.SyntaxKind.ImportKeyword) out.push({ spec: s, pos: n.getStart(sf), kind: 'dynamic' });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) {
      const s = literal(n.argument.literal);
      if (s) out.push({ spec: s, pos: n.getStart(sf), kind: 'type' });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Every `.ts` file under `root/dir` and the imports between them. */
export function importGraph(root: string, dir = 'src'): ImportGraph {
  const rel = (p: string) => path.relative(root, p).split(path.sep).join('/');
  const files = tsFiles(path.join(root, dir)).sort();
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    for (const { spec, pos, kind } of specifiersOf(sf)) {
      if (!spec.startsWith('.')) continue;
      const to = resolveSpecifier(file, spec);
      if (!to) continue; // package.json and other non-TS files: leaves, they import nothing
      edges.push({ from: rel(file), to: rel(to), line: sf.getLineAndCharacterOfPosition(pos).line + 1, kind });
    }
  }
  return { files: files.map(rel), edges };
}

/**
 * The circles of the graph: each strongly connected component of more than one file, or a
 * file importing itself, as one path `a -> b -> ... -> a` through it (Tarjan's algorithm).
 */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>();
  for (const f of graph.files) next.set(f, []);
  for (const e of graph.edges) next.get(e.from)?.push(e.to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (next.get(v) ?? []).includes(v)) components.push(c);
    }
  };
  for (const f of graph.files) if (!index.has(f)) strong(f);
  // one readable circle per component: the shortest way back to its first file
  return components.map((c) => {
    const inside = new Set(c);
    const start = [...c].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      for (const w of next.get(queue[i]) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const cycle = [start];
          for (let v = queue[i]; v !== start; v = prev.get(v)!) cycle.splice(1, 0, v);
          return [...cycle, start];
        }
        if (!prev.has(w)) {
          prev.set(w, queue[i]);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}

/**
 * The layer diagram: the first code block under `## Layers` in a markdown text. Each line is a
 * chain `a -> b, c -> d`: every name of a group may import every name of the next group, and
 * what those may import in turn (the closure). A name is a folder of `src/` or a file directly
 * in it (`index.ts`); text in parentheses is a comment. Returns name -> the names it may import.
 */
export function parseLayers(markdown: string): Map<string, Set<string>> {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Layers'));
  const block = section?.match(/```[^\n]*\n([\s\S]*?)```/);
  if (!block) throw new Error('no "## Layers" section with a diagram code block');
  const direct = new Map<string, Set<string>>();
  const node = (n: string) => {
    if (!/^[A-Za-z_][\w.-]*$/.test(n)) throw new Error(`layer diagram: "${n}" is not a folder or file name`);
    if (!direct.has(n)) direct.set(n, new Set());
    return direct.get(n)!;
  };
  for (const raw of block[1].split('\n')) {
    const line = raw.replace(/\([^)]*\)/g, '').trim();
    if (!line) continue;
    const groups = line.split('->').map((g) => g.split(',').map((n) => n.trim()).filter(Boolean));
    if (groups.some((g) => g.length === 0)) throw new Error(`layer diagram: empty group in "${raw.trim()}"`);
    groups.forEach((g) => g.forEach(node));
    for (let i = 0; i + 1 < groups.length; i++) for (const a of groups[i]) for (const b of groups[i + 1]) node(a).add(b);
  }
  const allowed = new Map<string, Set<string>>();
  for (const a of direct.keys()) {
    const seen = new Set<string>();
    const todo = [...direct.get(a)!];
    while (todo.length) {
      const b = todo.pop()!;
      if (seen.has(b)) continue;
      seen.add(b);
      todo.push(...direct.get(b)!);
    }
    if (seen.has(a)) throw new Error(`layer diagram: "${a}" is above itself (the diagram has a circle)`);
    allowed.set(a, seen);
  }
  return allowed;
}

/** The layer of a file: its folder under `dir` (`models` for src/models/import/ir.ts), or its name when directly in `dir`. */
export function layerOf(file: string, dir = 'src'): string {
  const parts = file.split('/');
  if (parts[0] !== dir || parts.length < 2) throw new Error(`${file} is not under ${dir}/`);
  return parts[1];
}

/**
 * What breaks the diagram, one line each: a layer the diagram does not name, and every import
 * from one layer into another that it may not import (upward or sideways).
 */
export function layerViolations(graph: ImportGraph, allowed: Map<string, Set<string>>, dir = 'src'): string[] {
  const out: string[] = [];
  const layers = [...new Set(graph.files.map((f) => layerOf(f, dir)))].sort();
  for (const l of layers) if (!allowed.has(l)) out.push(`${dir}/${l} is not in the layer diagram`);
  for (const e of graph.edges) {
    const a = layerOf(e.from, dir);
    const b = layerOf(e.to, dir);
    if (a === b || !allowed.has(a) || !allowed.has(b)) continue;
    if (!allowed.get(a)!.has(b)) out.push(`${e.from}:${e.line} imports ${e.to} (${e.kind}): ${a} may not import ${b}`);
  }
  return out;
}
