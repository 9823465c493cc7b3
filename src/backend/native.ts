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
import { exportOnnxBytes, ONNX_INPUT, ONNX_OUTPUT } from '../export/onnx';

/** `runtime.frozen`: auto = onnxruntime-node when it loads and passes parity, else tfjs. */
export type FrozenRuntime = 'auto' | 'onnx' | 'tfjs';
export const FROZEN_RUNTIMES: FrozenRuntime[] = ['auto', 'onnx', 'tfjs'];

export interface NativePredictor {
  /** e.g. "onnxruntime-node 1.30.0 CPU, 2 threads (parity: max |p| diff 2.1e-7)". */
  readonly describe: string;
  /** Max |sigmoid| difference against tfjs on the parity frames. */
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
  /** [H, W] of the parity frames (the model's frame size). */
  frameSize: [number, number];
  /** intra-op threads (default: all cores). */
  threads?: number;
  /** Largest accepted |sigmoid(onnx) - sigmoid(tfjs)| on the parity frames (default 1e-4). */
  tolerance?: number;
  /** For tests: the module name to require instead of onnxruntime-node. */
  ortModule?: string;
  /** Milliseconds to wait for one answer of the worker (default 10 min). */
  timeoutMs?: number;
}

function workerScript(): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  return { file: path.join(__dirname, `native-worker${ext}`), execArgv: ext === '.ts' ? ['--require', 'tsx/cjs'] : [] };
}

class SyncOrt {
  private readonly worker: Worker;
  private closed = false;
  constructor(private readonly timeoutMs: number) {
    const { file, execArgv } = workerScript();
    this.worker = new Worker(file, { execArgv });
    this.worker.unref();
  }

  call(msg: Record<string, unknown>): { data?: Float32Array; dims?: number[] } {
    if (this.closed) throw new Error('native predictor: already disposed');
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    try {
      this.worker.postMessage({ ...msg, port: port2, flag }, [port2]);
      if (Atomics.wait(flag, 0, 0, this.timeoutMs) === 'timed-out') throw new Error(`native predictor: onnxruntime did not answer within ${this.timeoutMs} ms`);
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

/** Seeded frames in 0..1 (no tfjs RNG: the same numbers on every backend). */
function parityFrames(n: number, h: number, w: number, seed: number): Float32Array {
  const out = new Float32Array(n * h * w * 3);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

function maxProbDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(sig(a[i]) - sig(b[i]));
    if (!(e <= d)) d = e; // NaN counts as a failure
  }
  return d;
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
    bytes = exportOnnxBytes(model);
  } catch (e) {
    return fail(`the model has no ONNX export: ${(e as Error).message.split('\n')[0]}`);
  }
  const threads = Math.max(1, o.threads ?? os.cpus().length);
  const ort = new SyncOrt(o.timeoutMs ?? 600_000);
  try {
    ort.call({ type: 'init', bytes, threads, inputName: ONNX_INPUT, outputName: ONNX_OUTPUT });
    const [h, w] = o.frameSize;
    const frames = parityFrames(2, h, w, 17);
    const got = ort.call({ type: 'run', input: frames, dims: [2, h, w, 3] }).data!;
    const ref = tf.tidy(() => (model.apply(tf.tensor4d(frames, [2, h, w, 3]), { training: false }) as tf.Tensor).dataSync() as Float32Array);
    const parity = maxProbDiff(ref, got);
    const tol = o.tolerance ?? 1e-4;
    if (!(parity <= tol)) {
      ort.close();
      return fail(`ONNX parity check failed: max |p| diff ${parity.toExponential(2)} > ${tol}`);
    }
    const describe = `onnxruntime-node${version} CPU, ${threads} thread${threads > 1 ? 's' : ''} (ONNX parity at load: max |p| diff ${parity.toExponential(1)})`;
    const predictor: NativePredictor = {
      describe,
      parity,
      predict(input, dims) {
        const r = ort.call({ type: 'run', input, dims });
        return { data: r.data!, dims: r.dims! };
      },
      dispose: () => ort.close(),
    };
    return { predictor, runtime: 'onnxruntime-node', reason: describe };
  } catch (e) {
    ort.close();
    return fail(`onnxruntime-node failed: ${(e as Error).message.split('\n')[0]}`);
  }
}
