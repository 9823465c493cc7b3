/**
 * An op-by-op reference interpreter for .tflite files, in plain tf ops, used to check an
 * import when no TFLite runtime runs here. It reads the FlatBuffer itself (not the IR), so a
 * layout or semantics slip in the reader (tflite.ts), the IR passes or the layer builder shows
 * up as a parity failure. Float models only, the ops tflite.ts reads.
 */
import * as tf from '@tensorflow/tfjs';
import { constantBytes, readTfliteModel, tfl } from '../../util/tflite';
import { halfToFloat } from '../../util/half';

type ModelT = ReturnType<typeof readTfliteModel>;


function constant(m: ModelT, t: tfl.TensorT, where: string): tf.Tensor | null {
  // checked: the buffer holds exactly what the shape needs
  const bytes = constantBytes(m, t, where);
  if (!bytes) return null;
  const dv = new DataView(bytes.buffer);
  const n = t.shape.reduce((x, y) => x * y, 1);
  if (t.type === tfl.TensorType.FLOAT32) return tf.tensor(new Float32Array(bytes.buffer, 0, n), t.shape);
  if (t.type === tfl.TensorType.FLOAT16) return tf.tensor(Float32Array.from({ length: n }, (_, i) => halfToFloat(dv.getUint16(2 * i, true))), t.shape);
  if (t.type === tfl.TensorType.INT32) return tf.tensor(new Int32Array(bytes.buffer, 0, n), t.shape, 'int32');
  if (t.type === tfl.TensorType.INT8 || t.type === tfl.TensorType.UINT8) {
    const q = t.quantization!;
    const axis = q.scale.length > 1 ? q.quantizedDimension : -1;
    const inner = axis >= 0 ? t.shape.slice(axis + 1).reduce((x, y) => x * y, 1) : 1;
    return tf.tensor(
      Float32Array.from({ length: n }, (_, i) => {
        const c = axis >= 0 ? Math.floor(i / inner) % t.shape[axis] : 0;
        const v = t.type === tfl.TensorType.INT8 ? dv.getInt8(i) : dv.getUint8(i);
        return q.scale[c] * (v - Number(q.zeroPoint[c] ?? 0n));
      }),
      t.shape,
    );
  }
  return null;
}

function act(x: tf.Tensor, a: number): tf.Tensor {
  if (a === tfl.ActivationFunctionType.RELU) return tf.relu(x);
  if (a === tfl.ActivationFunctionType.RELU6) return tf.relu6(x);
  if (a === tfl.ActivationFunctionType.NONE) return x;
  throw new Error(`reference: fused activation ${a}`);
}

const pad = (p: number) => (p === tfl.Padding.SAME ? 'same' : 'valid');

/** Bilinear resize straight from TFLite's reference kernel (per output pixel, in JS). */
function resizeRef(x: tf.Tensor4D, oh: number, ow: number, align: boolean, halfPx: boolean): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const d = x.dataSync();
  const out = new Float32Array(b * oh * ow * c);
  const sc = (i: number, o: number) => (align && o > 1 ? (i - 1) / (o - 1) : i / o);
  const hs = sc(h, oh);
  const ws = sc(w, ow);
  const interp = (v: number, s: number, n: number) => {
    const src = halfPx ? (v + 0.5) * s - 0.5 : v * s;
    return [src, Math.max(Math.floor(src), 0), Math.min(Math.ceil(src), n - 1)];
  };
  for (let n = 0; n < b; n++)
    for (let y = 0; y < oh; y++) {
      const [iy, y0, y1] = interp(y, hs, h);
      for (let xx = 0; xx < ow; xx++) {
        const [ix, x0, x1] = interp(xx, ws, w);
        for (let k = 0; k < c; k++) {
          const at = (yy: number, xq: number) => d[((n * h + yy) * w + xq) * c + k];
          out[((n * oh + y) * ow + xx) * c + k] =
            at(y0, x0) * (1 - (iy - y0)) * (1 - (ix - x0)) + at(y1, x0) * (iy - y0) * (1 - (ix - x0)) + at(y0, x1) * (1 - (iy - y0)) * (ix - x0) + at(y1, x1) * (iy - y0) * (ix - x0);
        }
      }
    }
  return tf.tensor4d(out, [b, oh, ow, c]);
}

