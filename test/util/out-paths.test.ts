/** The output rule (src/util/out-paths.ts): identities, inputs, same-kind --overwrite, whole-folder writes, claims. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ARTEFACTS, checkOutput, claimOutput, OutputPathError, recoverOutputDir, writeOutputDir } from '../../src/util/out-paths';
import { datasetInputs } from '../../src/data/dataset';

/** A pid above Linux's pid_max: never a running process. */
const DEAD_PID = 4194304 + 4242;

describe('util/out-paths (one rule for every output path)', () => {
  let root = '';
  let data = '';
  const inputs = () => datasetInputs('--data', data);
  before(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-outpaths-')));
    data = path.join(root, 'data');
    fs.mkdirSync(path.join(data, 'images'), { recursive: true });
    fs.mkdirSync(path.join(data, 'masks'));
    fs.writeFileSync(path.join(data, 'images', '0.png'), 'img');
    fs.writeFileSync(path.join(data, 'masks', '0.png'), 'mask');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('never inside or onto an input, however spelled: ./.., a symlink, a hard link, the folder itself', () => {
    fs.symlinkSync(data, path.join(root, 'link-to-data'));
    fs.linkSync(path.join(data, 'masks', '0.png'), path.join(root, 'hardlinked-mask.png'));
    const report = (p: string) => checkOutput({ flag: '--report', path: p, artefact: ARTEFACTS.evalReport, overwrite: true, inputs: inputs() });
    const folder = (p: string) => checkOutput({ flag: '--out', path: p, artefact: ARTEFACTS.synth, overwrite: true, inputs: inputs() });
    assert.throws(() => report(path.join(data, 'masks', '0.png')), /^OutputPathError: --report .*masks\/0\.png: inside the input --data .*data: write it outside the input/);
    assert.throws(() => report(path.join(root, 'link-to-data', 'masks', 'new.json')), /--report .*link-to-data\/masks\/new\.json: inside the input --data/);
    assert.throws(() => report(path.join(data, 'images', '..', 'masks', 'r.json')), /inside the input --data/);
    assert.throws(() => folder(path.join(root, 'link-to-data')), /--out .*link-to-data: is the input --data/);
    assert.throws(() => folder(path.join(data, 'images')), /inside the input --data/);
    // an existing folder that holds the input would be replaced with it
    assert.throws(() => folder(root), /--out .*: holds the input --data/);
    // a hard link to an input file elsewhere is the input file
    assert.throws(
      () => checkOutput({ flag: '--report', path: path.join(root, 'hardlinked-mask.png'), artefact: ARTEFACTS.png, overwrite: true, inputs: [{ flag: '--mask', path: path.join(data, 'masks', '0.png') }] }),
      /is the input --mask/,
    );
    assert.equal(report(path.join(root, 'beside', 'r.json')).replaces, false);
  });

  it('an existing output: refused unless the same kind and --overwrite; empty ones are fine', () => {
    const out = path.join(root, 'reports');
    fs.mkdirSync(out);
    const r = (p: string, overwrite = false) => checkOutput({ flag: '--report', path: p, artefact: ARTEFACTS.evalReport, overwrite });
    fs.writeFileSync(path.join(out, 'old.json'), JSON.stringify({ miou: 0.5, count: 3 }));
    fs.writeFileSync(path.join(out, 'notes.json'), JSON.stringify({ mine: true }));
    fs.writeFileSync(path.join(out, 'empty.json'), '');
    assert.throws(() => r(path.join(out, 'old.json')), /^OutputPathError: --report .*old\.json: already exists \(an eval report .*\): add --overwrite to replace it/);
    assert.deepEqual(r(path.join(out, 'old.json'), true), { target: path.join(out, 'old.json'), replaces: true });
    assert.throws(() => r(path.join(out, 'notes.json'), true), /notes\.json: already exists and is not an eval report .*--overwrite replaces only an eval report/);
    assert.equal(r(path.join(out, 'empty.json')).replaces, false);
    // a folder of the wrong kind, and a run-like output that is never replaced
    fs.writeFileSync(path.join(out, 'x.txt'), 'x');
    assert.throws(() => checkOutput({ flag: '--out', path: out, artefact: ARTEFACTS.export, overwrite: true }), /already exists and is not an export/);
    assert.throws(() => checkOutput({ flag: '--out', path: out, artefact: { what: 'a run', kind: 'folder', refuse: (f, p) => `${f} ${p}: never` } }), /--out .*reports: never/);
  });

  it('a dangling symbolic link is refused before any work (it would fail with a raw ENOTDIR after it)', () => {
    const link = path.join(root, 'dangling');
    fs.symlinkSync(path.join(root, 'nowhere'), link);
    for (const artefact of [ARTEFACTS.labels, ARTEFACTS.compareTable]) {
      assert.throws(() => checkOutput({ flag: '--out', path: link, artefact }), /^OutputPathError: --out .*dangling: is a symbolic link to .*nowhere, which does not exist: remove the link/);
    }
  });

  it('writeOutputDir: a failing writer leaves the old folder as it was and no temp folder', async () => {
    const out = path.join(root, 'whole');
    await writeOutputDir(out, (tmp) => fs.writeFileSync(path.join(tmp, 'a'), 'old'));
    await assert.rejects(
      writeOutputDir(
        out,
        (tmp) => {
          fs.writeFileSync(path.join(tmp, 'a'), 'new');
          throw new Error('killed');
        },
        { replace: true },
      ),
      /killed/,
    );
    assert.deepEqual(fs.readdirSync(out), ['a']);
    assert.equal(fs.readFileSync(path.join(out, 'a'), 'utf8'), 'old');
    // replaced as one: nothing of the old folder is left beside the new files
    fs.writeFileSync(path.join(out, 'stale-shard.bin'), 'old');
    await writeOutputDir(out, (tmp) => fs.writeFileSync(path.join(tmp, 'b'), 'new'), { replace: true });
    assert.deepEqual(fs.readdirSync(out), ['b']);
    // without replace, a target that appeared meanwhile is not overwritten
    await assert.rejects(writeOutputDir(out, (tmp) => fs.writeFileSync(path.join(tmp, 'c'), 'x')), /appeared while it was being written/);
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.whole.')), []);
  });

  it('a replacement cut between its two renames (kill -9): the complete new copy is put back, dead temps removed', () => {
    const out = path.join(root, 'cut');
    const mk = (name: string, content: string) => {
      fs.mkdirSync(path.join(root, name));
      fs.writeFileSync(path.join(root, name, 'v'), content);
    };
    mk(`.cut.replaced-${DEAD_PID}-1`, 'old');
    mk(`.cut.complete-${DEAD_PID}-2`, 'new');
    mk(`.cut.partial-${DEAD_PID}-3`, 'half');
    assert.equal(recoverOutputDir(out), `.cut.complete-${DEAD_PID}-2`);
    assert.equal(fs.readFileSync(path.join(out, 'v'), 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.cut.')), []);
    // only the old copy survived: it is put back
    mk(`.gone.replaced-${DEAD_PID}-1`, 'old');
    assert.equal(recoverOutputDir(path.join(root, 'gone')), `.gone.replaced-${DEAD_PID}-1`);
    assert.equal(fs.readFileSync(path.join(root, 'gone', 'v'), 'utf8'), 'old');
    // the checkpoint writer's own temps (src/models/io.ts: .last.tmp-*, .last.old-*) are not ours to touch
    mk(`.last.tmp-${DEAD_PID}-1`, 'checkpoint');
    assert.equal(recoverOutputDir(path.join(root, 'last')), null);
    assert.ok(fs.existsSync(path.join(root, `.last.tmp-${DEAD_PID}-1`)));
    // a live writer's temp folder is left alone
    mk(`.busy.partial-${process.pid}-9`, 'writing');
    assert.equal(recoverOutputDir(path.join(root, 'busy')), null);
    assert.ok(fs.existsSync(path.join(root, `.busy.partial-${process.pid}-9`)));
  });

  it('claimOutput: exactly one claim per folder; a second one fails in one line; a dead holder is named', () => {
    const out = path.join(root, 'runs', 'r1');
    const first = claimOutput('--out', out);
    assert.throws(() => claimOutput('--out', out), (e: Error) => e instanceof OutputPathError && new RegExp(`^--out .*r1: another portraitseg process \\(pid ${process.pid}\\) is creating it right now: choose another --out$`).test(e.message));
    first.release();
    claimOutput('--out', out).release();
    fs.writeFileSync(first.lock, `${DEAD_PID}\n`);
    assert.throws(() => claimOutput('--out', out), new RegExp(`claimed by a process that is gone \\(pid ${DEAD_PID}, killed while creating it\\): delete .*\\.r1\\.lock and try again`));
  });
});
