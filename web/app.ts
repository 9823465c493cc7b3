/**
 * The live background-blur page (bundled by esbuild into web/dist/app.js, see
 * src/runtime/web-server.ts). Uses the same runtime as Node (src/runtime/segmenter.ts).
 *
 * URL parameters (all optional) pre-set the controls, e.g. for tests and links:
 *   ?model=models/student/&backend=wasm&source=camera&mode=blur&strength=12&feather=2&autostart=1
 * window.__portraitseg exposes {ready, running, busy, frames, msPerFrame, fps, backend, error}.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createSegmenter, Segmenter, RgbResult } from '../src/runtime/segmenter';
import { registerCustomLayers } from '../src/models/layers';
import { GUIDED_FILTER_KERNEL, isSharedMemory, setWasmGuidedFilter, wasmMemoryOf } from '../src/models/kernels/guided-filter-wasm';

interface PageState {
  ready: boolean;
  running: boolean;
  /** A frame is being drawn (source and output canvases may not match yet). */
  busy: boolean;
  frames: number;
  msPerFrame: number;
  fps: number;
  backend: string;
  model: string;
  size: [number, number];
  error: string | null;
}

const state: PageState = { ready: false, running: false, busy: false, frames: 0, msPerFrame: 0, fps: 0, backend: '', model: '', size: [0, 0], error: null };
(window as unknown as { __portraitseg: PageState }).__portraitseg = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  state.error = msg;
  $('error').textContent = msg;
  console.error(e);
}

function radio(name: string): string {
  return (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement).value;
}

function setRadio(name: string, value: string | null): void {
  if (!value) return;
  const el = document.querySelector(`input[name=${name}][value=${value}]`) as HTMLInputElement | null;
  if (el) el.checked = true;
}

async function listModels(): Promise<void> {
  const sel = $<HTMLSelectElement>('modelList');
  try {
    const res = await fetch('models/index.json');
    const names: string[] = res.ok ? await res.json() : [];
    sel.innerHTML = names.map((n) => `<option value="models/${n}/">${n}</option>`).join('') || '<option value="">(none served)</option>';
  } catch {
    sel.innerHTML = '<option value="">(none served)</option>';
  }
}

let segmenter: Segmenter | null = null;
let loadedKey = '';
let stream: MediaStream | null = null;
let stillImage: HTMLImageElement | null = null;
let background: HTMLImageElement | null = null;
let timer = 0;

