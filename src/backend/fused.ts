/**
 * Fused training kernels for the wasm backend (issue #13): one pass over the tensors where the
 * stock gradients chain several full-size ops.
 *
 *  - activation gradients: Relu's stock gradient is `dy * cast(step(x))` (3 kernels), ClipByValue's
 *    (ReLU6 = relu then clip in tfjs-layers) `where(x >= lo && x <= hi, dy, zerosLike(dy))` (5);
 *    ours is one kernel each;
 *  - Square's gradient `dy * (x * 2)` (2 kernels) in one;
 *  - Mean's gradient over leading axes: the stock one materialises `ones(x.shape)`, multiplies and
 *    divides (3 full tensors); ours writes dy / n broadcast in one pass;
 *  - FusedBatchNorm's gradient: dx, d mean, d variance, d scale and d offset from one pass over
 *    (dy, x) instead of ~10 kernels (the per-channel sums of dy and dy * (x - mean) give all four
 *    small gradients);
 *  - Adam/AdamW: one pass per variable (`fusedAdamUpdate`, used by src/train/optim.ts) instead of a
 *    chain of ~12 tensor ops.
 *
 * Gradients in tfjs are global, not per backend: each gradient below uses the fused kernel when it
 * is registered on the active backend and the inputs are inside its fast path (float32, the
 * shapes checked), and the stock formula otherwise, so cpu (the reference) and every other case
 * keep tfjs' own arithmetic. The kernels accumulate per-channel sums in float64. The inner loops
 * run as wasm SIMD (simd/kernels.wat) on the backend's memory where it loads, JS loops otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { simdKernels } from './simd';

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: tf.DataId): boolean;
}

/** Byte offset of a tensor in the wasm memory. */
const ptr = (be: WasmBackend, t: tf.TensorInfo) => be.typedArrayFromHeap(t).byteOffset;

type Attrs = Record<string, unknown>;
type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs };

export const FUSED_KERNELS = {
  reluGrad: 'PortraitsegReluGrad',
  clipGrad: 'PortraitsegClipByValueGrad',
  squareGrad: 'PortraitsegSquareGrad',
  meanGrad: 'PortraitsegMeanGrad',
  batchNormGrad: 'PortraitsegBatchNormGrad',
  adam: 'PortraitsegAdamUpdate',
} as const;

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function reluGrad({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy, x } = inputs;
  const out = be.makeOutput(x.shape, 'float32');
  const o = be.typedArrayFromHeap(out);
  const g = be.typedArrayFromHeap(dy);
  const v = be.typedArrayFromHeap(x);
  const simd = simdKernels(be);
  const n4 = simd ? o.length & ~3 : 0;
  if (simd) simd.relu_grad(g.byteOffset, v.byteOffset, o.byteOffset, n4);
  // as dy * step(x): step(NaN) is NaN
  for (let i = n4; i < o.length; i++) {
    const xi = v[i];
    o[i] = g[i] * (xi > 0 ? 1 : xi !== xi ? NaN : 0);
  }
  return out;
}

function clipGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy, x } = inputs;
  const lo = attrs.clipValueMin as number;
  const hi = attrs.clipValueMax as number;
  const out = be.makeOutput(x.shape, 'float32');
  const o = be.typedArrayFromHeap(out);
  const g = be.typedArrayFromHeap(dy);
  const v = be.typedArrayFromHeap(x);
  const simd = simdKernels(be);
  const n4 = simd ? o.length & ~3 : 0;
  if (simd) simd.clip_grad(g.byteOffset, v.byteOffset, o.byteOffset, n4, lo, hi);
  for (let i = n4; i < o.length; i++) {
    const xi = v[i];
    o[i] = xi >= lo && xi <= hi ? g[i] : 0;
  }
  return out;
}

function squareGrad({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy, x } = inputs;
  const out = be.makeOutput(x.shape, 'float32');
  const o = be.typedArrayFromHeap(out);
  const g = be.typedArrayFromHeap(dy);
  const v = be.typedArrayFromHeap(x);
  const simd = simdKernels(be);
  const n4 = simd ? o.length & ~3 : 0;
  if (simd) simd.square_grad(g.byteOffset, v.byteOffset, o.byteOffset, n4);
  for (let i = n4; i < o.length; i++) o[i] = g[i] * (v[i] * 2);
  return out;
}

/** dy [cols] broadcast over `rows` leading rows, divided by rows: Mean's gradient over leading axes. */
function meanGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy } = inputs;
  const shape = attrs.shape as number[];
  const out = be.makeOutput(shape, 'float32');
  const o = be.typedArrayFromHeap(out);
  const g = be.typedArrayFromHeap(dy);
  const cols = g.length;
  const rows = o.length / cols;
  const row = new Float32Array(cols);
  for (let c = 0; c < cols; c++) row[c] = g[c] / rows;
  for (let r = 0; r < rows; r++) o.set(row, r * cols);
  return out;
}

