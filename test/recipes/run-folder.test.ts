/**
 * A new run folder (src/recipes/run.ts with src/util/out-paths.ts): claimed before the setup
 * starts, so two runs on one --out cannot both pass the "run exists" check while the data is
 * scanned; created whole; never inside an input.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultConfig, Config } from '../../src/config/config';
import { writeSynthDataset } from '../../src/data/synth';
import { selectBackend } from '../../src/backend';
import { trainTeacher } from '../../src/recipes/teacher';
import { RunSetupError } from '../../src/recipes/run';

const quiet = () => {};

describe('recipes: the run folder is claimed, created whole, outside the inputs', function () {
  this.timeout(300000);
  let root = '';
  let data = '';
  function cfg(): Config {
    const c = defaultConfig();
    c.backend = 'cpu';
    c.data.path = data;
    c.data.cacheDir = null;
    c.data.valFraction = 0;
    c.augment.train = [];
    c.model = { name: 'mnv2_student_s', args: { inputSize: [32, 32] } };
    c.train.images = 2;
    c.train.batchSize = 2;
    c.train.evalEvery = 1000;
    c.train.checkpointEvery = 1000;
    c.train.logEvery = 1000;
    c.threads = 1;
    return c;
  }
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-runfolder-'));
    data = path.join(root, 'data');
    await writeSynthDataset(data, { count: 4, seed: 3, width: 32, height: 32 });
    await selectBackend('cpu');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a second run on an --out being set up fails at once in one line; nothing is written there', async () => {
    const out = path.join(root, 'run');
    // the first run (this process, alive) holds the claim, a lock file beside the folder, while it scans its data
    const lock = path.join(root, '.run.lock');
    fs.writeFileSync(lock, `${process.pid}\n`);
    try {
      await assert.rejects(trainTeacher({ config: cfg(), out, log: quiet }), (e: Error) => e instanceof RunSetupError && new RegExp(`^--out .*run: another portraitseg process \\(pid ${process.pid}\\) is creating it right now: choose another --out$`).test(e.message));
      assert.ok(!fs.existsSync(out), 'the second run wrote nothing');
      assert.ok(fs.existsSync(lock), "the first run's claim stays");
    } finally {
      fs.rmSync(lock);
    }
  });

  it('a run creates its folder whole and leaves no lock or temp folder; the next run on it is refused', async () => {
    const out = path.join(root, 'whole');
    const r = await trainTeacher({ config: cfg(), out, log: quiet });
    r.model.dispose();
    assert.equal(r.runDir, out);
    for (const f of ['config.json', 'split.json', 'metrics.jsonl', 'last']) assert.ok(fs.existsSync(path.join(out, f)), f);
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.whole.')), [], 'no lock or temp folder beside it');
    await assert.rejects(trainTeacher({ config: cfg(), out, log: quiet }), /already holds a run: continue it with --resume/);
  });

  it('a run folder inside the data (also through a symlink) or any other non-empty folder is refused', async () => {
    fs.symlinkSync(data, path.join(root, 'data-link'));
    for (const out of [path.join(data, 'images', 'run'), path.join(root, 'data-link', 'run')]) {
      await assert.rejects(trainTeacher({ config: cfg(), out, log: quiet }), (e: Error) => e instanceof RunSetupError && /--out .*run: inside the input --data/.test(e.message));
      assert.ok(!fs.existsSync(path.join(data, 'images', 'run')));
    }
    const busy = path.join(root, 'busy');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    await assert.rejects(trainTeacher({ config: cfg(), out: busy, log: quiet }), /--out .*busy: already exists and is not empty \(not a run folder\)/);
  });
});
