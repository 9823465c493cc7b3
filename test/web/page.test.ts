/**
 * The live page in a real browser: Debian's chromium driven by playwright-core, a fake
 * camera fed from a synthesized .y4m clip (a person-like shape on a textured background),
 * the colour-oracle model exported as tfjs and served beside the page. Asserts that the
 * output canvas has a blurred background and an unblurred person; saves a screenshot and
 * the page's ms/frame to out/web/.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { writeTfjs } from '../../src/export';
import { createModel } from '../../src/models/registry';
import { startWebServer, WebServer } from '../../src/runtime/web-server';
import { makeOracleModel, makeScene, localVariance } from '../runtime/oracle';
import { ROOT } from '../helpers/cli';
import { missing } from '../helpers/required';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** YUV4MPEG2 4:2:0 clip (BT.601 limited range) of the moving synthetic scene. */
export function writeY4m(file: string, width: number, height: number, frames: number): void {
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F15:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) {
    const { data } = makeScene(width, height, Math.round(Math.sin((f / frames) * 2 * Math.PI) * width * 0.05));
    const Y = Buffer.alloc(width * height);
    const U = Buffer.alloc((width / 2) * (height / 2));
    const V = Buffer.alloc((width / 2) * (height / 2));
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = [data[i * 3], data[i * 3 + 1], data[i * 3 + 2]];
      Y[i] = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
    }
    for (let y = 0; y < height / 2; y++) {
      for (let x = 0; x < width / 2; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          const i = ((2 * y + dy) * width + 2 * x + dx) * 3;
          r += data[i] / 4;
          g += data[i + 1] / 4;
          b += data[i + 2] / 4;
        }
        U[y * (width / 2) + x] = Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
        V[y * (width / 2) + x] = Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
      }
    }
    parts.push(Buffer.from('FRAME\n'), Y, U, V);
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