/** [dx, dmean, dvariance, dscale, doffset] of FusedBatchNorm over the last axis (C channels). */
function batchNormGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const { dy, x, mean, variance, scale } = inputs;
  const eps = attrs.varianceEpsilon as number;
  const C = mean.shape.reduce((a, b) => a * b, 1);
  const dx = be.makeOutput(x.shape, 'float32');
  const small = [0, 1, 2, 3].map(() => be.makeOutput(mean.shape, 'float32'));
  // views after every allocation (the heap may grow)
  const o = be.typedArrayFromHeap(dx);
  const g = be.typedArrayFromHeap(dy);
  const v = be.typedArrayFromHeap(x);
  const mu = be.typedArrayFromHeap(mean);
  const va = be.typedArrayFromHeap(variance);
  const sc = scale ? be.typedArrayFromHeap(scale) : null;
  const rstd = new Float64Array(C);
  const k = new Float32Array(C);
  const m32 = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    rstd[c] = 1 / Math.sqrt(va[c] + eps);
    k[c] = (sc ? sc[c] : 1) * rstd[c];
    m32[c] = mu[c];
  }
  let sdy = new Float64Array(C);
  let sdyx = new Float64Array(C);
  const rows = o.length / C;
  const simd = C % 4 === 0 ? simdKernels(be) : null;
  if (simd) {
    // scratch in wasm memory: k (f32 [C]), then sdy, sdyx (f64 [C] each)
    const scratch = be.makeOutput([5 * C], 'float32');
    const sv = be.typedArrayFromHeap(scratch);
    sv.fill(0);
    sv.set(k, 0);
    const base = sv.byteOffset;
    simd.bn_grad(ptr(be, dy), ptr(be, x), ptr(be, dx), rows, C, ptr(be, mean), base, base + 4 * C, base + 12 * C);
    const acc = new Float64Array(be.typedArrayFromHeap(scratch).buffer, base + 4 * C, 2 * C);
    sdy = acc.slice(0, C);
    sdyx = acc.slice(C, 2 * C);
    be.disposeData(scratch.dataId);
  } else {
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < C; c++, i++) {
        const d = g[i];
        sdy[c] += d;
        sdyx[c] += d * (v[i] - m32[c]);
        o[i] = d * k[c];
      }
    }
  }
  const [dm, dv, ds, db] = small.map((t) => be.typedArrayFromHeap(t));
  const scNow = scale ? be.typedArrayFromHeap(scale) : null; // the scratch allocation may have moved the heap
  for (let c = 0; c < C; c++) {
    const s = scNow ? scNow[c] : 1;
    const rs = rstd[c];
    dm[c] = -rs * s * sdy[c];
    dv[c] = -0.5 * s * rs * rs * rs * sdyx[c];
    ds[c] = rs * sdyx[c];
    db[c] = sdy[c];
  }
  return [dx, ...small];
}

/** One Adam/AdamW step for one variable: [v', m', s'] from (v, m, s, g). */
function adamUpdate({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const { v, m, s, g } = inputs;
  const { lr, beta1, beta2, epsilon, c1, c2, decay } = attrs as Record<string, number>;
  const outs = [be.makeOutput(v.shape, 'float32'), be.makeOutput(v.shape, 'float32'), be.makeOutput(v.shape, 'float32')];
  const [vo, mo, so] = outs.map((t) => be.typedArrayFromHeap(t));
  const vv = be.typedArrayFromHeap(v);
  const mv = be.typedArrayFromHeap(m);
  const sv = be.typedArrayFromHeap(s);
  const gv = be.typedArrayFromHeap(g);
  const b1 = Math.fround(beta1);
  const b2 = Math.fround(beta2);
  const a1 = Math.fround(1 - beta1);
  const a2 = Math.fround(1 - beta2);
  const simd = simdKernels(be);
  const n4 = simd ? vv.length & ~3 : 0;
  if (simd) simd.adam(vv.byteOffset, mv.byteOffset, sv.byteOffset, gv.byteOffset, vo.byteOffset, mo.byteOffset, so.byteOffset, n4, lr, b1, b2, a1, a2, epsilon, c1, c2, decay);
  for (let i = n4; i < vv.length; i++) {
    const gi = gv[i];
    const m1 = Math.fround(mv[i] * b1 + gi * a1);
    const s1 = Math.fround(sv[i] * b2 + gi * gi * a2);
    mo[i] = m1;
    so[i] = s1;
    const w = vv[i];
    vo[i] = w - (m1 / c1 / (Math.sqrt(s1 / c2) + epsilon)) * lr - w * decay;
  }
  return outs;
}

const FUNCS: Record<string, (a: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  [FUSED_KERNELS.reluGrad]: reluGrad,
  [FUSED_KERNELS.clipGrad]: clipGrad,
  [FUSED_KERNELS.squareGrad]: squareGrad,
  [FUSED_KERNELS.meanGrad]: meanGrad,
  [FUSED_KERNELS.batchNormGrad]: batchNormGrad,
  [FUSED_KERNELS.adam]: adamUpdate,
};

let kernelsRegistered = false;

/** Registers the fused kernels on wasm (idempotent). */
export function registerFusedKernels(): void {
  registerFusedGradients();
  if (kernelsRegistered) return;
  for (const [name, f] of Object.entries(FUNCS)) {
    if (!tf.getKernel(name, 'wasm')) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: f as unknown as tf.KernelFunc });
  }
  kernelsRegistered = true;
}

