import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/cli';
import { findCycles, importGraph, layerViolations, parseLayers } from '../helpers/import-graph';

/** Writes `files` (path -> text) under a fresh temp folder and returns it. */
function fakeTree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-imports-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

const DIAGRAM = '# notes\n\n## Layers\n\n```\ntop  ->  mid  ->  low\nindex.ts  ->  top\n```\n\n## Other\n\n```\nlow -> top\n```\n';

describe('import graph of src/ (DEVELOPERS.md "Layers")', () => {
  describe('the check itself, on small fake trees', () => {
    const roots: string[] = [];
    after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
    const tree = (files: Record<string, string>) => {
      const r = fakeTree(files);
      roots.push(r);
      return importGraph(r);
    };

    it('reads every kind of import: static, type-only, export-from, lazy require, import(), typeof import()', () => {
      const g = tree({
        'src/a/main.ts': [
          "import { b } from './b';",
          "import type { C } from '../c';",
          "export { d } from './d';",
          "import * as fs from 'fs';",
          'export function f(): void {',
          "  const { e } = require('./e') as typeof import('./e');",
          "  void import('../g/index.js');",
          "  require(fs.existsSync('x') ? 'y' : 'z');",
          '}',
        ].join('\n'),
        'src/a/b.ts': 'export const b = 1;',
        'src/c.ts': 'export type C = number;',
        'src/a/d.ts': 'export const d = 1;',
        'src/a/e.ts': 'export const e = 1;',
        'src/g/index.ts': 'export {};',
      });
      const got = g.edges.filter((e) => e.from === 'src/a/main.ts').map((e) => `${e.to}:${e.line}:${e.kind}`);
      assert.deepEqual(got.sort(), ['src/a/b.ts:1:static', 'src/a/d.ts:3:static', 'src/a/e.ts:6:require', 'src/a/e.ts:6:type', 'src/c.ts:2:type', 'src/g/index.ts:7:dynamic'].sort());
    });

    it('finds a circle closed by a lazy require() inside a function', () => {
      const g = tree({
        'src/m/registry.ts': "import { build } from './build';\nexport const version = () => '1';\nexport const make = () => build();",
        'src/m/build.ts': "export function build() {\n  const { version } = require('./registry');\n  return version();\n}",
        'src/m/free.ts': "import { make } from './registry';\nexport const x = make;",
      });
      assert.deepEqual(findCycles(g), [['src/m/build.ts', 'src/m/registry.ts', 'src/m/build.ts']]);
    });

    it('finds a circle of type-only imports and one round three files, each once', () => {
      const g = tree({
        'src/e/evaluate.ts': "import { score } from './stability';\nexport interface Seg { n: number }\nexport const run = score;",
        'src/e/stability.ts': "import type { Seg } from './evaluate';\nexport const score = (s: Seg) => s.n;",
        'src/c/index.ts': "import { q } from './commands';\nexport const parser = q;",
        'src/c/commands.ts': "import { qs } from './quickstart';\nexport const q = qs;",
        'src/c/quickstart.ts': "export const qs = () => require('./index');",
      });
      const cycles = findCycles(g).map((c) => c.join(' -> ')).sort();
      assert.deepEqual(cycles, ['src/c/commands.ts -> src/c/quickstart.ts -> src/c/index.ts -> src/c/commands.ts', 'src/e/evaluate.ts -> src/e/stability.ts -> src/e/evaluate.ts']);
    });

    it('a tree without circles has none', () => {
      const g = tree({ 'src/a.ts': "import './b';", 'src/b.ts': "import './c';", 'src/c.ts': 'export {};' });
      assert.equal(g.edges.length, 2);
      assert.deepEqual(findCycles(g), []);
    });

    it('parses the diagram under "## Layers" only, as reachability along its arrows', () => {
      const allowed = parseLayers(DIAGRAM);
      assert.deepEqual([...allowed.get('top')!].sort(), ['low', 'mid']);
      assert.deepEqual([...allowed.get('low')!], []);
      assert.deepEqual([...allowed.get('index.ts')!].sort(), ['low', 'mid', 'top']);
      assert.throws(() => parseLayers('## Layers\n\n```\na -> b -> a\n```\n'), /"a" is above itself/);
      assert.throws(() => parseLayers('## Layout\n'), /no "## Layers" section/);
    });

    it('names each upward or sideways import with file, line and kind, and each folder the diagram lacks', () => {
      const g = tree({
        'src/top/a.ts': "import { m } from '../mid/m';\nexport const a = m;",
        'src/mid/m.ts': "import { l } from '../low/l';\nexport const m = l;\nexport function late() {\n  return require('../top/a');\n}",
        'src/low/l.ts': "import type { A } from '../extra/x';\nexport const l = 1;\nexport type B = A;",
        'src/extra/x.ts': 'export type A = number;',
        'src/index.ts': "export { a } from './top/a';",
      });
      assert.deepEqual(layerViolations(g, parseLayers(DIAGRAM)), [
        'src/extra is not in the layer diagram',
        'src/mid/m.ts:4 imports src/top/a.ts (require): mid may not import top',
      ]);
      const sideways = parseLayers('## Layers\n\n```\ntop -> mid, low\nindex.ts -> top\nextra\n```\n');
      assert.deepEqual(layerViolations(g, sideways), ['src/low/l.ts:1 imports src/extra/x.ts (type): low may not import extra', 'src/mid/m.ts:1 imports src/low/l.ts (static): mid may not import low', 'src/mid/m.ts:4 imports src/top/a.ts (require): mid may not import top']);
    });
  });

  describe('src/ as it is', () => {
    const graph = importGraph(ROOT);

    it('reads the whole tree (lazy requires of the CLI included)', () => {
      assert.ok(graph.files.length > 150, `${graph.files.length} files`);
      assert.ok(graph.edges.length > 600, `${graph.edges.length} imports`);
      assert.ok(graph.edges.some((e) => e.from === 'src/cli/commands/train.ts' && e.to === 'src/recipes/teacher.ts' && e.kind === 'require'), 'train teacher requires its recipe lazily');
    });

    it('has no circle', () => {
      assert.deepEqual(findCycles(graph).map((c) => c.join(' -> ')), []);
    });

    it("imports downward only, along DEVELOPERS.md's layer diagram", () => {
      const allowed = parseLayers(fs.readFileSync(path.join(ROOT, 'DEVELOPERS.md'), 'utf8'));
      assert.ok(allowed.has('cli') && allowed.get('cli')!.has('util'), 'the diagram was read');
      assert.deepEqual(layerViolations(graph, allowed), []);
    });
  });
});
