import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { writeTfjs } from '../../src/export';
import { readRgb, writePng } from '../../src/util/image';
import { spawnSync } from 'child_process';
import { cli, ROOT } from '../helpers/cli';
import { makeOracleModel, makeScene, localVariance, interior } from './oracle';
import { hasFfmpeg } from '../../src/runtime/video';
import { checkNotOverwriting, folderTarget } from '../../src/cli/commands/blur';
import { missing } from '../helpers/required';

/** Skips with a line where ffmpeg is missing; under CI=true that is a failure naming it. */
function needFfmpeg(ctx: Mocha.Context): void {
  if (!hasFfmpeg()) missing(ctx, 'ffmpeg', 'not found on PATH; install it: apt-get install -y ffmpeg (.ci/run does)');
}

/** The CLI from source in any working directory (the shared helper resolves tsx from the repository). */
function cliIn(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Frames of the moving scene as a y4m-free input video, written by ffmpeg itself (odd sizes allowed in 4:4:4). */
function writeVideo(file: string, w: number, h: number, frames: number): void {
  const raw = Buffer.concat(Array.from({ length: frames }, (_, f) => Buffer.from(makeScene(w, h, f - 1).data)));
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-r', '5', '-i', '-', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-qp', '0', file], { input: raw });
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
}

function videoSize(file: string): { width: number; height: number; frames: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
  const st = JSON.parse(r.stdout).streams[0];
  return { width: st.width, height: st.height, frames: Number(st.nb_read_frames) };
}

