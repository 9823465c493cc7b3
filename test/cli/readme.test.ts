import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { commands } from '../../src/cli/commands';
import { ROOT } from '../helpers/cli';
import { docCommands } from '../helpers/doc-commands';
import { dryParse } from '../helpers/dry-parse';

const PAGES = ['README.md', 'DEVELOPERS.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** A mention (`portraitseg label` in prose) only has to name a command; a command line has to parse. */
async function refusal(c: { argv: string[]; mention: boolean }): Promise<string | null> {
  const r = await dryParse(c.argv);
  if (!('error' in r)) return null;
  if (c.mention && !/unknown (command|argument)/i.test(r.error)) return null;
  return r.error;
}

/** Every leaf command with the arguments it requires (placeholders: nothing is read in a dry run). */
const LEAVES: string[][] = [
  ['quickstart'],
  ['data', 'inspect', '--data', 'D'],
  ['data', 'synth', '--out', 'O'],
  ['augment', 'preview', '--out', 'a.png'],
  ['augment', 'bench'],
  ['augment', 'list'],
  ['train', 'teacher', '--data', 'D'],
  ['distill', 'student', '--data', 'D'],
  ['distill', 'compare', '--model', 'a=M', '--val', 'V'],
  ['label', '--teacher', 'T', '--data', 'D', '--out', 'O'],
  ['eval', '--model', 'M', '--data', 'D'],
  ['export', '--model', 'M'],
  ['blur', '--model', 'M'],
  ['bench', 'data'],
  ['bench', 'train'],
  ['bench', 'infer'],
  ['import', '--model', 'M', '--out', 'O'],
  ['web', '--models', 'M'],
];

describe('README and docs/ against the CLI', () => {
  it('every command line they show is accepted by the CLI (flags, choices, required options, checks)', async function () {
    this.timeout(60000);
    const refused: string[] = [];
    let lines = 0;
    for (const page of PAGES) {
      const found = docCommands(fs.readFileSync(path.join(ROOT, page), 'utf8'));
      if (page === 'README.md') assert.ok(found.filter((c) => !c.mention).length >= 40, `README: only ${found.length} command lines found`);
      for (const c of found) {
        lines++;
        const why = await refusal(c);
        if (why) refused.push(`${page}:${c.line}: portraitseg ${c.argv.join(' ')}: ${why}`);
      }
    }
    assert.ok(lines >= 100, `${lines} command lines in ${PAGES.length} pages`);
    assert.deepEqual(refused, []);
  });

  it('the check refuses an unknown flag, a missing required option and an unknown command (it can fail)', async () => {
    const page = [
      '```sh',
      'D="--data ../shared/datasets/picsart-selfies"',
      'npx portraitseg train teacher $D --out runs/t      # fine',
      'npx portraitseg data inspect --data d --shet x.png',
      'npx portraitseg eval --model runs/t \\',
      '    --flip',
      'npx portraitseg web --models d --seed 1',
      '```',
      '| `portraitseg export --model RUN --format tfjs\\|onnx\\|tflite\\|coreml --out DIR` | |',
      'then run `portraitseg lable` on it, or `portraitseg label`.',
    ].join('\n');
    const found = docCommands(page);
    assert.deepEqual(
      found.map((c) => [c.line, c.argv.join(' ')]),
      [
        [3, 'train teacher --data ../shared/datasets/picsart-selfies --out runs/t'],
        [4, 'data inspect --data d --shet x.png'],
        [5, 'eval --model runs/t --flip'],
        [7, 'web --models d --seed 1'],
        [9, 'export --model RUN --format tfjs --out DIR'],
        [9, 'export --model RUN --format onnx --out DIR'],
        [9, 'export --model RUN --format tflite --out DIR'],
        [9, 'export --model RUN --format coreml --out DIR'],
        [10, 'lable'],
        [10, 'label'],
      ],
    );
    const why: (string | null)[] = [];
    for (const c of found) why.push(await refusal(c)); // one at a time: yargs parsers share state
    assert.equal(why[0], null);
    assert.match(why[1]!, /Unknown argument: shet/);
    assert.match(why[2]!, /Missing required argument: data/);
    assert.match(why[3]!, /Unknown argument: seed/);
    assert.deepEqual(why.slice(4, 7), [null, null, null]);
    assert.match(why[7]!, /Invalid values:[\s\S]*format/);
    assert.match(why[8]!, /unknown command "lable"\. Did you mean label/);
    assert.equal(why[9], null);
  });

  it("the README's sentence on common options names exactly the commands that do not take them", async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const m = /Every command except (.+?) takes `--config FILE`, `--set key=value` \(repeatable\), `--seed` and `--backend [^`]+`/.exec(readme);
    assert.ok(m, 'the sentence "Every command except ... takes `--config FILE`, ..." is in the README');
    const named = [...m[1].matchAll(/`([^`]+)`/g)].map((x) => x[1]).filter((x) => !x.startsWith('-'));
    // every top-level command of the CLI is among the leaves tried here
    const tops = new Set(LEAVES.map((l) => l[0]));
    for (const c of commands) assert.ok(tops.has(String(c.command).split(' ')[0]), `${c.command} is missing from LEAVES`);
    const without: string[] = [];
    for (const leaf of LEAVES) {
      const name = leaf.filter((w, i) => !w.startsWith('-') && !(i > 0 && leaf[i - 1].startsWith('-'))).join(' ');
      assert.ok('command' in (await dryParse(leaf)), `${name}: its required arguments`);
      let takesAll = true;
      for (const f of [['--config', 'c.json'], ['--set', 'a=1'], ['--seed', '1'], ['--backend', 'cpu']]) takesAll &&= 'command' in (await dryParse([...leaf, ...f]));
      if (!takesAll) without.push(name);
      assert.ok('command' in (await dryParse([...leaf, '--verbose'])), `${name} takes --verbose`);
    }
    assert.deepEqual(without.sort(), named.sort());
  });
});
