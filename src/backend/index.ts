/**
 * Backend choice. `auto` prefers tfjs-node-gpu (if installed with its native library and it
 * loads), then tfjs-node (the same), then wasm (with portraitseg's own kernels), then cpu, and
 * reports why. Both native packages are optional peer dependencies: npm installs neither.
 * Issue #3 extends this module with our wasm gradient kernels and multi-core training.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../config/config';
import { registerCpuKernelFixes } from './cpu-kernels';
import { registerBatchNormGradient, registerWasmTrainingKernels } from './wasm-kernels';

export { registerWasmTrainingKernels, unregisterWasmTrainingKernels, wasmTrainingKernelsRegistered } from './wasm-kernels';

export interface BackendChoice {
  /** The tfjs backend name now active ('tensorflow', 'wasm', 'cpu'). */
  name: string;
  /** What the user asked for. */
  requested: BackendName;
  /** One line saying why this backend was chosen and what was skipped. */
  reason: string;
}

let current: BackendChoice | null = null;

function tryRequire(mod: string): { ok: true } | { ok: false; error: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(mod);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: (e as Error).message.split('\n')[0] };
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** Activates the wasm backend with portraitseg's training kernels registered. */
export async function useWasm(): Promise<boolean> {
  require('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  return activate('wasm');
}

/**
 * Why tfjs-node(-gpu) cannot work, before requiring it: not installed, or installed without its
 * native addon (lib/napi-vN/tfjs_binding.node, written by its install script, which did not run:
 * scripts ignored or denied, or it failed offline). Requiring the package anyway registers all
 * its kernels first (and a second time for the other package: ~700 "already registered" lines),
 * then fails. Null when the addon is there.
 */
function nativeProblem(mod: string): string | null {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`${mod}/package.json`));
  } catch {
    // npm does not install optional peer dependencies by itself
    return `not installed; it is an optional peer dependency: npm install ${mod}`;
  }
  const lib = path.join(dir, 'lib');
  const found = fs.existsSync(lib) && fs.readdirSync(lib).some((d) => /^napi-v\d+$/.test(d) && fs.existsSync(path.join(lib, d, 'tfjs_binding.node')));
  return found ? null : `installed without its native library; run once: npm rebuild ${mod} --ignore-scripts=false`;
}

/** Selects and initialises a backend. Idempotent for the same request. */
export async function selectBackend(requested: BackendName = 'auto', log: (line: string) => void = () => {}): Promise<BackendChoice> {
  // Gradients are global in tfjs, not per backend: use our batch-norm gradient on every backend,
  // so every thread of a data-parallel step differentiates with the same ops whatever it runs on.
  registerBatchNormGradient();
  // The cpu backend is the reference every other backend is compared with: fix its wrong kernels.
  registerCpuKernelFixes();
  // Another caller (a test, a library user) may have switched with tf.setBackend since.
  if (current && current.requested === requested && tf.getBackend() === current.name) return current;
  const skipped: string[] = [];
  const attempt = async (which: Exclude<BackendName, 'auto'>): Promise<string | null> => {
    if (which === 'tensorflow-gpu' || which === 'tensorflow') {
      const mod = which === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      const missing = nativeProblem(mod);
      if (missing) {
        skipped.push(`${mod} not usable (${missing})`);
        return null;
      }
      // TensorFlow's C++ logging goes to stderr at load: on the CPU build, oneDNN and CPU-feature
      // notices only, so keep errors unless the user set the level. The GPU build keeps its
      // logging: its warnings are how a user learns that CUDA libraries were not found.
      if (which === 'tensorflow') process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
      // TensorFlow's oneDNN kernels (on by default on x86 Linux) give wrong input gradients for
      // 1x1 convolutions with many channels (TF 2.21 through tfjs-node: 56% off for 72 -> 24
      // channels, the student's projection convs; test/backend/native.test.ts), so training is
      // wrong with them. Off unless the user sets the variable; read when TF first runs an op.
      process.env.TF_ENABLE_ONEDNN_OPTS ??= '0';
      const r = tryRequire(mod);
      if (!r.ok) {
        skipped.push(`${mod} not usable (${r.error})`);
        return null;
      }
      if (!(await activate('tensorflow'))) {
        skipped.push(`${mod} loaded but the tensorflow backend did not initialise`);
        return null;
      }
      return 'tensorflow';
    }
    if (which === 'wasm') {
      try {
        if (await useWasm()) return 'wasm';
        skipped.push('wasm backend did not initialise');
      } catch (e) {
        skipped.push(`wasm backend failed: ${(e as Error).message}`);
      }
      return null;
    }
    return (await activate('cpu')) ? 'cpu' : null;
  };
  const order: Exclude<BackendName, 'auto'>[] = requested === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [requested];
  for (const which of order) {
    const name = await attempt(which);
    if (name) {
      const what = which === 'wasm' ? 'wasm with portraitseg training kernels' : which;
      const reason = requested === 'auto' ? `auto chose ${what}${skipped.length ? `; skipped: ${skipped.join('; ')}` : ''}` : `${what} as requested`;
      current = { name, requested, reason };
      log(`backend: ${name} (${reason})`);
      return current;
    }
  }
  throw new Error(`backend "${requested}" is not available: ${skipped.join('; ')}`);
}

export function currentBackend(): BackendChoice | null {
  return current;
}
