/**
 * The mask filter's inference on the tfjs `wasm` backend as one kernel (PortraitsegGuidedFilter):
 * the guides, the window means, a and b, the bilinear resize, the guide at full resolution and
 * the logits, in a handful of SIMD passes (guided_filter.wat) instead of ~30 tfjs kernel calls,
 * each a pass over memory. The same math as GuidedFilter's ops (guided_filter.ts), which remain the
 * path everywhere else: training and gradients, other backends, engines without wasm SIMD, a
 * backend whose memory the module cannot import, frames under 4 pixels wide. The module comes in two
 * variants, for a plain memory (Node) and a shared one (the browser's threaded tfjs wasm build).
 * tests: test/models/guided_filter.test.ts holds it to the ops within float32 rounding.
 *
 * It lives with the model (not in src/backend) so that the runtime, in Node and in the browser,
 * gets it without training code: GuidedFilter.call registers it on first use.
 */
import * as tf from '@tensorflow/tfjs';
import { GUIDED_FILTER_WASM_BASE64, GUIDED_FILTER_WASM_SHARED_BASE64 } from './guided-filter-wasm-bytes';

export const GUIDED_FILTER_KERNEL = 'PortraitsegGuidedFilter';

interface Exports {
  guide(frame: number, n: number, wts: number, c: number, out: number): void;
  products(g: number, p: number, n: number, gp: number, gg: number): void;
  box_mean(src: number, dst: number, tmp: number, buf: number, invRow: number, invCol: number, h: number, w: number, r: number): void;
  coeffs(m: number, n: number, eps: number, a: number, b: number): void;
  apply(frame: number, H: number, W: number, A: number, B: number, h: number, w: number, wts: number, c: number, prob: number,
    rowA: number, rowB: number, x0: number, x1: number, fx: number, sy: number, out: number, lo: number, hi: number): void;
}

/** The subset of tfjs-backend-wasm's BackendWasm the kernel uses. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  getMemoryOffset(dataId: tf.DataId): number;
  /** The emscripten module (wasmMemoryOf). */
  wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown };
}

/** The wasm backend's memory (null on other backends): an export (asm.memory) in single-threaded builds, Module.wasmMemory in threaded ones. */
export function wasmMemoryOf(backend: unknown): WebAssembly.Memory | null {
  const wasm = (backend as WasmBackend).wasm;
  const mem = wasm?.asm?.memory ?? wasm?.wasmMemory;
  return mem instanceof WebAssembly.Memory ? mem : null;
}

/** Whether a memory is shared between threads (tfjs wasm's threaded build). */
export function isSharedMemory(mem: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && mem.buffer instanceof SharedArrayBuffer;
}

/** Compiled once per kind of memory the backend has: plain (Node, single-threaded builds) or shared (threaded). */
const compiled = new Map<'plain' | 'shared', WebAssembly.Module | null>();
const instances = new WeakMap<WebAssembly.Memory, Exports | null>();
/** PORTRAITSEG_WASM_GUIDED_FILTER=0 turns the kernel off (an escape hatch, and `bench infer`'s before/after). */
let enabled = typeof process === 'undefined' || process.env?.PORTRAITSEG_WASM_GUIDED_FILTER !== '0';

/** Off: GuidedFilter runs its tfjs ops on wasm too (tests compare the two; `bench` baselines). */
export function setWasmGuidedFilter(on: boolean): void {
  enabled = on;
}

function moduleFor(kind: 'plain' | 'shared'): WebAssembly.Module | null {
  if (!compiled.has(kind)) {
    const b64 = kind === 'shared' ? GUIDED_FILTER_WASM_SHARED_BASE64 : GUIDED_FILTER_WASM_BASE64;
    try {
      compiled.set(kind, new WebAssembly.Module(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))));
    } catch {
      compiled.set(kind, null); // no wasm SIMD (or threads) in this engine
    }
  }
  return compiled.get(kind)!;
}

function exportsFor(backend: unknown): Exports | null {
  const mem = wasmMemoryOf(backend);
  if (!mem) return null;
  if (instances.has(mem)) return instances.get(mem)!;
  const mod = moduleFor(isSharedMemory(mem) ? 'shared' : 'plain');
  let k: Exports | null = null;
  if (mod) {
    try {
      k = new WebAssembly.Instance(mod, { env: { memory: mem } }).exports as unknown as Exports;
    } catch {
      k = null; // a memory the module cannot import: the ops path
    }
  }
  instances.set(mem, k);
  return k;
}

/**
 * Whether the kernel can run the filter for these shapes on the active backend (registering it
 * on first use). p: [B,h,w,1] at the net's resolution, frameHigh: [B,H,W,3].
 */
export function wasmGuidedFilterFits(p: readonly number[], frameLow: readonly number[], frameHigh: readonly number[]): boolean {
  if (!enabled || tf.getBackend() !== 'wasm') return false;
  const [B, h, w] = p;
  if (frameLow[0] !== B || frameLow[1] !== h || frameLow[2] !== w || frameHigh[0] !== B) return false;
  if (w < 4 || frameHigh[2] < 4 || h < 1) return false;
  if (!exportsFor(tf.backend())) return false;
  if (!tf.getKernel(GUIDED_FILTER_KERNEL, 'wasm')) tf.registerKernel({ kernelName: GUIDED_FILTER_KERNEL, backendName: 'wasm', kernelFunc: guidedFilterKernel as unknown as tf.KernelFunc });
  return true;
}

