/**
 * Nothing skips in silence in CI: `.ci/run` fails when it cannot install chromium or ffmpeg, and
 * under CI=true a missing chromium, ffmpeg, LiteRT.js or onnxruntime-node fails the tests that
 * need them, naming what is missing (test/helpers/required.ts); without CI=true they skip with a
 * printed line.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/cli';

const which = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
const BASH = which('bash');

/** A folder of fake commands (name -> shell script body) to use as the whole PATH. */
function fakeBin(scripts: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-ci-bin-'));
  for (const [name, body] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), `#!${BASH}\n${body}\n`, { mode: 0o755 });
  return dir;
}

function installTools(bin: string) {
  const r = spawnSync(BASH, [path.join(ROOT, '.ci/install-tools')], { env: { PATH: bin }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('.ci/run: the tools the tests drive are installed, or CI fails', function () {
  this.timeout(60000);

  it('.ci/run runs the suite under CI=true after .ci/install-tools, with no `|| echo` fallback', () => {
    const run = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    assert.match(run, /^set -euo pipefail$/m);
    assert.match(run, /^export CI=true$/m);
    assert.match(run, /^\.ci\/install-tools$/m);
    assert.doesNotMatch(run, /\|\|\s*echo/);
    assert.ok(run.indexOf('.ci/install-tools') < run.indexOf('npm test'));
  });

  it('install-tools fails naming both tools when apt-get fails', () => {
    const bin = fakeBin({ 'apt-get': 'exit 100' });
    const r = installTools(bin);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not install chromium ffmpeg with apt-get/);
  });

  it('install-tools fails when apt-get succeeds but a tool is still missing', () => {
    // an apt-get that "installs" ffmpeg only
    const bin = fakeBin({});
    fs.writeFileSync(path.join(bin, 'apt-get'), `#!${BASH}\nprintf '#!${BASH}\\n' > "${bin}/ffmpeg"; ${which('chmod')} +x "${bin}/ffmpeg"\n`, { mode: 0o755 });
    const r = installTools(bin);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /chromium is still missing after apt-get install/);
  });

  it('install-tools succeeds when both are there, without calling apt-get', () => {
    const bin = fakeBin({ chromium: 'exit 0', ffmpeg: 'exit 0' });
    fs.writeFileSync(path.join(bin, 'apt-get'), `#!${BASH}\ntouch "${bin}/apt-get-ran"\nexit 1\n`, { mode: 0o755 });
    const r = installTools(bin);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(bin, 'apt-get-ran')));
  });
});

describe('CI=true: a missing tool is a failure naming it, not a skip', function () {
  this.timeout(300000);
  // one test of each kind, in a child mocha where chromium, ffmpeg, LiteRT.js and onnxruntime-node are missing
  const FILES = ['test/web/page.test.ts', 'test/export/mediapipe.test.ts', 'test/runtime/blur-cli.test.ts', 'test/export/import-check.test.ts', 'test/export/native.test.ts'];
  const GREP = 'web page in chromium|MediaPipe ImageSegmenter \\(chromium\\) none|cli blur video with odd sizes|the LiteRT\\.js check: a changed bias|runs the model on onnxruntime-node: same';
  const EXPECT: [string, RegExp][] = [
    ['chromium (web page)', /CI=true: chromium is required but missing: \/nonexistent\/chromium not found/],
    ['ffmpeg', /CI=true: ffmpeg is required but missing: not found on PATH/],
    ['LiteRT.js', /CI=true: the TFLite runtime LiteRT\.js \(@litertjs\/core, optional dependency\) is required but missing: no TFLite runtime: @litertjs\/core is not installed/],
    ['onnxruntime-node', /CI=true: onnxruntime-node \(optional dependency\) is required but missing: Cannot find module 'onnxruntime-node'/],
  ];

  function mocha(ci: boolean) {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'psg-ci-path-'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: empty, CHROMIUM_PATH: '/nonexistent/chromium', HIDE_MODULES: '@litertjs/core,onnxruntime-node' };
    if (ci) env.CI = 'true';
    else delete env.CI;
    const args = [require.resolve('mocha/bin/mocha.js'), '--require', path.join(ROOT, 'test/helpers/hide-modules.js'), '--grep', GREP, ...FILES];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  }

  it('under CI=true each missing tool fails its test with its name', () => {
    const r = mocha(true);
    assert.notEqual(r.code, 0, r.out);
    for (const [what, re] of EXPECT) assert.match(r.out, re, `${what}:\n${r.out}`);
    assert.match(r.out, /0 passing/);
    assert.doesNotMatch(r.out, /pending/, 'nothing skipped');
  });

  it('without CI they skip, each with a line saying what is missing', () => {
    const r = mocha(false);
    assert.equal(r.code, 0, r.out);
    for (const what of ['chromium', 'ffmpeg', 'the TFLite runtime LiteRT.js', 'onnxruntime-node']) assert.match(r.out, new RegExp(`\\(skipped: ${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.* is missing: `), what);
    assert.match(r.out, /\d+ pending/);
  });
});