async function ensureBackend(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  if (name === 'wasm') setWasmPaths('wasm/');
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} is not available in this browser`);
  await tf.ready();
  state.backend = tf.getBackend();
}

async function ensureSegmenter(): Promise<Segmenter> {
  const url = $<HTMLInputElement>('modelUrl').value.trim() || $<HTMLSelectElement>('modelList').value;
  if (!url) throw new Error('no model: serve an exported model (npm run web -- --models DIR) or type its URL');
  const backend = $<HTMLSelectElement>('backend').value;
  const key = `${url}|${backend}`;
  if (segmenter && key === loadedKey) return segmenter;
  segmenter?.dispose();
  segmenter = null;
  await ensureBackend(backend);
  segmenter = await createSegmenter(url);
  loadedKey = key;
  state.model = url;
  return segmenter;
}

async function startSource(): Promise<void> {
  const video = $<HTMLVideoElement>('video');
  stillImage = null;
  if (radio('source') === 'camera') {
    if (!stream) stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    video.srcObject = stream;
  } else {
    const file = $<HTMLInputElement>('file').files?.[0];
    if (!file) throw new Error('choose a video or image file');
    const url = URL.createObjectURL(file);
    if (file.type.startsWith('image/')) {
      stillImage = new Image();
      stillImage.src = url;
      await stillImage.decode();
      return;
    }
    video.srcObject = null;
    video.src = url;
  }
  await video.play();
  if (!video.videoWidth) await new Promise((r) => video.addEventListener('loadeddata', r, { once: true }));
}

function toImageData(r: RgbResult, channels: number): ImageData {
  const out = new ImageData(r.width, r.height);
  const d = out.data;
  for (let i = 0, j = 0; i < r.width * r.height; i++, j += channels) {
    d[i * 4] = r.data[j];
    d[i * 4 + 1] = r.data[channels === 1 ? j : j + 1];
    d[i * 4 + 2] = r.data[channels === 1 ? j : j + 2];
    d[i * 4 + 3] = 255;
  }
  return out;
}

async function frameLoop(): Promise<void> {
  const seg = await ensureSegmenter();
  const video = $<HTMLVideoElement>('video');
  const src = $<HTMLCanvasElement>('source');
  const dst = $<HTMLCanvasElement>('output');
  const maxWidth = Number($<HTMLInputElement>('maxWidth').value) || 640;
  const times: number[] = [];
  const stamps: number[] = [];
  state.running = true;
  const step = async () => {
    if (!state.running) return;
    state.busy = true;
    try {
      const media: CanvasImageSource = stillImage ?? video;
      const mw = stillImage ? stillImage.naturalWidth : video.videoWidth;
      const mh = stillImage ? stillImage.naturalHeight : video.videoHeight;
      if (mw && mh) {
        const s = Math.min(1, maxWidth / mw);
        const w = Math.round(mw * s);
        const h = Math.round(mh * s);
        if (src.width !== w || src.height !== h) {
          src.width = dst.width = w;
          src.height = dst.height = h;
        }
        // the frame the model sees is exactly the one shown as input
        const sctx = src.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
        sctx.drawImage(media, 0, 0, w, h);
        const frame = sctx.getImageData(0, 0, w, h);
        const t0 = performance.now();
        const mode = radio('mode');
        const opts = { strength: Number($<HTMLInputElement>('strength').value), edgeFeather: Number($<HTMLInputElement>('feather').value) };
        let img: ImageData;
        if (mode === 'mask') img = toImageData(await seg.segment(frame), 1);
        else if (mode === 'replace' && background) img = toImageData(await seg.replace(frame, background, opts), 3);
        else img = toImageData(await seg.blur(frame, opts), 3);
        (dst.getContext('2d') as CanvasRenderingContext2D).putImageData(img, 0, 0);
        const t1 = performance.now();
        times.push(t1 - t0);
        stamps.push(t1);
        if (times.length > 30) times.shift();
        while (stamps.length > 1 && t1 - stamps[0] > 2000) stamps.shift();
        state.frames++;
        state.size = [h, w];
        state.msPerFrame = times.reduce((a, b) => a + b, 0) / times.length;
        state.fps = stamps.length > 1 ? ((stamps.length - 1) * 1000) / (t1 - stamps[0]) : 0;
        $('stats').textContent = `${state.backend} | ${w}x${h} | ${state.msPerFrame.toFixed(1)} ms/frame | ${state.fps.toFixed(1)} FPS | ${tf.memory().numTensors} tensors | frames ${state.frames}`;
      }
    } catch (e) {
      showError(e);
      state.running = false;
      return;
    } finally {
      state.busy = false;
    }
    timer = requestAnimationFrame(() => void step());
  };
  await step();
}

async function start(): Promise<void> {
  stop();
  state.error = null;
  $('error').textContent = '';
  try {
    await startSource();
    await ensureSegmenter();
    state.ready = true;
    await frameLoop();
  } catch (e) {
    showError(e);
  }
}

function stop(): void {
  state.running = false;
  cancelAnimationFrame(timer);
}

async function init(): Promise<void> {
  await listModels();
  if (params.get('model')) $<HTMLInputElement>('modelUrl').value = params.get('model') as string;
  if (params.get('backend')) $<HTMLSelectElement>('backend').value = params.get('backend') as string;
  setRadio('source', params.get('source'));
  setRadio('mode', params.get('mode'));
  for (const k of ['strength', 'feather', 'maxWidth']) if (params.get(k)) $<HTMLInputElement>(k).value = params.get(k) as string;
  const sync = () => {
    $('strengthVal').textContent = $<HTMLInputElement>('strength').value;
    $('featherVal').textContent = $<HTMLInputElement>('feather').value;
  };
  $('strength').addEventListener('input', sync);
  $('feather').addEventListener('input', sync);
  sync();
  $('bgFile').addEventListener('change', async () => {
    const f = $<HTMLInputElement>('bgFile').files?.[0];
    if (!f) return;
    background = new Image();
    background.src = URL.createObjectURL(f);
    await background.decode();
  });
  $('start').addEventListener('click', () => void start());
  $('stop').addEventListener('click', stop);
  if (params.get('autostart')) await start();
}

interface BenchSpec {
  backend: string;
  sizes: [number, number][];
  runs: number;
  models: { label: string; url: string; kind: 'layers' | 'graph' | 'segmenter-blur'; fixed?: [number, number] }[];
}

/** ms per frame in this browser (used by `portraitseg bench infer --browser`); medians after 2 warm-up runs. */
async function bench(spec: BenchSpec): Promise<{ model: string; backend: string; size: [number, number]; msPerFrame: number; runs: number }[]> {
  await ensureBackend(spec.backend);
  registerCustomLayers();
  const rows = [];
  for (const m of spec.models) {
    const sizes = m.fixed ? [m.fixed] : spec.sizes;
    let run: (x: tf.Tensor4D, img: ImageData) => Promise<void>;
    let dispose: () => void;
    if (m.kind === 'segmenter-blur') {
      const seg = await createSegmenter(m.url);
      run = async (_x, img) => void (await seg.blur(img, { strength: 12, edgeFeather: 2 }));
      dispose = () => seg.dispose();
    } else {
      const model = m.kind === 'graph' ? await tf.loadGraphModel(m.url) : await tf.loadLayersModel(m.url);
      run = async (x) => {
        const y = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
        await y.data();
        y.dispose();
      };
      dispose = () => model.dispose();
    }
    for (const [w, h] of sizes) {
      const x = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const rgba = tf.tidy(() => x.mul(255).pad([[0, 0], [0, 0], [0, 0], [0, 1]], 255).toInt());
      const img = new ImageData(new Uint8ClampedArray(await rgba.data()), w, h);
      rgba.dispose();
      for (let i = 0; i < 2; i++) await run(x, img);
      const times: number[] = [];
      const t0 = performance.now();
      while (times.length < spec.runs || (performance.now() - t0 < 2000 && times.length < 50)) {
        const s = performance.now();
        await run(x, img);
        times.push(performance.now() - s);
      }
      x.dispose();
      times.sort((a, b) => a - b);
      const k = times.length >> 1;
      rows.push({ model: m.label, backend: `browser-${tf.getBackend()}`, size: [w, h] as [number, number], msPerFrame: times.length % 2 ? times[k] : (times[k - 1] + times[k]) / 2, runs: times.length });
    }
    dispose();
  }
  return rows;
}
(window as unknown as { __portraitsegBench: typeof bench }).__portraitsegBench = bench;

/**
 * The mask filter's wasm kernel against the layer's tfjs ops in this browser, on one seeded frame
 * of a layers model with a mask filter (test/web/page.test.ts): whether the kernel ran, the largest
 * |P(person)| difference, and whether the backend's memory is shared (tfjs wasm's threaded build).
 */
async function filterCheck(url: string, width: number, height: number): Promise<{ kernelRan: boolean; maxDiff: number; shared: boolean; backend: string }> {
  await ensureBackend('wasm');
  registerCustomLayers();
  const model = await tf.loadLayersModel(url);
  const x = tf.randomUniform([1, height, width, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  setWasmGuidedFilter(false);
  const ops = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
  setWasmGuidedFilter(true);
  let fused: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    fused = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
    return fused;
  });
  const maxDiff = tf.tidy(() => ops.sub(fused!).abs().max().dataSync()[0]);
  tf.dispose([x, ops, fused!]);
  model.dispose();
  const mem = wasmMemoryOf(tf.backend());
  const shared = !!mem && isSharedMemory(mem);
  return { kernelRan: profile.kernelNames.includes(GUIDED_FILTER_KERNEL), maxDiff, shared, backend: tf.getBackend() };
}
(window as unknown as { __portraitsegFilterCheck: typeof filterCheck }).__portraitsegFilterCheck = filterCheck;
// for debugging and profiling from the devtools console
(window as unknown as { __tf: typeof tf; __setBackend: typeof ensureBackend }).__tf = tf;
(window as unknown as { __setBackend: typeof ensureBackend }).__setBackend = ensureBackend;

void init();