export interface TfliteReference {
  /**
   * input: the model's own input range, [1, H, W, C]; returns the model's output, or with
   * `preActivation` the input of its last op when that is LOGISTIC or SOFTMAX (the logits).
   */
  run(x: tf.Tensor4D, preActivation?: boolean): tf.Tensor;
  /** Both in one pass: [the logits (as with preActivation), the output]. */
  runBoth(x: tf.Tensor4D): [tf.Tensor, tf.Tensor];
  dispose(): void;
}

/** One operator as an evaluator sees it: its inputs' tensor indices, options, and the values so far. */
interface RefCall {
  op: tfl.OperatorT;
  /** The operator's name (builtin, or custom code). */
  n: string;
  ins: number[];
  o: Record<string, number & boolean>;
  /** The value of tensor i (a constant or computed earlier). */
  T: (i: number) => tf.Tensor;
  g: ModelT['subgraphs'][number];
}

const conv2d = ({ ins, o, T }: RefCall): tf.Tensor => {
  const w = T(ins[1]).transpose([1, 2, 3, 0]) as tf.Tensor4D;
  let y = tf.conv2d(T(ins[0]) as tf.Tensor4D, w, [o.strideH, o.strideW], pad(o.padding), 'NHWC', [o.dilationHFactor, o.dilationWFactor]);
  if (ins[2] >= 0) y = y.add(T(ins[2]));
  return act(y, o.fusedActivationFunction);
};

const depthwiseConv2d = ({ ins, o, T }: RefCall): tf.Tensor => {
  const xin = T(ins[0]) as tf.Tensor4D;
  const wt = T(ins[1]) as tf.Tensor4D;
  const ci = xin.shape[3];
  const w = wt.reshape([wt.shape[1], wt.shape[2], ci, wt.shape[3] / ci]) as tf.Tensor4D;
  let y: tf.Tensor = tf.depthwiseConv2d(xin, w, [o.strideH, o.strideW], pad(o.padding), 'NHWC', [o.dilationHFactor, o.dilationWFactor]);
  if (ins[2] >= 0) y = y.add(T(ins[2]));
  return act(y, o.fusedActivationFunction);
};

/** TRANSPOSE_CONV, and MediaPipe's custom Convolution2DTransposeBias (options in custom bytes). */
const transposeConv = ({ op, n, ins, o, T, g }: RefCall): tf.Tensor => {
  const custom = n !== 'TRANSPOSE_CONV';
  const [xi, wi, bi] = custom ? ins : [ins[2], ins[1], ins.length > 3 ? ins[3] : -1];
  let padding: 'same' | 'valid';
  let strides: [number, number];
  if (custom) {
    const dv = new DataView(Uint8Array.from(op.customOptions).buffer);
    padding = dv.getInt32(0, true) === 1 ? 'same' : 'valid';
    strides = [dv.getInt32(8, true), dv.getInt32(4, true)];
  } else {
    padding = pad(o.padding);
    strides = [o.strideH, o.strideW];
  }
  const os = g.tensors[op.outputs[0]].shape as [number, number, number, number];
  const xin = T(xi) as tf.Tensor4D;
  const w = T(wi).transpose([1, 2, 0, 3]) as tf.Tensor4D; // [kh,kw,co,ci]
  let y: tf.Tensor = tf.conv2dTranspose(xin, w, [xin.shape[0], os[1], os[2], os[3]], strides, padding);
  if (bi >= 0) y = y.add(T(bi));
  if (!custom) y = act(y, o.fusedActivationFunction ?? 0);
  return y;
};

const fullyConnected = ({ ins, o, T }: RefCall): tf.Tensor => {
  const w = T(ins[1]) as tf.Tensor2D;
  const xin = T(ins[0]).reshape([-1, w.shape[1]]);
  let y = xin.matMul(w, false, true);
  if (ins.length > 2 && ins[2] >= 0) y = y.add(T(ins[2]));
  return act(y, o?.fusedActivationFunction ?? 0);
};