/** Removes them again (the gradients then use the stock formulas: `bench train --backends wasm-stock`). */
export function unregisterFusedKernels(): void {
  if (!kernelsRegistered) return;
  for (const name of Object.keys(FUNCS)) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  kernelsRegistered = false;
}

/** True when the fused kernel `name` can run on the active backend. */
export function fusedAvailable(name: string): boolean {
  return kernelsRegistered && tf.getKernel(name, tf.getBackend()) !== undefined;
}

const f32 = (...ts: (tf.Tensor | undefined | null)[]) => ts.every((t) => t == null || t.dtype === 'float32');

let gradientsRegistered = false;

/**
 * Replaces the gradients of Relu, ClipByValue, Square and Mean with ones that use the fused
 * kernels where available and tfjs' stock gradient otherwise. Idempotent.
 */
export function registerFusedGradients(): void {
  if (gradientsRegistered) return;
  const wrap = (kernelName: string, fast: (dy: tf.Tensor, saved: tf.Tensor[], attrs: Attrs) => tf.Tensor | null) => {
    const stockGrad = tf.getGradient(kernelName);
    if (!stockGrad) return;
    tf.registerGradient({
      ...stockGrad,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const stockMap = () => stockGrad.gradFunc(dy, saved, attrs);
        return {
          x: () => (Array.isArray(dy) ? null : fast(dy, saved, attrs as Attrs)) ?? stockMap().x(),
        };
      },
    } as tf.GradConfig);
  };
  const elementwise = (name: string) => (dy: tf.Tensor, saved: tf.Tensor[], attrs: Attrs) => {
    const [x] = saved;
    if (!fusedAvailable(name) || !f32(dy, x) || !sameShape(dy.shape, x.shape)) return null;
    return tf.engine().runKernel(name, { dy, x } as never, attrs as never) as tf.Tensor;
  };
  wrap('Relu', elementwise(FUSED_KERNELS.reluGrad));
  wrap('ClipByValue', elementwise(FUSED_KERNELS.clipGrad));
  wrap('Square', elementwise(FUSED_KERNELS.squareGrad));
  wrap('Mean', (dy, saved, attrs) => {
    const [x] = saved;
    if (!fusedAvailable(FUSED_KERNELS.meanGrad) || !f32(dy, x)) return null;
    const axes = tf.util.parseAxisParam(attrs.axis as number[], x.shape).sort((a, b) => a - b);
    const k = axes.length;
    if (k === 0 || k >= x.rank || !axes.every((a, i) => a === i)) return null;
    if (dy.size !== tf.util.sizeFromShape(x.shape.slice(k))) return null;
    return tf.engine().runKernel(FUSED_KERNELS.meanGrad, { dy } as never, { shape: x.shape } as never) as tf.Tensor;
  });
  gradientsRegistered = true;
}

/**
 * The FusedBatchNorm gradient through the fused kernel, or null outside its fast path: float32,
 * mean/variance (and scale, if any) each holding C values where C is x's last dimension.
 */
export function fusedBatchNormGrad(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | null | undefined, eps: number): tf.Tensor[] | null {
  if (!fusedAvailable(FUSED_KERNELS.batchNormGrad) || !f32(dy, x, mean, variance, scale)) return null;
  const C = x.shape[x.rank - 1];
  if (x.rank < 2 || !sameShape(dy.shape, x.shape) || mean.size !== C || variance.size !== C || (scale != null && scale.size !== C)) return null;
  if (!sameShape(mean.shape, variance.shape) || (scale != null && !sameShape(scale.shape, mean.shape))) return null;
  const inputs: Record<string, tf.Tensor> = { dy, x, mean, variance };
  if (scale) inputs.scale = scale;
  return tf.engine().runKernel(FUSED_KERNELS.batchNormGrad, inputs as never, { varianceEpsilon: eps } as never) as unknown as tf.Tensor[];
}

export interface AdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** bias corrections 1 - beta^t */
  c1: number;
  c2: number;
  /** lr * weight decay for decoupled decay (0: plain Adam) */
  decay: number;
}

/** [v', m', s'] in one pass, or null where the fused kernel cannot run (then use the tensor ops). */
export function fusedAdamUpdate(v: tf.Tensor, m: tf.Tensor, s: tf.Tensor, g: tf.Tensor, p: AdamParams): tf.Tensor[] | null {
  if (!fusedAvailable(FUSED_KERNELS.adam) || !f32(v, m, s, g)) return null;
  if (!sameShape(v.shape, m.shape) || !sameShape(v.shape, s.shape) || !sameShape(v.shape, g.shape)) return null;
  return tf.engine().runKernel(FUSED_KERNELS.adam, { v, m, s, g } as never, p as never) as unknown as tf.Tensor[];
}
