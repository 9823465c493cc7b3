/**
 * portraitseg's training kernels for the tfjs `wasm` backend.
 *
 * Stock tfjs-backend-wasm 4.22 cannot train a CNN: `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter` and `DepthwiseConv2dNativeBackpropInput` are not
 * registered, and its `Conv2DBackpropInput` is a scalar C loop. The lever (issue #3): every
 * convolution gradient is itself a convolution, so we express it as a *forward* convolution
 * and let wasm's XNNPACK SIMD Conv2D / DepthwiseConv2dNative do the arithmetic.
 *
 * For y = conv(x, W) with stride s, padding (pt, pl), NHWC, W [fh, fw, ci, co]:
 *  - filter gradient: dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s + kh - pt, ow*s + kw - pl, ci] dy[b,oh,ow,co]
 *    = conv(x^T [ci,H,W,B], dy^T [OH,OW,B,co]) with stride 1, dilation s, padding (pt, pl):
 *    the batch axis of x becomes the channel axis, dy becomes the filter.
 *  - input gradient: dx = conv(dilate_s(dy), flip_hw(W)^T [fh,fw,co,ci]) with stride 1 and padding
 *    (fh-1-pt, fw-1-pl): the transposed convolution (Dumoulin & Visin 2016, "A guide to
 *    convolution arithmetic", sec. 4) written as a direct one; dilate_s inserts s-1 zeros.
 *  - depthwise (multiplier 1): the same identities with a depthwise convolution; for the
 *    filter gradient the batch is folded into the channels ([1,H,W,B*C]) and summed after.
 *
 * Each kernel recomputes the conv geometry with tfjs' own `computeConv2DInfo`, so same/valid/
 * explicit padding and odd sizes follow tfjs' rules exactly. Cases outside what a fast path
 * covers either fall back to the stock kernel (Conv2DBackpropInput), to a plain loop
 * (depthwise multiplier > 1), or throw an error naming the kernel and the unsupported option.
 * Every intermediate tensor is freed before the kernel returns.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedBatchNormGrad, registerFusedKernels, unregisterFusedKernels } from './fused';
import { simdKernels } from './simd';

/** The subset of tfjs-backend-wasm's BackendWasm that the kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

type Attrs = Record<string, unknown>;
type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

/** Kernel names we register on wasm, in registration order. */
export const WASM_TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'Slice',
  'SplitV',
  'Concat',
  'Sum',
  'Mean',
  'Identity',
] as const;

/** Stock wasm kernel configs we replaced, restored by `unregisterWasmTrainingKernels`. */
const stock = new Map<string, tf.KernelConfig>();
let registered = false;