/** Inverse valid-pixel counts of the windows along one axis of length len. */
function inverseCounts(len: number, r: number, out: Float32Array): void {
  for (let i = 0; i < len; i++) out[i] = 1 / (Math.min(len - 1, i + r) - Math.max(0, i - r) + 1);
}

/**
 * inputs: p [B,h,w,1] (P(person) for 'prob' filters, logits for 'logits' ones), frameLow [B,h,w,3],
 * frameHigh [B,H,W,3], w1 [3,c], b1 [c], w2 [c,1], logEps [1]; attrs: radius, luma (the guide's
 * fixed RGB weights), prob (apply probToLogits to the output, q clipped to clip..1-clip).
 * Output: [B,H,W,1].
 */
export interface GuidedFilterKernelAttrs {
  radius: number;
  luma: readonly number[];
  prob: boolean;
  clip: number;
}

function guidedFilterKernel(args: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: GuidedFilterKernelAttrs }): tf.TensorInfo {
  const be = args.backend as WasmBackend;
  const k = exportsFor(be);
  if (!k) throw new Error(`${GUIDED_FILTER_KERNEL}: the wasm SIMD module is not available on this backend`);
  const { p, frameLow, frameHigh, w1, b1, w2, logEps } = args.inputs;
  const { radius: r, luma, prob, clip } = args.attrs;
  const [B, h, w] = p.shape;
  const [, H, W] = frameHigh.shape;
  const c = w1.shape[1];
  const n = h * w;
  const out = be.makeOutput([B, H, W, 1], 'float32');
  // scratch, in floats: wts 4 + 5c (luma, then the records) | invRow h | invCol w | buf w+2r | G, GP, GG | M (4 planes) | tmp | a | b | meanA | meanB | rowA w | rowB w | fx W | x0 W | x1 W (int32)
  const sizes = [4 + 5 * c, h, w, w + 2 * r, n, n, n, 4 * n, n, n, n, n, n, w, w, W, W, W];
  const scratch = be.makeOutput([sizes.reduce((a, s) => a + s, 0)], 'float32');
  const base = be.getMemoryOffset(scratch.dataId);
  const at: number[] = [];
  sizes.reduce((off, s) => (at.push(off), off + s), 0);
  const [pW, pInvRow, pInvCol, pBuf, pG, pGP, pGG, pM, pTmp, pA, pB, pMA, pMB, pRowA, pRowB, pFx, pX0, pX1] = at.map((o) => base + 4 * o);
  try {
    // views only after every allocation (an allocation may grow the heap and detach them)
    const s = be.typedArrayFromHeap(scratch);
    const [vw1, vb1, vw2] = [w1, b1, w2].map((t) => be.typedArrayFromHeap(t));
    s.set([luma[0], luma[1], luma[2], 0], at[0]);
    for (let j = 0; j < c; j++) s.set([vw1[j], vw1[c + j], vw1[2 * c + j], vb1[j], vw2[j]], at[0] + 4 + 5 * j);
    inverseCounts(h, r, s.subarray(at[1], at[1] + h));
    inverseCounts(w, r, s.subarray(at[2], at[2] + w));
    s.fill(0, at[3], at[3] + w + 2 * r);
    // resizeBilinear's sources (no align corners, no half-pixel centres): x_src = x * w / W
    const sx = Math.fround(w / W);
    const x0 = new Int32Array(s.buffer, pX0, W);
    const x1 = new Int32Array(s.buffer, pX1, W);
    const fx = s.subarray(at[15], at[15] + W);
    for (let j = 0; j < W; j++) {
      const src = Math.fround(j * sx);
      const j0 = Math.floor(src);
      x0[j] = 4 * j0;
      x1[j] = 4 * Math.min(j0 + 1, w - 1);
      fx[j] = src - j0;
    }
    const eps = Math.fround(Math.exp(be.typedArrayFromHeap(logEps)[0]));
    const [op, ofl, ofh, oout] = [p, frameLow, frameHigh, out].map((t) => be.getMemoryOffset(t.dataId));
    for (let b = 0; b < B; b++) {
      const pb = op + 4 * b * n;
      k.guide(ofl + 12 * b * n, n, pW, c, pG);
      k.products(pG, pb, n, pGP, pGG);
      for (const [src, m] of [[pG, 0], [pb, 1], [pGP, 2], [pGG, 3]]) k.box_mean(src, pM + 4 * m * n, pTmp, pBuf, pInvRow, pInvCol, h, w, r);
      k.coeffs(pM, n, eps, pA, pB);
      k.box_mean(pA, pMA, pTmp, pBuf, pInvRow, pInvCol, h, w, r);
      k.box_mean(pB, pMB, pTmp, pBuf, pInvRow, pInvCol, h, w, r);
      k.apply(ofh + 12 * b * H * W, H, W, pMA, pMB, h, w, pW, c, prob ? 1 : 0, pRowA, pRowB, pX0, pX1, pFx, Math.fround(h / H), oout + 4 * b * H * W, clip, 1 - clip);
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
  return out;
}