describe('cli blur', function () {
  this.timeout(120000);
  let tmp: string;
  const scene = makeScene(64, 48);
  before(async () => {
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-blur-'));
    const { model, meta } = makeOracleModel();
    await writeTfjs(model, meta, path.join(tmp, 'model'));
    model.dispose();
    await writePng(path.join(tmp, 'in.png'), scene.data, 64, 48);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('blurs the background of a tiny image and keeps the person', async () => {
    const out = path.join(tmp, 'out.png');
    const r = cli(['blur', '--model', path.join(tmp, 'model'), '--input', path.join(tmp, 'in.png'), '--output', out, '--strength', '8', '--feather', '1', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote 1 image to/);
    assert.match(r.stderr, /blur: 1\/1 frames, [\d.]+ frames\/s/);
    // which runtime runs the model: onnxruntime-node (ONNX export, parity checked) when installed
    let ort = true;
    try {
      require.resolve('onnxruntime-node');
    } catch {
      ort = false;
    }
    assert.match(r.stderr, ort ? /^runtime: onnxruntime-node .* \(parity at load on portrait frames \S+: max \|P\(person\) diff\| /m : /^runtime: tfjs \(/m);
    const img = await readRgb(out);
    assert.equal(img.width, 64);
    const inside = interior(scene, 4);
    const vIn = localVariance(scene, (i) => inside(i, 0));
    const vOut = localVariance(img, (i) => inside(i, 0));
    assert.ok(vOut < vIn * 0.05, `background variance ${vOut} vs ${vIn}`);
    let maxDiff = 0;
    for (let i = 0; i < scene.person.length; i++) if (inside(i, 1)) maxDiff = Math.max(maxDiff, Math.abs(img.data[i * 3] - scene.data[i * 3]));
    assert.ok(maxDiff <= 3, `person unchanged (${maxDiff})`);
  });

  it('raw RGB24 frames on stdin -> stdout; a wrong --size is a clear error', () => {
    const two = Buffer.concat([Buffer.from(scene.data), Buffer.from(scene.data)]);
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input=-', '--output=-', '--size', '64x48', '--strength', '8', '--backend', 'cpu'], {
      cwd: ROOT,
      input: two,
      maxBuffer: 1 << 24,
    });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(r.stdout.length, 64 * 48 * 3 * 2);
    // the second frame is processed like the first, and its background is blurred
    assert.ok(r.stdout.subarray(0, 64 * 48 * 3).equals(r.stdout.subarray(64 * 48 * 3)));
    const second = { width: 64, height: 48, data: new Uint8Array(r.stdout.subarray(64 * 48 * 3)) };
    const inside = interior(scene, 4);
    assert.ok(localVariance(second, (i) => inside(i, 0)) < 0.05 * localVariance(scene, (i) => inside(i, 0)));
    const bad = cli(['blur', '--model', path.join(tmp, 'model'), '--input=-', '--output=-', '--size', '64by48', '--backend', 'cpu']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--size 64by48: expected WIDTHxHEIGHT, e.g. --size 640x360/);
    // a zero size would be an endless stream of empty frames
    const zero = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input=-', '--output=-', '--size', '0x48', '--backend', 'cpu'], { cwd: ROOT, input: two, encoding: 'utf8', timeout: 100000 }); // guard only: the bug looped forever
    assert.equal(zero.status, 2, zero.stderr);
    assert.match(zero.stderr, /--size 0x48: width and height must be 1\.\.16384/);
    // a stream that does not end on a frame boundary: one line, exit 2, no partial output file
    const outFile = path.join(tmp, 'partial.rgb');
    const part = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input=-', '--output', outFile, '--size', '64x48', '--backend', 'cpu'], { cwd: ROOT, input: two.subarray(0, two.length - 100), encoding: 'utf8' });
    assert.equal(part.status, 2, part.stderr);
    assert.match(part.stderr, /--size 64x48: input ended with a partial frame \(9116 of 9216 bytes\)/);
    assert.ok(!fs.existsSync(outFile));
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('partial')), [], 'no temp file left');
  });

  it('a folder with a corrupt image: names it, skips it, writes the rest, exit 3', async () => {
    const dir = path.join(tmp, 'mixed');
    fs.mkdirSync(dir);
    await writePng(path.join(dir, 'a.png'), scene.data, 64, 48);
    fs.writeFileSync(path.join(dir, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])); // a JPEG header and nothing else
    await writePng(path.join(dir, 'c.png'), scene.data, 64, 48);
    const out = path.join(tmp, 'mixed-out');
    const r = cli(['blur', '--model', path.join(tmp, 'model'), '--input', dir, '--output', out, '--backend', 'cpu']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`skip ${path.join(dir, 'b.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: unreadable or corrupt image \\(`));
    assert.match(r.stdout, /wrote 2 images to .*; skipped 1 unreadable/);
    assert.match(r.stderr, /1 of 3 images skipped: .*b\.jpg/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['a.png', 'c.png']);
    assert.equal((await readRgb(path.join(out, 'c.png'))).width, 64);
  });

  it('a corrupt single --input or --background: one line naming the file, exit 2, nothing written', () => {
    const bad = path.join(tmp, 'corrupt.png');
    fs.writeFileSync(bad, 'not a png');
    const out = path.join(tmp, 'never.png');
    for (const args of [['--input', bad], ['--input', path.join(tmp, 'in.png'), '--background', bad]]) {
      const r = cli(['blur', '--model', path.join(tmp, 'model'), ...args, '--output', out, '--backend', 'cpu']);
      assert.equal(r.code, 2, r.stderr);
      const flag = args.includes('--background') ? '--background' : '--input';
      assert.match(r.stderr, new RegExp(`^portraitseg: error: ${flag} .*corrupt\\.png: unreadable or corrupt image \\([^\n]*\\)\n$`));
      assert.ok(!fs.existsSync(out));
    }
  });

  it('refuses to overwrite its input: same file by any spelling or link, the input folder, the background', () => {
    const dir = path.join(tmp, 'keep');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const orig = path.join(dir, 'me.png');
    fs.copyFileSync(path.join(tmp, 'in.png'), orig);
    const bytes = fs.readFileSync(orig);
    fs.symlinkSync(orig, path.join(dir, 'link.png'));
    fs.linkSync(orig, path.join(dir, 'hard.png'));
    fs.symlinkSync(dir, path.join(tmp, 'keep-link'));
    const refused = (inputs: string[], targets: string[], inDir: string | null = null, outDir: string | null = null) =>
      assert.throws(() => checkNotOverwriting(inputs, targets, inDir, outDir), /would overwrite the input|is the input folder/, `${inputs} -> ${targets} ${outDir}`);
    refused([orig], [orig]);
    refused([orig], [path.join(dir, 'sub', '..', 'me.png')]);
    refused([orig], [path.join(dir, 'link.png')]);
    refused([orig], [path.join(dir, 'hard.png')]);
    refused([orig], [path.join(tmp, 'keep-link', 'me.png')]);
    const inFolder = [orig, path.join(dir, 'hard.png'), path.join(dir, 'link.png')];
    for (const out of [dir, path.join(dir, '.'), path.join(tmp, 'keep-link'), `${dir}/`]) refused(inFolder, inFolder.map((f) => folderTarget(out, f)), dir, out);
    assert.doesNotThrow(() => checkNotOverwriting([orig], [path.join(dir, 'other.png')], null, null));
    assert.doesNotThrow(() => checkNotOverwriting([orig], [path.join(tmp, 'not-yet', 'me.png')], null, null));
    // and through the CLI: one line, exit 2
    const cases: [string[], RegExp][] = [
      [['--input', orig, '--output', path.join(tmp, 'keep-link', 'me.png')], /would overwrite the input/],
      [['--input', dir, '--output', path.join(dir, '.')], /is the input folder/],
      [['--input', path.join(tmp, 'in.png'), '--background', orig, '--output', path.join(dir, 'link.png')], /would overwrite the input/],
    ];
    for (const [args, re] of cases) {
      const r = cli(['blur', '--model', path.join(tmp, 'model'), ...args, '--backend', 'cpu']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(fs.readFileSync(orig).equals(bytes), 'the original is untouched');
    // an output folder inside the input folder overwrites nothing: allowed
    const ok = cli(['blur', '--model', path.join(tmp, 'model'), '--input', dir, '--output', path.join(dir, 'sub'), '--backend', 'cpu']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(fs.readFileSync(orig).equals(bytes));
    assert.ok(fs.existsSync(path.join(dir, 'sub', 'me.png')));
  });

  it('a model that is not ours: one line, exit 2, no hint at flags blur does not have', () => {
    const ext = path.join(tmp, 'external');
    fs.mkdirSync(ext);
    fs.copyFileSync(path.join(tmp, 'model', 'model.json'), path.join(ext, 'model.json'));
    const r = cli(['blur', '--model', ext, '--input', path.join(tmp, 'in.png'), '--output', path.join(tmp, 'x.png'), '--backend', 'cpu']);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend: '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^portraitseg: error: --model .*external: .*portraitseg\.json/);
    assert.doesNotMatch(r.stderr, /use --input-size/);
    const flags = cli(['blur', '--model', ext, '--input-size', '32x32', '--input', path.join(tmp, 'in.png'), '--output', path.join(tmp, 'x.png')]);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /Unknown arguments?: input-size/);
  });

  it('video with odd sizes: padded to even, no EPIPE; an output named -y.mp4 is a file, not an option', function () {
    needFfmpeg(this);
    this.timeout(300000); // the CLI and ffmpeg twice: slow on a loaded 2-core machine
    const vid = path.join(tmp, 'odd.mp4');
    writeVideo(vid, 65, 49, 4);
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-blur-cwd-'));
    const r = cliIn(cwd, ['blur', '--model', path.join(tmp, 'model'), '--input', vid, '--output=-y.mp4', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE/);
    assert.match(r.stdout, /wrote -y\.mp4 \(4 frames 65x49, padded to 66x50/);
    assert.deepEqual(videoSize(path.join(cwd, '-y.mp4')), { width: 66, height: 50, frames: 4 });
    assert.deepEqual(fs.readdirSync(cwd), ['-y.mp4'], 'no temp files left');
    const y4m = path.join(cwd, 'odd.y4m');
    const r2 = cli(['blur', '--model', path.join(tmp, 'model'), '--input', vid, '--output', y4m, '--backend', 'cpu']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(fs.readFileSync(y4m).subarray(0, 40).toString(), /^YUV4MPEG2 W65 H49 /);
    const same = cli(['blur', '--model', path.join(tmp, 'model'), '--input', vid, '--output', vid, '--backend', 'cpu']);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /would overwrite the input/);
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('video: when the encoder dies, one line, exit 1, and no output or temp file is left', function () {
    needFfmpeg(this);
    this.timeout(300000); // the CLI and ffmpeg twice: slow on a loaded 2-core machine
    const vid = path.join(tmp, 'even.mp4');
    writeVideo(vid, 64, 48, 6);
    // an ffmpeg whose encoder (reading frames on stdin) fails at once; decoding goes to the real one
    const bin = path.join(tmp, 'fakebin');
    fs.mkdirSync(bin, { recursive: true });
    const real = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim();
    fs.writeFileSync(path.join(bin, 'ffmpeg'), `#!/bin/sh\ncase " $* " in *" -i - "*) echo "fake encoder: disk on fire" >&2; exit 1;; esac\nexec ${real} "$@"\n`, { mode: 0o755 });
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-blur-fail-'));
    const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input', vid, '--output', path.join(outDir, 'out.mp4'), '--backend', 'cpu'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /portraitseg: error: ffmpeg encode failed \(exit 1\): fake encoder: disk on fire/);
    assert.doesNotMatch(r.stderr, /EPIPE|at .*\.ts:\d+/);
    assert.deepEqual(fs.readdirSync(outDir), [], 'no partial output');
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('a video without ffmpeg on PATH is a clear usage error', () => {
    fs.writeFileSync(path.join(tmp, 'clip.mp4'), 'not really a video');
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), 'blur', '--model', path.join(tmp, 'model'), '--input', path.join(tmp, 'clip.mp4'), '--output', path.join(tmp, 'o.mp4')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: path.join(tmp, 'no-bin-here') },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ffmpeg is not installed: install it \(Debian\/Ubuntu: apt-get install ffmpeg\)/);
  });
});