function kernel(name: string): tf.KernelFunc {
  const k = stock.get(name) ?? tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} is not registered (is @tensorflow/tfjs-backend-wasm loaded?)`);
  return k.kernelFunc;
}

/** Calls another wasm kernel from inside ours. */
function call(name: string, backend: WasmBackend, inputs: Record<string, tf.TensorInfo>, attrs: Attrs = {}): tf.TensorInfo {
  return kernel(name)({ inputs, attrs, backend: backend as unknown as tf.KernelBackend } as never) as tf.TensorInfo;
}

function free(backend: WasmBackend, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

function checkChannelsLast(kernelName: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`portraitseg wasm ${kernelName}: dataFormat ${String(dataFormat)} is not supported (use NHWC)`);
  }
}

/**
 * dy [B,OH,OW,C] -> [B,(OH-1)*sh+1+extraH, ...] with sh-1 zero rows/cols between samples:
 * the input of the direct form of a strided transposed convolution.
 */
function dilateZeros(backend: WasmBackend, dy: tf.TensorInfo, sh: number, sw: number): tf.TensorInfo {
  const [B, OH, OW, C] = dy.shape;
  const H2 = (OH - 1) * sh + 1;
  const W2 = (OW - 1) * sw + 1;
  const out = backend.makeOutput([B, H2, W2, C], 'float32'); // before taking views: may grow the heap
  const o = backend.typedArrayFromHeap(out);
  o.fill(0);
  const src = backend.typedArrayFromHeap(dy);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const si = ((b * OH + i) * OW + j) * C;
        const di = ((b * H2 + i * sh) * W2 + j * sw) * C;
        o.set(src.subarray(si, si + C), di);
      }
    }
  }
  return out;
}

function info(kernelName: string, xShape: number[], filterShape: number[], attrs: Attrs, depthwise: boolean): Conv2DInfo {
  checkChannelsLast(kernelName, attrs.dataFormat);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number],
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'round' | undefined,
    depthwise,
  );
}

/**
 * Filter gradient as a forward convolution. Shared by regular and depthwise convs:
 * `depthwise` folds the batch into channels and sums it afterwards.
 */
function filterGradByConv(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, c: Conv2DInfo, depthwise: boolean): tf.TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = c;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  // Rows of x the gradient conv must see: output fh rows, kernel OH taps dilated by sh.
  const needH = (fh - 1) * dh + (OH - 1) * sh + 1;
  const needW = (fw - 1) * dw + (OW - 1) * sw + 1;
  let pb = needH - H - pt;
  let pr = needW - W - pl;
  const owned: tf.TensorInfo[] = [];
  let xs = x;
  if (pb < 0 || pr < 0) {
    // valid padding with a stride that skips the last rows/cols: drop them.
    xs = call('Slice', backend, { x }, { begin: [0, 0, 0, 0], size: [B, H + Math.min(pb, 0), W + Math.min(pr, 0), Ci] });
    owned.push(xs);
    pb = Math.max(pb, 0);
    pr = Math.max(pr, 0);
  }
  const pad = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
  let out: tf.TensorInfo;
  if (!depthwise && fh === 1 && fw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && OH === H && OW === W) {
    // 1x1 stride 1: dW = x^T [Ci, P] . dy [P, Co], one matrix product; the narrower of x and dy
    // is the one transposed (dW^T = dy^T . x, then a small transpose, when dy is narrower).
    const P = B * H * W;
    const x2 = call('Reshape', backend, { x }, { shape: [P, Ci] });
    const dy2 = call('Reshape', backend, { x: dy }, { shape: [P, Co] });
    owned.push(x2, dy2);
    const [narrow, wide, n, w] = Ci <= Co ? [x2, dy2, Ci, Co] : [dy2, x2, Co, Ci];
    const nT = call('Transpose', backend, { x: narrow }, { perm: [1, 0] });
    const nT3 = call('Reshape', backend, { x: nT }, { shape: [1, n, P] });
    const w3 = call('Reshape', backend, { x: wide }, { shape: [1, P, w] });
    const g = call('BatchMatMul', backend, { a: nT3, b: w3 }, { transposeA: false, transposeB: false }); // [1, n, w]
    owned.push(nT, nT3, w3, g);
    let g2 = call('Reshape', backend, { x: g }, { shape: [n, w] });
    owned.push(g2);
    if (Ci > Co) {
      g2 = call('Transpose', backend, { x: g2 }, { perm: [1, 0] }); // [Ci, Co]
      owned.push(g2);
    }
    out = call('Reshape', backend, { x: g2 }, { shape: [1, 1, Ci, Co] });
  } else if (!depthwise) {
    const xT = call('Transpose', backend, { x: xs }, { perm: [3, 1, 2, 0] }); // [Ci, H, W, B]
    const dyT = call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, B, Co]
    owned.push(xT, dyT);
    const g = call('Conv2D', backend, { x: xT, filter: dyT }, { strides: [dh, dw], pad, dataFormat: 'NHWC', dilations: [sh, sw] }); // [Ci, fh, fw, Co]
    owned.push(g);
    out = call('Transpose', backend, { x: g }, { perm: [1, 2, 0, 3] }); // [fh, fw, Ci, Co]
  } else {
    const [, Hs, Ws] = xs.shape;
    const xT = call('Transpose', backend, { x: xs }, { perm: [1, 2, 0, 3] }); // [H, W, B, C]
    const xR = call('Reshape', backend, { x: xT }, { shape: [1, Hs, Ws, B * Ci] });
    const dyT = call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, B, C]
    const dyR = call('Reshape', backend, { x: dyT }, { shape: [OH, OW, B * Ci, 1] });
    owned.push(xT, xR, dyT, dyR);
    const g = call('DepthwiseConv2dNative', backend, { x: xR, filter: dyR }, { strides: [dh, dw], pad, dilations: [sh, sw] }); // [1, fh, fw, B*C]
    const gR = call('Reshape', backend, { x: g }, { shape: [fh, fw, B, Ci] });
    owned.push(g, gR);
    const s = call('Sum', backend, { x: gR }, { axis: [2], keepDims: false }); // [fh, fw, C]
    owned.push(s);
    out = call('Reshape', backend, { x: s }, { shape: [fh, fw, Ci, Co / Ci] });
  }
  free(backend, ...owned);
  return out;
}

/**
 * Strided dx by phase (sub-pixel) decomposition: for stride s, the dx pixels i with
 * (i + pad) mod s = a only meet the filter taps a, a + s, a + 2s, ...; each of the s*s phases
 * is a stride-1 convolution of dy with that sub-filter (flipped), scattered back into dx. The
 * arithmetic is the forward's, where zero-dilation multiplied it by s*s. Null (then the
 * dilation path runs) for dilated filters or a geometry that would need negative padding.
 */
function phaseInputGrad(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, c: Conv2DInfo, depthwise: boolean): tf.TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = c;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = c;
  if (c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  // One axis: for phase a, taps k = a + s*j (j < J) and outputs m in [mMin, mMax] with i = m*s + a - p.
  const axis = (a: number, s: number, f: number, p: number, n: number, on: number) => {
    const J = a < f ? Math.ceil((f - a) / s) : 0;
    const mMin = Math.ceil((p - a) / s);
    const mMax = Math.floor((n - 1 + p - a) / s);
    const count = Math.max(0, mMax - mMin + 1);
    const padLo = J - 1 - mMin;
    const padHi = count + J - 1 - on - padLo;
    return { J, mMin, count, padLo, padHi };
  };
  const phasesY = Array.from({ length: sh }, (_, a) => axis(a, sh, fh, pt, H, OH));
  const phasesX = Array.from({ length: sw }, (_, a) => axis(a, sw, fw, pl, W, OW));
  for (const p of [...phasesY, ...phasesX]) if (p.J > 0 && p.count > 0 && (p.padLo < 0 || p.padHi < 0)) return null;
  const mult = depthwise ? Co / Ci : 1;
  if (depthwise && mult !== 1) return null;
  const fv = backend.typedArrayFromHeap(filter).slice(); // [fh, fw, Ci, Co] (depthwise: [fh, fw, C, 1])
  const dx = backend.makeOutput([B, H, W, Ci], 'float32');
  backend.typedArrayFromHeap(dx).fill(0);
  for (let ay = 0; ay < sh; ay++) {
    const py = phasesY[ay];
    if (py.J === 0 || py.count === 0) continue;
    for (let ax = 0; ax < sw; ax++) {
      const px = phasesX[ax];
      if (px.J === 0 || px.count === 0) continue;
      // Sub-filter, flipped: conv filter [Jy, Jx, Co, Ci] (depthwise [Jy, Jx, C, 1]).
      const sub = backend.makeOutput(depthwise ? [py.J, px.J, Ci, 1] : [py.J, px.J, Co, Ci], 'float32');
      const sv = backend.typedArrayFromHeap(sub);
      for (let jy = 0; jy < py.J; jy++) {
        const ky = ay + sh * (py.J - 1 - jy);
        for (let jx = 0; jx < px.J; jx++) {
          const kx = ax + sw * (px.J - 1 - jx);
          const per = depthwise ? Ci : Ci * Co; // values per tap
          const src = (ky * fw + kx) * per;
          const dst = (jy * px.J + jx) * per;
          if (depthwise) {
            for (let ch = 0; ch < Ci; ch++) sv[dst + ch] = fv[src + ch];
          } else {
            for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) sv[dst + co * Ci + ci] = fv[src + ci * Co + co];
          }
        }
      }
      const pad = [[0, 0], [py.padLo, py.padHi], [px.padLo, px.padHi], [0, 0]];
      const part = depthwise
        ? call('DepthwiseConv2dNative', backend, { x: dy, filter: sub }, { strides: [1, 1], pad, dilations: [1, 1] })
        : call('Conv2D', backend, { x: dy, filter: sub }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
      // part [B, count_y, count_x, Ci] -> dx[b, m*s + a - p, ...]
      const pv = backend.typedArrayFromHeap(part);
      const o = backend.typedArrayFromHeap(dx);
      for (let b = 0; b < B; b++) {
        for (let my = 0; my < py.count; my++) {
          const iy = (py.mMin + my) * sh + ay - pt;
          for (let mx = 0; mx < px.count; mx++) {
            const ix = (px.mMin + mx) * sw + ax - pl;
            const si = ((b * py.count + my) * px.count + mx) * Ci;
            const di = ((b * H + iy) * W + ix) * Ci;
            if (Ci >= 8) o.set(pv.subarray(si, si + Ci), di);
            else for (let k = 0; k < Ci; k++) o[di + k] = pv[si + k];
          }
        }
      }
      free(backend, sub, part);
    }
  }
  return dx;
}

/** dx as a forward convolution of (zero-dilated) dy with the flipped, transposed filter. */
function inputGradByConv(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, c: Conv2DInfo, depthwise: boolean): tf.TensorInfo | null {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = c;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const pt = (fh - 1) * dh - c.padInfo.top;
  const pl = (fw - 1) * dw - c.padInfo.left;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const pb = H - Hd + c.padInfo.top;
  const pr = W - Wd + c.padInfo.left;
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return null; // padding larger than the kernel: no direct form
  if (sh > 1 || sw > 1) {
    const byPhase = phaseInputGrad(backend, dy, filter, c, depthwise);
    if (byPhase) return byPhase;
  }
  const owned: tf.TensorInfo[] = [];
  const dyD = sh > 1 || sw > 1 ? dilateZeros(backend, dy, sh, sw) : dy;
  if (dyD !== dy) owned.push(dyD);
  const flipped = call('Reverse', backend, { x: filter }, { dims: [0, 1] });
  owned.push(flipped);
  const pad = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
  let out: tf.TensorInfo;
  if (!depthwise) {
    const wT = call('Transpose', backend, { x: flipped }, { perm: [0, 1, 3, 2] }); // [fh, fw, Co, Ci]
    owned.push(wT);
    out = call('Conv2D', backend, { x: dyD, filter: wT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [dh, dw] });
  } else {
    out = call('DepthwiseConv2dNative', backend, { x: dyD, filter: flipped }, { strides: [1, 1], pad, dilations: [dh, dw] });
  }
  free(backend, ...owned);
  return out;
}

/** Plain-loop depthwise gradients for channel multipliers > 1 (rare; correct, not fast). */
function depthwiseLoop(backend: WasmBackend, x: tf.TensorInfo | null, dy: tf.TensorInfo, filter: tf.TensorInfo | null, c: Conv2DInfo, which: 'filter' | 'input'): tf.TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: Co } = c;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const m = Co / C;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  const dyv = backend.typedArrayFromHeap(dy);
  const acc = new Float64Array(which === 'filter' ? fh * fw * C * m : B * H * W * C);
  const other = backend.typedArrayFromHeap((which === 'filter' ? x : filter)!);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyo = ((b * OH + oh) * OW + ow) * Co;
        for (let kh = 0; kh < fh; kh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < fw; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            const xo = ((b * H + ih) * W + iw) * C;
            const fo = (kh * fw + kw) * C * m;
            for (let ch = 0; ch < C; ch++) {
              for (let q = 0; q < m; q++) {
                const g = dyv[dyo + ch * m + q];
                if (which === 'filter') acc[fo + ch * m + q] += other[xo + ch] * g;
                else acc[xo + ch] += other[fo + ch * m + q] * g;
              }
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput(which === 'filter' ? [fh, fw, C, m] : [B, H, W, C], 'float32');
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

/**
 * Runs tfjs' own cpu kernel on copies of the inputs and returns its result on wasm: the reference
 * semantics (same result, same throw) for any case outside a fast path of a kernel that has no
 * stock wasm version. Slow, but only reached by shapes the models never produce.
 */
function viaCpu(name: string, backend: WasmBackend, inputs: Record<string, tf.TensorInfo>, attrs: Attrs): tf.TensorInfo {
  const cpu = tf.findBackend('cpu') as unknown as {
    write(values: Float32Array | Int32Array, shape: number[], dtype: tf.DataType): tf.DataId;
    readSync(dataId: tf.DataId): Float32Array | Int32Array;
    disposeData(dataId: tf.DataId): void;
  } | null;
  const k = tf.getKernel(name, 'cpu');
  if (!cpu || !k) throw new Error(`portraitseg wasm ${name}: this case is outside the fast path and the cpu reference kernel is not available`);
  const copies: Record<string, tf.TensorInfo> = {};
  try {
    for (const [key, t] of Object.entries(inputs)) {
      copies[key] = { dataId: cpu.write(backend.typedArrayFromHeap(t).slice(), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
    }
    const r = k.kernelFunc({ inputs: copies, attrs, backend: cpu } as never) as tf.TensorInfo;
    try {
      const vals = cpu.readSync(r.dataId);
      const out = backend.makeOutput(r.shape, r.dtype);
      backend.typedArrayFromHeap(out).set(vals as Float32Array);
      return out;
    } finally {
      cpu.disposeData(r.dataId);
    }
  } finally {
    for (const t of Object.values(copies)) cpu.disposeData(t.dataId);
  }
}

/** True when `t` has exactly `shape`. */
function hasShape(t: tf.TensorInfo, shape: number[]): boolean {
  return t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
}

/**
 * The fast paths assume what the geometry implies: float32, rank-4 tensors, dy of shape
 * [B, OH, OW, Co] from the conv info, and the given other tensor's channels agreeing with it.
 */
function convFastPathOk(name: string, c: Conv2DInfo, dy: tf.TensorInfo, ...others: tf.TensorInfo[]): boolean {
  const want = [c.batchSize, c.outHeight, c.outWidth, c.outChannels];
  // A dy smaller than the geometry implies has no defined gradient (the cpu kernel reads past
  // its end: an error or NaN): one clear line instead.
  if (dy.shape.length === 4 && dy.shape.some((d, i) => d < want[i])) {
    throw new Error(`portraitseg wasm ${name}: dy has shape [${dy.shape}] but the geometry implies [${want}]`);
  }
  if (dy.dtype !== 'float32' || others.some((t) => t.dtype !== 'float32' || t.shape.length !== 4)) return false;
  return hasShape(dy, want);
}

function conv2DBackpropFilter({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { x, dy } = inputs;
  if (x.shape.length !== 4 || dy.shape.length !== 4) return viaCpu('Conv2DBackpropFilter', be, inputs, attrs);
  const c = info('Conv2DBackpropFilter', x.shape, attrs.filterShape as number[], attrs, false);
  if (!convFastPathOk('Conv2DBackpropFilter', c, dy, x)) return viaCpu('Conv2DBackpropFilter', be, inputs, attrs);
  return filterGradByConv(be, x, dy, c, false);
}

function conv2DBackpropInput({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy, filter } = inputs;
  const inShape = attrs.inputShape as number[];
  const c = inShape.length === 4 && dy.shape.length === 4 && filter.shape.length === 4 ? info('Conv2DBackpropInput', inShape, filter.shape, attrs, false) : null;
  const out = c && convFastPathOk('Conv2DBackpropInput', c, dy, filter) && filter.shape[2] === inShape[3] ? inputGradByConv(be, dy, filter, c, false) : null;
  if (out) return out;
  const fallback = stock.get('Conv2DBackpropInput');
  if (!fallback) throw new Error(`portraitseg wasm Conv2DBackpropInput: padding ${JSON.stringify(attrs.pad)} is larger than the filter; not supported`);
  return fallback.kernelFunc({ inputs, attrs, backend } as never) as tf.TensorInfo;
}

function depthwiseBackpropFilter({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { x, dy } = inputs;
  const fs = attrs.filterShape as number[];
  if (x.shape.length !== 4 || dy.shape.length !== 4 || fs.length !== 4) return viaCpu('DepthwiseConv2dNativeBackpropFilter', be, inputs, attrs);
  const c = info('DepthwiseConv2dNativeBackpropFilter', x.shape, fs, attrs, true);
  if (!convFastPathOk('DepthwiseConv2dNativeBackpropFilter', c, dy, x) || fs[2] !== x.shape[3]) return viaCpu('DepthwiseConv2dNativeBackpropFilter', be, inputs, attrs);
  if (fs[3] !== 1) return depthwiseLoop(be, x, dy, null, c, 'filter');
  const simd = c.inChannels % 4 === 0 && c.dilationHeight === 1 && c.dilationWidth === 1 ? simdKernels(be) : null;
  if (simd) return depthwiseFilterGradSimd(be, simd, x, dy, c);
  return filterGradByConv(be, x, dy, c, true);
}

/**
 * Depthwise filter gradient (multiplier 1) as one direct SIMD pass over x and dy (simd/kernels.wat
 * dw_filter_grad: rows summed in f32, taps accumulated in f64), where the conv form runs an
 * XNNPACK depthwise conv whose "filter" is all of dy (OH x OW taps).
 */
function depthwiseFilterGradSimd(be: WasmBackend, simd: NonNullable<ReturnType<typeof simdKernels>>, x: tf.TensorInfo, dy: tf.TensorInfo, c: Conv2DInfo): tf.TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = c;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  const taps = fh * fw * C;
  // scratch: f64 acc [taps] (2 f32 slots each), then owLo, owHi (i32 [fw] each)
  const scratch = be.makeOutput([2 * taps + 2 * fw], 'float32');
  const sv = be.typedArrayFromHeap(scratch);
  sv.fill(0);
  const ints = new Int32Array(sv.buffer, sv.byteOffset + 8 * taps, 2 * fw);
  for (let kw = 0; kw < fw; kw++) {
    ints[kw] = Math.max(0, Math.ceil((pl - kw) / sw));
    ints[fw + kw] = Math.min(OW - 1, Math.floor((W - 1 + pl - kw) / sw));
  }
  const base = sv.byteOffset;
  simd.dw_filter_grad(be.typedArrayFromHeap(x).byteOffset, be.typedArrayFromHeap(dy).byteOffset, base, B, H, W, C, OH, OW, fh, fw, sh, sw, pt, pl, base + 8 * taps, base + 8 * taps + 4 * fw);
  const out = be.makeOutput([fh, fw, C, 1], 'float32');
  const acc = new Float64Array(be.typedArrayFromHeap(scratch).buffer, base, taps);
  be.typedArrayFromHeap(out).set(acc);
  free(be, scratch);
  return out;
}

function depthwiseBackpropInput({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { dy, filter } = inputs;
  const inShape = attrs.inputShape as number[];
  if (inShape.length !== 4 || dy.shape.length !== 4 || filter.shape.length !== 4) return viaCpu('DepthwiseConv2dNativeBackpropInput', be, inputs, attrs);
  const c = info('DepthwiseConv2dNativeBackpropInput', inShape, filter.shape, attrs, true);
  if (!convFastPathOk('DepthwiseConv2dNativeBackpropInput', c, dy, filter) || filter.shape[2] !== inShape[3]) return viaCpu('DepthwiseConv2dNativeBackpropInput', be, inputs, attrs);
  if (filter.shape[3] !== 1) return depthwiseLoop(be, null, dy, filter, c, 'input');
  const out = inputGradByConv(be, dy, filter, c, true);
  if (out) return out;
  return depthwiseLoop(be, null, dy, filter, c, 'input');
}

/**
 * Non-contiguous float32 slices of rank 2-4 (e.g. the channel split that backs the gradient of
 * a U-Net skip concat). The stock kernel first copies the whole input out of the wasm heap
 * (`readSync`), which dominates; this one reads the heap in place, one `set` per contiguous
 * run (element loop for runs under 8 values). [8,128,128,48] -> 16 channels: 56 -> 20 ms.
 */
function slice({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const { x } = inputs;
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, begin, size); // as the stock kernel: out-of-range slices throw
  const rank = x.shape.length;
  const inner = size[rank - 1];
  if (x.dtype !== 'float32' || rank < 2 || rank > 4 || tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    return kernel('Slice')({ inputs, attrs, backend: backend as tf.KernelBackend } as never) as tf.TensorInfo;
  }
  // Pad the view to rank 4: [d0, d1, d2, d3].
  const shp = [1, 1, 1, 1];
  const beg = [0, 0, 0, 0];
  const sz = [1, 1, 1, 1];
  for (let i = 0; i < rank; i++) {
    shp[4 - rank + i] = x.shape[i];
    beg[4 - rank + i] = begin[i];
    sz[4 - rank + i] = size[i];
  }
  // Views after the allocation: makeOutput may grow (and detach) the wasm heap.
  const out = be.makeOutput(size, 'float32');
  const src = be.typedArrayFromHeap(x);
  const o = be.typedArrayFromHeap(out);
  const s2 = shp[3];
  const s1 = shp[2] * s2;
  const s0 = shp[1] * s1;
  let k = 0;
  for (let a = 0; a < sz[0]; a++) {
    for (let b = 0; b < sz[1]; b++) {
      for (let c = 0; c < sz[2]; c++) {
        let si = (beg[0] + a) * s0 + (beg[1] + b) * s1 + (beg[2] + c) * s2 + beg[3];
        if (inner >= 8) {
          o.set(src.subarray(si, si + inner), k);
          k += inner;
        } else {
          for (let d = 0; d < inner; d++) o[k++] = src[si++];
        }
      }
    }
  }
  return out;
}

/** SplitV through the fast slice (the stock one calls the stock slice per part). */
function splitV({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo[] {
  const { x } = inputs;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs.numOrSizeSplits as number[], axis);
  const begin = new Array(x.shape.length).fill(0);
  return sizes.map((n) => {
    const size = [...x.shape];
    size[axis] = n;
    const out = slice({ inputs: { x }, backend, attrs: { begin: [...begin], size } });
    begin[axis] += n;
    return out;
  });
}

/** Concat with element loops when some input's run is under 8 values; stock otherwise. */
function concat({ inputs, backend, attrs }: { inputs: tf.TensorInfo[] | Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const be = backend as WasmBackend;
  const all = Array.isArray(inputs) ? inputs : Object.values(inputs);
  if (all.length === 0) return kernel('Concat')({ inputs, attrs, backend: backend as tf.KernelBackend } as never) as tf.TensorInfo;
  const axis = tf.util.parseAxisParam(attrs.axis as number, all[0].shape)[0];
  // As the stock kernel: inputs whose ranks or non-axis dimensions disagree throw.
  tf.backend_util.assertParamsConsistent(all.map((t) => t.shape), axis);
  const list = all.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
  const inner = list.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  // The stock kernel copies one run per (row, input) in output order; it is as fast as ours
  // unless some run is a handful of values.
  if (list.length < 2 || list.some((t) => t.dtype !== 'float32') || Math.min(...inner) >= 8) {
    return kernel('Concat')({ inputs, attrs, backend: backend as tf.KernelBackend } as never) as tf.TensorInfo;
  }
  const outShape = tf.backend_util.computeOutShape(list.map((t) => t.shape), axis);
  const rows = tf.util.sizeFromShape(list[0].shape.slice(0, axis));
  const total = inner.reduce((a, b) => a + b, 0);
  const out = be.makeOutput(outShape, 'float32');
  const o = be.typedArrayFromHeap(out);
  let colOffset = 0;
  for (let i = 0; i < list.length; i++) {
    const v = be.typedArrayFromHeap(list[i]);
    const n = inner[i];
    for (let r = 0; r < rows; r++) {
      let si = r * n;
      let di = r * total + colOffset;
      if (n >= 8) o.set(v.subarray(si, si + n), di);
      else for (let k = 0; k < n; k++) o[di++] = v[si++];
    }
    colOffset += n;
  }
  return out;
}

/**
 * Sum/Mean over leading axes (per-channel statistics of [B,H,W,C]: batch-norm moments and
 * bias/scale gradients). The stock kernel transposes the whole tensor first; a column-sum
 * loop with float64 accumulators reads it once.
 */
function reduceLeading(name: 'Sum' | 'Mean') {
  return ({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo => {
    const be = backend as WasmBackend;
    const { x } = inputs;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(attrs.axis as number[], x.shape).sort((a, b) => a - b);
    const k = axes.length;
    const leading = k > 0 && k < rank && axes.every((a, i) => a === i);
    const cols = tf.util.sizeFromShape(x.shape.slice(k));
    if (x.dtype !== 'float32' || !leading || cols > 8192) {
      return kernel(name)({ inputs, attrs, backend: backend as tf.KernelBackend } as never) as tf.TensorInfo;
    }
    const rows = tf.util.sizeFromShape(x.shape.slice(0, k));
    const simd = cols % 4 === 0 ? simdKernels(be) : null;
    let acc = new Float64Array(cols);
    if (simd) {
      const scratch = be.makeOutput([2 * cols], 'float32'); // f64 [cols]
      const sv = be.typedArrayFromHeap(scratch);
      sv.fill(0);
      simd.col_sum(be.typedArrayFromHeap(x).byteOffset, rows, cols, sv.byteOffset);
      acc = new Float64Array(be.typedArrayFromHeap(scratch).buffer, sv.byteOffset, cols).slice();
      be.disposeData(scratch.dataId);
    } else {
      const v = be.typedArrayFromHeap(x);
      for (let r = 0; r < rows; r++) {
        let i = r * cols;
        for (let c = 0; c < cols; c++) acc[c] += v[i++];
      }
    }
    if (name === 'Mean') for (let c = 0; c < cols; c++) acc[c] /= rows;
    const shape = attrs.keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k);
    const out = be.makeOutput(shape, 'float32');
    be.typedArrayFromHeap(out).set(acc);
    return out;
  };
}

/**
 * Identity (tf.clone; the engine clones every tensor a gradient saves: ~1000 per student step)
 * shares the buffer and counts a reference, as the cpu backend does, where the stock wasm kernel
 * copies it. Safe because tensors are immutable (a variable's assign swaps its buffer).
 */
function identity({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Attrs }): tf.TensorInfo {
  const { x } = inputs;
  const be = backend as { incRef?: (id: tf.DataId) => void };
  if (x.dtype === 'string' || typeof be.incRef !== 'function') return kernel('Identity')({ inputs, attrs, backend: backend as tf.KernelBackend } as never) as tf.TensorInfo;
  be.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

const KERNELS: Record<(typeof WASM_TRAINING_KERNELS)[number], tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter as unknown as tf.KernelFunc,
  Conv2DBackpropInput: conv2DBackpropInput as unknown as tf.KernelFunc,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter as unknown as tf.KernelFunc,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput as unknown as tf.KernelFunc,
  Slice: slice as unknown as tf.KernelFunc,
  SplitV: splitV as unknown as tf.KernelFunc,
  Concat: concat as unknown as tf.KernelFunc,
  Sum: reduceLeading('Sum') as unknown as tf.KernelFunc,
  Mean: reduceLeading('Mean') as unknown as tf.KernelFunc,
  Identity: identity as unknown as tf.KernelFunc,
};

/**
 * Registers our kernels on the wasm backend (replacing the stock ones where they exist) and
 * the tile-free batch-norm gradient. Idempotent. Needs '@tensorflow/tfjs-backend-wasm' loaded.
 */
export function registerWasmTrainingKernels(): void {
  registerBatchNormGradient();
  registerFusedKernels();
  if (registered) return;
  for (const name of WASM_TRAINING_KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing) {
      stock.set(name, existing);
      tf.unregisterKernel(name, 'wasm');
    }
    // Keep the stock setupFunc: our kernels fall back to the stock ones, which need it run at
    // backend init (else e.g. "wasmSum is not a function" for full or trailing-axis reductions).
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: KERNELS[name], setupFunc: existing?.setupFunc });
  }
  registered = true;
}

/** Restores the stock wasm kernels (for `bench train` baselines and tests). */
export function unregisterWasmTrainingKernels(): void {
  unregisterFusedKernels();
  if (!registered) return;
  for (const name of WASM_TRAINING_KERNELS) {
    tf.unregisterKernel(name, 'wasm');
    const s = stock.get(name);
    if (s) tf.registerKernel(s);
  }
  stock.clear();
  registered = false;
}

export function wasmTrainingKernelsRegistered(): boolean {
  return registered;
}

let bnGradRegistered = false;

/**
 * tfjs-core's FusedBatchNorm gradient tiles 1/sqrt(var) to the full [B,H,W,C] shape before
 * multiplying (Tile was 21% of a student step on wasm); broadcasting gives the same values
 * without the copy. Registered once, globally (gradients are backend-independent in tfjs).
 */
export function registerBatchNormGradient(): void {
  if (bnGradRegistered) return;
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const g = dy as tf.Tensor;
      const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      const [x, mean, variance, scale] = saved;
      // One pass on wasm (src/backend/fused.ts), where the inputs are inside its fast path.
      const fused = fusedBatchNormGrad(g, x, mean, variance, scale, eps);
      if (fused) {
        const [dx, dmean, dvar, dscale, doffset] = fused;
        return { x: () => dx, mean: () => dmean, variance: () => dvar, scale: () => dscale, offset: () => doffset };
      }
      const scaleValue = scale == null ? tf.scalar(1) : scale;
      const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
      const reduce = (t: tf.Tensor): tf.Tensor => (axes.length > 0 ? tf.sum(t, axes) : t).reshape(mean.shape);
      const rstd = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
      const xMinusMean = tf.sub(x, mean);
      const dyScaled = tf.mul(g, scaleValue);
      return {
        x: () => tf.mul(g, tf.mul(rstd, scaleValue)).reshape(x.shape),
        mean: () => reduce(tf.mul(dyScaled, tf.neg(rstd))),
        variance: () => reduce(tf.mul(tf.mul(dyScaled, xMinusMean), tf.mul(tf.pow(rstd, tf.scalar(3)), tf.scalar(-0.5)))),
        scale: () => reduce(tf.mul(g, tf.mul(xMinusMean, rstd))),
        offset: () => reduce(g),
      };
    },
  } as unknown as tf.GradConfig);
  bnGradRegistered = true;
}