describe('web page in chromium', function () {
  this.timeout(120000);
  let tmp: string;
  let server: WebServer | null = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let browser: any = null;

  before(async function () {
    // skips with a line where chromium is missing; under CI=true that is a failure naming it
    if (!fs.existsSync(CHROMIUM)) missing(this, 'chromium', `${CHROMIUM} not found; install Debian's chromium: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
    // through selectBackend so its record of the active backend stays true for later test files
    await selectBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-web-'));
    const { model, meta } = makeOracleModel();
    // uint8-quantised weights: the page must decode tfjs' quantisation manifest too
    await writeTfjs(model, meta, path.join(tmp, 'models', 'oracle'), 'uint8');
    model.dispose();
    // a model with the mask filter, its learned guide made real-sized (the kernel test below)
    const mf = createModel('mnv2_student_s', { inputSize: [64, 64], maskFilter: true }, { seed: 3 });
    const gf = mf.model.layers.find((l) => l.getClassName() === 'GuidedFilter')!;
    gf.setWeights(gf.getWeights().map((w, i) => (i === 2 ? tf.randomNormal(w.shape, 0, 0.7, 'float32', 8) : w)));
    await writeTfjs(mf.model, mf.meta, path.join(tmp, 'models', 'mf'));
    mf.model.dispose();
    writeY4m(path.join(tmp, 'clip.y4m'), 320, 240, 15);
    server = await startWebServer({ models: path.join(tmp, 'models') });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows the webcam with a blurred background and an unblurred person (tfjs wasm)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        `--use-file-for-fake-video-capture=${path.join(tmp, 'clip.y4m')}`,
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const logs: string[] = [];
    page.on('console', (m: { text(): string }) => logs.push(m.text()));
    page.on('pageerror', (e: Error) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${server!.url}?model=models/oracle/&backend=wasm&source=camera&mode=blur&strength=10&feather=1&autostart=1`);
    await page.waitForFunction(() => {
      const s = (window as unknown as { __portraitseg?: { frames: number; error: string | null } }).__portraitseg;
      return s && (s.frames >= 5 || s.error);
    }, null, { timeout: 0 }); // no wall-time limit of its own: mocha's timeout is the guard
    const state = await page.evaluate(() => {
      const s = (window as unknown as { __portraitseg: { running: boolean } }).__portraitseg;
      s.running = false; // freeze the canvases
      return s;
    });
    assert.equal(state.error, null, `page error: ${state.error}\n${logs.join('\n')}`);
    assert.equal(state.backend, 'wasm');
    // a frame drawn when running went false finishes first: wait for it, not for a time
    await page.waitForFunction(() => !(window as unknown as { __portraitseg: { busy: boolean } }).__portraitseg.busy, null, { timeout: 0 });
    // a string, not a function: tsx's transpiled helpers (__name) do not exist in the page
    const pixels = await page.evaluate(`(() => {
      function read(id) {
        const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        const rgb = [];
        for (let i = 0; i < d.width * d.height; i++) rgb.push(d.data[i * 4], d.data[i * 4 + 1], d.data[i * 4 + 2]);
        return { width: d.width, height: d.height, rgb };
      }
      return { src: read('source'), out: read('output') };
    })()`);
    const { width, height } = pixels.src;
    assert.ok(width >= 160 && height >= 120, `frame ${width}x${height}`);
    const src = { width, height, data: Uint8Array.from(pixels.src.rgb) };
    const out = { width, height, data: Uint8Array.from(pixels.out.rgb) };
    // person = reddish pixels of the input frame; interior = 5 px away from any other label
    const person = new Uint8Array(width * height);
    for (let i = 0; i < person.length; i++) person[i] = src.data[i * 3] - src.data[i * 3 + 1] > 60 ? 1 : 0;
    const r = Math.round(width / 64);
    const interior = (i: number, label: number) => {
      const x = i % width;
      const y = Math.floor(i / width);
      if (x < r || y < r || x >= width - r || y >= height - r) return false;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (person[(y + dy) * width + x + dx] !== label) return false;
      return true;
    };
    const nPerson = person.reduce((a, b) => a + b, 0);
    assert.ok(nPerson > 0.1 * person.length && nPerson < 0.6 * person.length, `person covers ${nPerson} of ${person.length} px`);
    const vIn = localVariance(src, (i) => interior(i, 0));
    const vOut = localVariance(out, (i) => interior(i, 0));
    assert.ok(vIn > 500, `input background is textured (${vIn.toFixed(0)})`);
    assert.ok(vOut < 0.1 * vIn, `background blurred: local variance ${vOut.toFixed(1)} vs ${vIn.toFixed(1)}`);
    let maxDiff = 0;
    for (let i = 0; i < person.length; i++) {
      if (!interior(i, 1)) continue;
      for (let c = 0; c < 3; c++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i * 3 + c] - src.data[i * 3 + c]));
    }
    assert.ok(maxDiff <= 4, `person region unblurred (max diff ${maxDiff})`);
    const outDir = path.join(ROOT, 'out', 'web');
    fs.mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: path.join(outDir, 'page.png') });
    fs.writeFileSync(path.join(outDir, 'page-bench.json'), JSON.stringify({ model: 'oracle (colour test model)', backend: state.backend, size: state.size, msPerFrame: state.msPerFrame, fps: state.fps, frames: state.frames }, null, 2));
  });
  it('runs the mask filter as one wasm SIMD kernel on the threaded build (shared memory), equal to its tfjs ops', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core');
    const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await b.newPage();
      await page.goto(server!.url);
      await page.waitForFunction('typeof window.__portraitsegFilterCheck === "function"');
      // 150x100: a width that is not a multiple of 4, resized from the net's 64x64 (with the filter, 128x128 frames)
      const r = (await page.evaluate('window.__portraitsegFilterCheck("models/mf/model.json", 150, 100)')) as { kernelRan: boolean; maxDiff: number; shared: boolean; backend: string };
      assert.equal(r.backend, 'wasm');
      assert.ok(r.shared, 'the page runs tfjs wasm on a shared memory (its threaded build, COOP/COEP): the case this test is for');
      assert.ok(r.kernelRan, 'the mask filter did not run as the wasm kernel in the browser');
      assert.ok(r.maxDiff < 1e-5, `kernel and ops differ in the browser: max |P diff| ${r.maxDiff}`);
    } finally {
      await b.close();
    }
  });
});
