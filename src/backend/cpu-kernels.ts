/**
 * Corrections to the stock tfjs `cpu` backend's kernels. The cpu backend is the reference the
 * other backends are tested against, so a wrong cpu kernel hides or fakes differences.
 *
 * ResizeNearestNeighborGrad (tfjs-backend-cpu 4.22): it offsets `dy` by the batch stride of the
 * *input* image, so for a batch > 1 whose output size differs from its input size every row
 * after the first reads another row's (or no) gradient: a [2,1,1,C] -> [2,2,2,C] nearest
 * upsampling gets row 1's gradient from the wrong place (20,24 instead of 44,48 in the test).
 * It also ignores `halfPixelCenters`. tfjs-node, wasm and TensorFlow agree on the batch.
 * The student's context gate (nearest upsampling of a 1x1 pooled gate) goes through it.
 * The replacement scatters `dy` back through the forward kernel's own index rule, so it is the
 * exact adjoint of the cpu forward resize for every alignCorners/halfPixelCenters setting.
 */
import * as tf from '@tensorflow/tfjs';

/** The source row (or column) the cpu forward kernel reads for output index `o`. */
function sourceIndex(o: number, inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixelCenters ? ratio * (o + 0.5) : ratio * o;
  const s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixelCenters ? Math.max(0, s) : s;
}

interface CpuBackendLike {
  data: { get(id: unknown): { values: tf.TypedArray } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function resizeNearestNeighborGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const { alignCorners = false, halfPixelCenters = false } = (args.attrs ?? {}) as { alignCorners?: boolean; halfPixelCenters?: boolean };
  const backend = args.backend as CpuBackendLike;
  const [batch, inH, inW, depth] = images.shape;
  const [, outH, outW] = dy.shape;
  const g = backend.data.get(dy.dataId).values;
  const out = new Float32Array(batch * inH * inW * depth);
  const rows = Array.from({ length: outH }, (_, r) => sourceIndex(r, inH, outH, alignCorners, halfPixelCenters));
  const cols = Array.from({ length: outW }, (_, c) => sourceIndex(c, inW, outW, alignCorners, halfPixelCenters));
  let i = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < outH; r++) {
      const rowBase = (b * inH + rows[r]) * inW;
      for (let c = 0; c < outW; c++) {
        const base = (rowBase + cols[c]) * depth;
        for (let d = 0; d < depth; d++) out[base + d] += g[i++];
      }
    }
  }
  return backend.makeTensorInfo(images.shape, images.dtype, out);
}

let registered = false;

/** Replaces the stock cpu kernels above (once per process; kernels are global in tfjs). */
export function registerCpuKernelFixes(): void {
  if (registered) return;
  if (tf.getKernel('ResizeNearestNeighborGrad', 'cpu')) tf.unregisterKernel('ResizeNearestNeighborGrad', 'cpu');
  tf.registerKernel({ kernelName: 'ResizeNearestNeighborGrad', backendName: 'cpu', kernelFunc: resizeNearestNeighborGrad as unknown as tf.KernelFunc });
  registered = true;
}
