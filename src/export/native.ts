/**
 * Frozen models on a native runtime (issue #13): a frozen portraitseg model (the distillation
 * teacher, eval, blur) runs through its ONNX export (src/export/onnx.ts) on onnxruntime-node's
 * CPU kernels with both cores, when onnxruntime-node (an optional dependency) is installed and
 * the export passes a parity check against tfjs at load; tfjs (wasm) otherwise.
 *
 * The callers' forward passes are synchronous (the distillation loss asks for the teacher's
 * targets inside the training step), while onnxruntime-node only has an async `run`: the session
 * lives in a worker thread (native-worker.ts) and `predict` blocks on `Atomics.wait` until the
 * worker has answered on a MessagePort, read with `receiveMessageOnPort`. The worker is unref'd
 * and ended by `dispose`.
 */
import * as os from 'os';
import * as path from 'path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import { exportOnnxBytes, ONNX_INPUT, ONNX_OUTPUT } from './onnx';
import { Parity, parityFailure, ParityMeter, parityFrames, parityResult, parityTolerance } from './parity';

/** `runtime.frozen`: auto = onnxruntime-node when it loads and passes parity, else tfjs. */
export type FrozenRuntime = 'auto' | 'onnx' | 'tfjs';
export const FROZEN_RUNTIMES: FrozenRuntime[] = ['auto', 'onnx', 'tfjs'];

export interface NativePredictor {
  /** e.g. "onnxruntime-node 1.30.0 CPU, 2 threads (ONNX parity at load: max |P(person) diff| 2.1e-7)". */
  readonly describe: string;
  /** Max |P(person) diff| against tfjs on the parity frames (src/export/parity.ts). */
  readonly parity: number;
  /** Logits NHWC for frames NHWC in 0..1; synchronous (blocks until onnxruntime answers). */
  predict(frames: Float32Array, dims: [number, number, number, number]): { data: Float32Array; dims: number[] };
  dispose(): void;
}

export interface NativeChoice {
  predictor: NativePredictor | null;
  /** 'onnxruntime-node' or 'tfjs' */
  runtime: string;
  /** One line: which runtime runs the model and why. */
  reason: string;
}

export interface NativeOptions {
  runtime: FrozenRuntime;
  /** The model's name (ModelMeta.name), for the parity line and its failure message. */
  name: string;
  /** [H, W] of the parity frames (the model's frame size). */
  frameSize: [number, number];
  /** intra-op threads (default: all cores). */
  threads?: number;
  /** Largest accepted max |P(person) diff| on the parity frames (default RUNTIME_TOLERANCE, 1e-3: onnxruntime's own kernels). */
  tolerance?: number;
  /** The ONNX export to run (default: exported from `model` now); for callers that hold one already. */
  onnxBytes?: Uint8Array;
  /** For tests: the module name to require instead of onnxruntime-node. */
  ortModule?: string;
  /** Milliseconds to wait for one answer of the worker (default 10 min). */
  timeoutMs?: number;
}

function workerScript(): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  // from the sources, the worker compiles through tsx: resolved here, so any working directory works
  return { file: path.join(__dirname, `native-worker${ext}`), execArgv: ext === '.ts' ? ['--require', require.resolve('tsx/cjs')] : [] };
}

/** How long a new worker may take to answer its first message (start, tsx compile on a busy machine). */
const STARTUP_TIMEOUT_MS = 60000;

class SyncOrt {
  private readonly worker: Worker;
  private closed = false;
  constructor(private readonly timeoutMs: number) {
    const { file, execArgv } = workerScript();
    this.worker = new Worker(file, { execArgv });
    this.worker.unref();
    // A worker that dies while starting can never answer, and the blocked caller would wait the
    // whole timeout: a start-up handshake with a short timeout turns that into an error.
    this.call({ type: 'ping' }, STARTUP_TIMEOUT_MS, 'the onnxruntime worker did not start');
  }

