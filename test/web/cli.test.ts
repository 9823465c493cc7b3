/** `portraitseg web`: the yargs command that replaced the hand-written parser of `npm run web`. */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cli, ROOT } from '../helpers/cli';

describe('portraitseg web', function () {
  this.timeout(120000);

  it('serves --models on the port it prints, and stops on SIGTERM with exit 0', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-webcli-'));
    fs.mkdirSync(path.join(tmp, 'student'));
    fs.writeFileSync(path.join(tmp, 'student', 'model.json'), '{}');
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'web', '--models', tmp, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // waits for a line, not for a time: the server prints its URL once it listens
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d) => {
        err += String(d);
        const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(err);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before serving: ${err}`)));
    });
    try {
      assert.deepEqual(await (await fetch(`${url}models/index.json`)).json(), ['student']);
      assert.match(err, /models: .*: student/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, err);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('user mistakes: one line, exit 2', () => {
    const missing = cli(['web', '--models', '/nonexistent/models']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.trim(), 'portraitseg: error: --models /nonexistent/models: not found');
    const port = cli(['web', '--port', '70000']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /^portraitseg: error: --port 70000: expected an integer 0\.\.65535\n$/);
    const unknown = cli(['web', '--modles', 'x']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown argument: modles/);
  });

  it('npm run web points at the CLI command', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.scripts.web, 'tsx src/cli/main.ts web');
  });
});
