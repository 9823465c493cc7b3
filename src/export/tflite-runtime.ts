/**
 * A real TensorFlow Lite runtime in Node: Google's LiteRT.js (`@litertjs/core`, the
 * successor of TFLite for the web; TFLite's C++ interpreter with the XNNPACK CPU delegate,
 * compiled to WebAssembly). Used to prove TFLite exports (src/export/tflite.ts) and as the
 * reference for TFLite imports: `runTflite(bytes, inputs)` runs a .tflite file's default
 * signature on float32 inputs and returns its float32 outputs.
 *
 * Why LiteRT.js: it ships its .wasm files inside the npm package (nothing is downloaded at
 * install or run time), has no peer dependency on a tfjs version (`@tensorflow/tfjs-tflite`
 * pins tfjs-core 4.9.0), runs in plain Node (no browser needed) and runs MediaPipe's
 * selfie segmenter including its custom Convolution2DTransposeBias op.
 *
 * It is an optional dependency: when it cannot be loaded, `tfliteRuntimeUnavailable()`
 * says why and `runTflite` throws `TfliteRuntimeUnavailableError` with that reason.
 *
 * The package is written for browsers and web workers: its loader runs the Emscripten
 * script through `importScripts` and reads `self.ModuleFactory`. We provide those two
 * globals (and the script's CommonJS `require`/`__dirname`) only while it loads, then
 * remove them again, so the rest of the process (tfjs' platform detection) never sees them.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { pathToFileURL } from 'url';

export const TFLITE_RUNTIME = '@litertjs/core';

export class TfliteRuntimeUnavailableError extends Error {
  constructor(reason: string) {
    super(`no TFLite runtime: ${reason}`);
    this.name = 'TfliteRuntimeUnavailableError';
  }
}

/** A float32 tensor crossing the runtime boundary (row-major, the model's layout). */
export interface TfliteArray {
  data: Float32Array;
  shape: number[];
}

export interface TfliteIoDetails {
  name: string;
  dtype: string;
  shape: number[];
}

// The parts of @litertjs/core we use (its own typings are ESM-only).
interface LrTensor {
  data(): Promise<ArrayLike<number>>;
  delete(): void;
}
interface LrCompiled {
  getInputDetails(): readonly { name: string; dtype: string; shape: Int32Array }[];
  getOutputDetails(): readonly { name: string; dtype: string; shape: Int32Array }[];
  run(input: LrTensor[]): Promise<LrTensor[]>;
  delete(): void;
}
interface LiteRt {
  loadLiteRt(dir: string): Promise<unknown>;
  loadAndCompile(model: Uint8Array, opts: { accelerator: 'wasm' }): Promise<LrCompiled>;
  Tensor: new (data: Float32Array, shape: number[]) => LrTensor;
}

// tsc compiles `import()` to `require()` under module=commonjs; the package is ESM only.
const importEsm = new Function('u', 'return import(u)') as (url: string) => Promise<unknown>;

let loading: Promise<LiteRt> | null = null;
/** The runtime's last log lines (it logs through Emscripten's printErr): context for errors. */
const logTail: string[] = [];

function log(line: string): void {
  logTail.push(line);
  if (logTail.length > 20) logTail.shift();
}