  call(msg: Record<string, unknown>, timeoutMs = this.timeoutMs, what = 'onnxruntime did not answer'): { data?: Float32Array; dims?: number[] } {
    if (this.closed) throw new Error('native predictor: already disposed');
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    try {
      this.worker.postMessage({ ...msg, port: port2, flag }, [port2]);
      if (Atomics.wait(flag, 0, 0, timeoutMs) === 'timed-out') {
        if (msg.type === 'ping') void this.worker.terminate();
        throw new Error(`native predictor: ${what} within ${timeoutMs} ms`);
      }
      const got = receiveMessageOnPort(port1);
      const r = got?.message as { ok: boolean; error?: string; data?: Float32Array; dims?: number[] } | undefined;
      if (!r) throw new Error('native predictor: no answer from the onnxruntime worker');
      if (!r.ok) throw new Error(`onnxruntime-node: ${r.error}`);
      return r;
    } finally {
      port1.close();
    }
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ type: 'close' });
    } catch {
      // the worker is terminated below anyway
    }
    this.closed = true;
    void this.worker.terminate();
  }
}

/**
 * Chooses the runtime for a frozen model. `auto` falls back to tfjs (predictor null) with the
 * reason when onnxruntime-node is missing, the model cannot be exported or parity fails; `onnx`
 * throws one line in those cases; `tfjs` never tries.
 */
export function nativePredictor(model: tf.LayersModel, o: NativeOptions): NativeChoice {
  if (o.runtime === 'tfjs') return { predictor: null, runtime: 'tfjs', reason: 'tfjs (runtime.frozen=tfjs)' };
  const fail = (why: string): NativeChoice => {
    if (o.runtime === 'onnx') throw new Error(`runtime.frozen=onnx: ${why}`);
    return { predictor: null, runtime: 'tfjs', reason: `tfjs (${why})` };
  };
  const mod = o.ortModule ?? 'onnxruntime-node';
  let version = '';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(mod);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      version = ` ${(require(`${mod}/package.json`) as { version: string }).version}`;
    } catch {
      version = '';
    }
  } catch (e) {
    return fail(`${mod} is not usable: ${(e as Error).message.split('\n')[0]}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = o.onnxBytes ?? exportOnnxBytes(model);
  } catch (e) {
    return fail(`the model has no ONNX export: ${(e as Error).message.split('\n')[0]}`);
  }
  const threads = Math.max(1, o.threads ?? os.cpus().length);
  let ort: SyncOrt;
  try {
    ort = new SyncOrt(o.timeoutMs ?? 600_000);
  } catch (e) {
    return fail(`onnxruntime-node failed: ${(e as Error).message.split('\n')[0]}`);
  }
  let parity: Parity;
  try {
    ort.call({ type: 'init', bytes, threads, inputName: ONNX_INPUT, outputName: ONNX_OUTPUT });
    // the parity rule of src/export/parity.ts, on two portrait frames at the model's frame size
    const [h, w] = o.frameSize;
    const shape = [2, h, w, 3];
    const frames = parityFrames(2, h, w, 17);
    const got = ort.call({ type: 'run', input: frames, dims: shape }).data!;
    const ref = tf.tidy(() => (model.apply(tf.tensor4d(frames, [2, h, w, 3]), { training: false }) as tf.Tensor).dataSync() as Float32Array);
    const meter = new ParityMeter().add({ logits: ref }, { logits: got }, shape);
    parity = parityResult(meter, { model: o.name, format: 'onnx on onnxruntime-node', against: 'tfjs', tolerance: parityTolerance({ runtime: 'other', float32: o.tolerance }) });
  } catch (e) {
    ort.close();
    return fail(`onnxruntime-node failed: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!parity.ok) {
    ort.close();
    return fail(parityFailure(parity));
  }
  const describe =
    `onnxruntime-node${version} CPU, ${threads} thread${threads > 1 ? 's' : ''} ` +
    `(parity at load on portrait frames ${parity.shapes[0].join('x')}: max |P(person) diff| ${parity.maxAbsProb.toExponential(1)}, tolerance ${parity.tolerance})`;
  const predictor: NativePredictor = {
    describe,
    parity: parity.maxAbsProb,
    predict(input, dims) {
      const r = ort.call({ type: 'run', input, dims });
      return { data: r.data!, dims: r.dims! };
    },
    dispose: () => ort.close(),
  };
  return { predictor, runtime: 'onnxruntime-node', reason: describe };
}
