/**
 * The TFLite export in MediaPipe Tasks' ImageSegmenter (@mediapipe/tasks-vision, a dev
 * dependency) inside Debian's chromium: the file must load (its TFLite Support metadata gives
 * the input normalisation and the sigmoid), and the confidence mask must equal
 * sigmoid(tfjs logits) on the same frame. The page and its files are served through
 * playwright's request routing (no server). Skips when chromium or the package is absent.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { createModel } from '../../src/models';
import { modelToTflite } from '../../src/export/tflite';
import { missing } from '../helpers/required';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const STUDENT = { inputSize: 32, width: 0.35, expansion: 2, decoderChannels: 8 };
const ORIGIN = 'http://mediapipe.test';

const PAGE = `<!doctype html><html><body><script type="module">
import { FilesetResolver, ImageSegmenter } from './vision_bundle.mjs';
window.segment = async (model, w, h, rgba) => {
  try {
    const fileset = await FilesetResolver.forVisionTasks('./wasm');
    const buf = new Uint8Array(await (await fetch(model)).arrayBuffer());
    const seg = await ImageSegmenter.createFromOptions(fileset, {
      baseOptions: { modelAssetBuffer: buf, delegate: 'CPU' }, runningMode: 'IMAGE', outputConfidenceMasks: true, outputCategoryMask: false });
    const res = seg.segment(new ImageData(new Uint8ClampedArray(rgba), w, h));
    const m = res.confidenceMasks[0];
    const out = { ok: true, w: m.width, h: m.height, masks: res.confidenceMasks.length, mask: Array.from(m.getAsFloat32Array()) };
    seg.close();
    return out;
  } catch (e) { return { ok: false, err: String((e && e.message) || e) }; }
};
window.ready = true;
</script></body></html>`;

function tasksVisionDir(): string | null {
  try {
    return path.dirname(require.resolve('@mediapipe/tasks-vision'));
  } catch {
    return null;
  }
}

describe('export tflite in MediaPipe ImageSegmenter (chromium)', function () {
  this.timeout(180000);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let browser: any = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let page: any = null;
  const files = new Map<string, { body: Buffer; type: string }>();

  before(async function () {
    const dir = tasksVisionDir();
    // skips with a line where one is missing; under CI=true that is a failure naming it
    if (!dir) missing(this, '@mediapipe/tasks-vision (dev dependency)', 'not installed: npm ci installs it');
    if (!fs.existsSync(CHROMIUM)) missing(this, 'chromium', `${CHROMIUM} not found; install Debian's chromium: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
    await selectBackend('cpu');
    files.set('/index.html', { body: Buffer.from(PAGE), type: 'text/html' });
    files.set('/vision_bundle.mjs', { body: fs.readFileSync(path.join(dir!, 'vision_bundle.mjs')), type: 'text/javascript' });
    for (const f of fs.readdirSync(path.join(dir!, 'wasm'))) {
      files.set(`/wasm/${f}`, { body: fs.readFileSync(path.join(dir!, 'wasm', f)), type: f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    }
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await page.route(`${ORIGIN}/**`, (route: any) => {
      const f = files.get(new URL(route.request().url()).pathname);
      return f ? route.fulfill({ status: 200, body: f.body, contentType: f.type }) : route.fulfill({ status: 404, body: '' });
    });
    await page.goto(`${ORIGIN}/index.html`);
    await page.waitForFunction('window.ready === true');
  });
  after(async () => {
    if (browser) await browser.close();
  });

  let ran = 0;
  after(() => {
    if (browser) assert.equal(ran, 2, 'both weight types ran');
  });

  for (const [quantize, bound] of [
    ['none', 1e-4],
    ['float16', 0.01],
  ] as const) {
    it(`${quantize}: loads, and the confidence mask is sigmoid(logits) of the tfjs model (max |P diff| <= ${bound})`, async () => {
      // the mask-filter student: frames 64x64, net at 32
      const { model, meta } = createModel('mnv2_student_s_dgf', STUDENT, { seed: 5 });
      let k = 0;
      for (const l of model.layers) {
        if (l.getClassName() !== 'BatchNormalization') continue;
        const ws = l.getWeights().map((w) => tf.randomUniform(w.shape, 0.5, 1.5, 'float32', 30 + k++));
        l.setWeights(ws);
        tf.dispose(ws);
      }
      const [h, w] = meta.frameSize;
      const bytes = modelToTflite(model, { inputSize: [h, w], quantize, segmenter: { name: meta.name, description: 'test', version: '0' } });
      files.set(`/model-${quantize}.tflite`, { body: Buffer.from(bytes), type: 'application/octet-stream' });
      // an RGBA frame exactly at the model's size (MediaPipe then feeds it unresized)
      const rgba = new Uint8Array(w * h * 4);
      for (let i = 0; i < w * h; i++) {
        const x = i % w;
        const y = (i / w) | 0;
        rgba[4 * i] = (x * 7 + y * 3) % 256;
        rgba[4 * i + 1] = (x * y) % 256;
        rgba[4 * i + 2] = Math.hypot(x - w / 2, y - h / 2) < w / 4 ? 220 : 30;
        rgba[4 * i + 3] = 255;
      }
      const rgb = new Float32Array(w * h * 3);
      for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c] / 255;
      const ref = tf.tidy(() => tf.sigmoid(model.predict(tf.tensor4d(rgb, [1, h, w, 3])) as tf.Tensor).dataSync());
      model.dispose();
      const r = await page.evaluate(([m, ww, hh, d]: [string, number, number, number[]]) => (window as unknown as { segment: (...a: unknown[]) => unknown }).segment(m, ww, hh, d), [
        `model-${quantize}.tflite`,
        w,
        h,
        Array.from(rgba),
      ]);
      assert.ok(r.ok, `ImageSegmenter failed: ${r.err}`);
      ran++;
      assert.equal(r.masks, 1);
      assert.deepEqual([r.w, r.h], [w, h]);
      let max = 0;
      for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ref[i] - r.mask[i]));
      assert.ok(max <= bound, `max |P diff| ${max}`);
      if (quantize === 'none') console.log(`      (MediaPipe ImageSegmenter vs tfjs: max |P diff| ${max.toExponential(2)})`);
    });
  }
});