async function load(): Promise<LiteRt> {
  let entry: string;
  try {
    entry = require.resolve(TFLITE_RUNTIME);
  } catch {
    throw new TfliteRuntimeUnavailableError(`${TFLITE_RUNTIME} is not installed (it is an optional dependency: npm install ${TFLITE_RUNTIME})`);
  }
  const wasmDir = path.join(path.dirname(entry), '..', 'wasm');
  if (!fs.existsSync(wasmDir)) throw new TfliteRuntimeUnavailableError(`${TFLITE_RUNTIME} has no wasm/ folder at ${wasmDir}`);
  const lr = (await importEsm(pathToFileURL(entry).href)) as LiteRt;
  const g = globalThis as Record<string, unknown>;
  const shims: Record<string, unknown> = {
    self: globalThis,
    importScripts: (file: string) => {
      const code = fs.readFileSync(file, 'utf8');
      const factory = vm.runInThisContext(`(function (require, __dirname, __filename) {${code}\n;return ModuleFactory;})`, { filename: file }) as (
        r: NodeRequire,
        d: string,
        f: string,
      ) => unknown;
      g.ModuleFactory = factory(require, path.dirname(file), file);
    },
    // read by the loader as the Emscripten module's options
    Module: { print: log, printErr: log },
  };
  // ModuleFactory is set by importScripts and cleared (to undefined) by the loader
  const added = [...Object.keys(shims), 'ModuleFactory'].filter((k) => g[k] === undefined);
  for (const k of added) if (k in shims) g[k] = shims[k];
  // in Node there is no navigator.gpu: the loader warns that WebGPU is missing; we only use the CPU
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/WebGPU/i.test(String(args[0]))) warn(...args);
  };
  try {
    await lr.loadLiteRt(wasmDir + path.sep);
  } catch (e) {
    throw new TfliteRuntimeUnavailableError(`${TFLITE_RUNTIME} did not start: ${(e as Error).message}`);
  } finally {
    console.warn = warn;
    for (const k of added) delete g[k];
  }
  return lr;
}

function runtime(): Promise<LiteRt> {
  if (!loading) {
    loading = load();
    loading.catch(() => undefined);
  }
  return loading;
}

/** null when the TFLite runtime loads here, else the reason it does not (for skips and messages). */
export async function tfliteRuntimeUnavailable(): Promise<string | null> {
  try {
    await runtime();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

async function compile(lr: LiteRt, bytes: Uint8Array): Promise<LrCompiled> {
  logTail.length = 0;
  try {
    return await lr.loadAndCompile(bytes, { accelerator: 'wasm' });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`TFLite runtime could not load the model: ${msg}${logTail.length ? ` (runtime log: ${logTail.slice(-3).join(' | ')})` : ''}`);
  }
}

const dims = (s: Int32Array): number[] => Array.from(s);

/** The model's input and output tensors (default signature) as the runtime sees them. */
export async function tfliteIo(bytes: Uint8Array): Promise<{ inputs: TfliteIoDetails[]; outputs: TfliteIoDetails[] }> {
  const lr = await runtime();
  const m = await compile(lr, bytes);
  try {
    const io = (d: readonly { name: string; dtype: string; shape: Int32Array }[]) => d.map((t) => ({ name: t.name, dtype: t.dtype, shape: dims(t.shape) }));
    return { inputs: io(m.getInputDetails()), outputs: io(m.getOutputDetails()) };
  } finally {
    m.delete();
  }
}

/**
 * Runs a .tflite model's default signature with the real TFLite runtime.
 * `inputs` in the model's input order, float32, each of exactly the model's input shape.
 * Returns every output (float32 copies) in the model's output order.
 */
export async function runTflite(bytes: Uint8Array, inputs: TfliteArray[]): Promise<TfliteArray[]> {
  const lr = await runtime();
  const m = await compile(lr, bytes);
  const tensors: LrTensor[] = [];
  try {
    const want = m.getInputDetails();
    if (want.length !== inputs.length) throw new Error(`runTflite: the model takes ${want.length} input(s), got ${inputs.length}`);
    want.forEach((d, i) => {
      const s = dims(d.shape);
      if (d.dtype !== 'float32') throw new Error(`runTflite: input ${d.name} is ${d.dtype}; only float32 inputs are supported`);
      if (s.join('x') !== inputs[i].shape.join('x')) throw new Error(`runTflite: input ${d.name} has shape ${s.join('x')}, got ${inputs[i].shape.join('x')}`);
      tensors.push(new lr.Tensor(inputs[i].data, s));
    });
    const outs = await m.run(tensors);
    tensors.push(...outs);
    const details = m.getOutputDetails();
    const res: TfliteArray[] = [];
    for (let i = 0; i < outs.length; i++) {
      if (details[i].dtype !== 'float32') throw new Error(`runTflite: output ${details[i].name} is ${details[i].dtype}; only float32 outputs are supported`);
      res.push({ data: Float32Array.from(await outs[i].data()), shape: dims(details[i].shape) });
    }
    return res;
  } finally {
    for (const t of tensors) t.delete();
    m.delete();
  }
}