/** TFLite op name -> its meaning in tf ops. */
const REF_OPS: Readonly<Record<string, (r: RefCall) => tf.Tensor>> = {
  DEQUANTIZE: ({ ins, T }) => T(ins[0]).toFloat(),
  CONV_2D: conv2d,
  DEPTHWISE_CONV_2D: depthwiseConv2d,
  TRANSPOSE_CONV: transposeConv,
  Convolution2DTransposeBias: transposeConv,
  FULLY_CONNECTED: fullyConnected,
  ADD: ({ ins, o, T }) => act(T(ins[0]).add(T(ins[1])), o?.fusedActivationFunction ?? 0),
  MUL: ({ ins, o, T }) => act(T(ins[0]).mul(T(ins[1])), o?.fusedActivationFunction ?? 0),
  ADD_N: ({ ins, T }) => tf.addN(ins.map(T)),
  RELU: ({ ins, T }) => tf.relu(T(ins[0])),
  RELU6: ({ ins, T }) => tf.relu6(T(ins[0])),
  LOGISTIC: ({ ins, T }) => tf.sigmoid(T(ins[0])),
  SOFTMAX: ({ ins, T }) => tf.softmax(T(ins[0])),
  HARD_SWISH: ({ ins, T }) => {
    const a = T(ins[0]);
    return a.mul(a.add(3).clipByValue(0, 6)).div(6);
  },
  AVERAGE_POOL_2D: ({ ins, o, T }) =>
    act(tf.avgPool(T(ins[0]) as tf.Tensor4D, [o.filterHeight, o.filterWidth], [o.strideH, o.strideW], pad(o.padding)), o.fusedActivationFunction),
  MEAN: ({ ins, o, T }) => tf.mean(T(ins[0]), Array.from(T(ins[1]).dataSync()), !!o?.keepDims),
  RESIZE_BILINEAR: ({ ins, o, T }) => {
    const [oh, ow] = Array.from(T(ins[1]).dataSync());
    return resizeRef(T(ins[0]) as tf.Tensor4D, oh, ow, !!o?.alignCorners, !!o?.halfPixelCenters);
  },
  CONCATENATION: ({ ins, o, T }) => act(tf.concat(ins.map(T), o.axis), o.fusedActivationFunction ?? 0),
  RESHAPE: ({ op, ins, T, g }) => T(ins[0]).reshape([-1, ...g.tensors[op.outputs[0]].shape.slice(1)]), // batch kept free
  PAD: ({ ins, T }) => {
    const p = Array.from(T(ins[1]).dataSync());
    return T(ins[0]).pad(Array.from({ length: p.length / 2 }, (_, i) => [p[2 * i], p[2 * i + 1]] as [number, number]));
  },
};

/** `source` names the file in errors. */
export function tfliteReference(bytes: Uint8Array, source = 'TFLite file'): TfliteReference {
  let m: ReturnType<typeof readTfliteModel>;
  try {
    m = readTfliteModel(bytes);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const g = m.subgraphs[0];
  if (!g) throw new Error(`${source}: the TFLite file has no subgraph`);
  const consts = g.tensors.map((t) => constant(m, t, source));
  const name = (op: tfl.OperatorT) => {
    const c = m.operatorCodes[op.opcodeIndex];
    return (c.customCode ? String(c.customCode) : null) || tfl.BuiltinOperator[Math.max(c.builtinCode, c.deprecatedBuiltinCode)];
  };
  return {
    run(x, preActivation = false) {
      const [pre, out] = this.runBoth(x);
      if (preActivation) {
        out.dispose();
        return pre;
      }
      if (pre !== out) pre.dispose();
      return out;
    },
    runBoth(x) {
      const lastOp = g.operators[g.operators.length - 1];
      const lastName = lastOp ? name(lastOp) : '';
      const preIndex = (lastName === 'LOGISTIC' || lastName === 'SOFTMAX') && lastOp.outputs[0] === g.outputs[0] ? lastOp.inputs[0] : g.outputs[0];
      const outIndex = g.outputs[0];
      return tf.tidy(() => {
        const v: (tf.Tensor | null)[] = [...consts];
        v[g.inputs[0]] = x;
        const T = (i: number) => {
          const t = v[i];
          if (!t) throw new Error(`reference: tensor ${String(g.tensors[i].name)} has no value`);
          return t;
        };
        for (const op of g.operators) {
          if (v[outIndex]) break;
          const n = name(op);
          const evaluate = Object.prototype.hasOwnProperty.call(REF_OPS, n) ? REF_OPS[n] : null;
          if (!evaluate) throw new Error(`reference: op ${n} not supported`);
          v[op.outputs[0]] = evaluate({ op, n, ins: op.inputs, o: op.builtinOptions as unknown as Record<string, number & boolean>, T, g });
        }
        const pre = T(preIndex);
        const out = T(outIndex);
        return [pre, pre === out ? pre.clone() : out] as [tf.Tensor, tf.Tensor];
      });
    },
    dispose() {
      tf.dispose(consts.filter((c): c is tf.Tensor => c !== null));
    },
  };
}
