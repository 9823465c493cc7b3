/**
 * Loads portraitseg's wasm SIMD kernels (kernels.wat, assembled into kernels-wasm.ts by
 * scripts/build-simd.js) on the tfjs wasm backend's own memory, once per backend instance
 * (each worker thread has its own). Null when the backend exposes no memory or the engine has
 * no SIMD: the callers then run their JS loops.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm';

export interface SimdKernels {
  relu_grad(dy: number, x: number, out: number, n: number): void;
  clip_grad(dy: number, x: number, out: number, n: number, lo: number, hi: number): void;
  square_grad(dy: number, x: number, out: number, n: number): void;
  col_sum(x: number, rows: number, cols: number, acc: number): void;
  bn_grad(dy: number, x: number, dx: number, rows: number, C: number, mean: number, k: number, sdy: number, sdyx: number): void;
  dw_filter_grad(x: number, dy: number, acc: number, B: number, H: number, W: number, C: number, OH: number, OW: number, fh: number, fw: number, sh: number, sw: number, pt: number, pl: number, owLo: number, owHi: number): void;
  adam(w: number, m: number, s: number, g: number, wo: number, mo: number, so: number, n: number, lr: number, b1: number, b2: number, a1: number, a2: number, eps: number, c1: number, c2: number, decay: number): void;
}

// (not named `module`: in the CommonJS build that name is the wrapper's own, and Node then loads the file as ESM)
let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();
let disabled = false;

/** For tests and `bench train` baselines: run the JS loops instead. */
export function setSimdEnabled(on: boolean): void {
  disabled = !on;
}

export function simdKernels(backend: unknown): SimdKernels | null {
  if (disabled) return null;
  const mem = (backend as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(mem instanceof WebAssembly.Memory)) return null;
  const hit = instances.get(mem);
  if (hit) return hit;
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    } catch {
      compiled = null; // no wasm SIMD in this engine
    }
  }
  if (!compiled) return null;
  const k = new WebAssembly.Instance(compiled, { env: { memory: mem } }).exports as unknown as SimdKernels;
  instances.set(mem, k);
  return k;
}
