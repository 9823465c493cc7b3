/**
 * Worker side of src/backend/native.ts: owns one onnxruntime-node session and answers each
 * request on the request's MessagePort, then wakes the (blocked) caller through the shared flag.
 */
import { parentPort, MessagePort } from 'worker_threads';

interface Request {
  type: 'init' | 'run' | 'close';
  port: MessagePort;
  flag: Int32Array;
  bytes?: Uint8Array;
  threads?: number;
  input?: Float32Array;
  dims?: number[];
  inputName?: string;
  outputName?: string;
}

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;
let session: import('onnxruntime-node').InferenceSession | null = null;
let names = { input: 'image', output: 'logits' };

function reply(r: Request, msg: unknown, transfer: ArrayBuffer[] = []): void {
  r.port.postMessage(msg, transfer);
  Atomics.store(r.flag, 0, 1);
  Atomics.notify(r.flag, 0);
}

async function handle(r: Request): Promise<unknown> {
  if (r.type === 'init') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ort = require('onnxruntime-node') as Ort;
    session = await ort.InferenceSession.create(r.bytes!, {
      executionProviders: ['cpu'],
      intraOpNumThreads: r.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // No spin-waiting between runs: the cores are shared with the training threads.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    names = { input: r.inputName ?? names.input, output: r.outputName ?? names.output };
    return { ok: true };
  }
  if (r.type === 'close') {
    await session?.release();
    session = null;
    return { ok: true };
  }
  if (!session || !ort) throw new Error('onnxruntime session is not initialised');
  const res = await session.run({ [names.input]: new ort.Tensor('float32', r.input!, r.dims!) });
  const out = res[names.output];
  return { ok: true, data: Float32Array.from(out.data as Float32Array), dims: [...out.dims] };
}

parentPort!.on('message', (r: Request) => {
  handle(r).then(
    (msg) => {
      const data = (msg as { data?: Float32Array }).data;
      reply(r, msg, data ? [data.buffer as ArrayBuffer] : []);
    },
    (e) => reply(r, { ok: false, error: String((e as Error)?.message ?? e).split('\n')[0] }),
  );
});
