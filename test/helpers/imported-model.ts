/**
 * A small hand-built model made of every layer class an imported model can contain
 * (the list in the import design: Conv2D, DepthwiseConv2D, Conv2DTranspose, Dense, Add,
 * Multiply (squeeze-excite broadcast), Concatenate, ReLU / ReLU6, Activation, AveragePooling2D,
 * GlobalAveragePooling2D + Reshape, ZeroPadding2D, plus the custom HardSwish, BilinearResize
 * (half-pixel centres) and ConstantOp), wrapped in the model contract like an imported model
 * (ResizeTo, Normalize, ..., ResizeLike). Used by the TFLite and ONNX export tests.
 *
 * The custom classes are the importer's own (src/models/imported_layers.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { Normalize, ResizeLike, ResizeTo } from '../../src/models/layers';
import { BilinearResize, ConstantOp, HardSwish } from '../../src/models/imported_layers';
import type { ModelMeta } from '../../src/models/types';

type Sym = tf.SymbolicTensor;

/** The custom classes of imported models (src/models/imported_layers.ts). */
export function importedLayerClasses() {
  return { HardSwish, BilinearResize, ConstantOp };
}

/** Class names the model below contains (the test asserts it really does). */
export const IMPORTED_MODEL_CLASSES = [
  'Conv2D',
  'DepthwiseConv2D',
  'Conv2DTranspose',
  'Dense',
  'Add',
  'Multiply',
  'Concatenate',
  'ReLU',
  'Activation',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'ZeroPadding2D',
  'Reshape',
  'HardSwish',
  'BilinearResize',
  'ConstantOp',
  'ResizeTo',
  'Normalize',
  'ResizeLike',
];

/**
 * RGB 0..1 [B,H,W,3] -> logits [B,H,W,1], the network at `size` (default 32x32), random
 * seeded weights (ConstantOp values too, so they are not a no-op).
 */
export function importedLayersModel(seed = 1, size = 32): tf.LayersModel {
  const C = importedLayerClasses();
  let k = 0;
  const init = () => tf.initializers.glorotUniform({ seed: seed * 100 + k++ });
  const frame = tf.input({ shape: [null, null, 3], name: 'image' });
  const small = new ResizeTo({ size: [size, size], name: 'resize_in' }).apply(frame) as Sym;
  const x0 = new Normalize({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], name: 'normalize' }).apply(small) as Sym;
  // stem: explicit padding then a VALID strided conv, hard swish
  let y = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad' }).apply(x0) as Sym;
  y = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', kernelInitializer: init(), biasInitializer: init(), name: 'stem' }).apply(y) as Sym;
  y = new C.HardSwish({ name: 'hswish' }).apply(y) as Sym; // [B,16,16,8]
  const skip = y;
  // depthwise (multiplier 2) + ReLU6, 1x1 conv + ReLU
  y = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: init(), biasInitializer: init(), name: 'dw' }).apply(y) as Sym;
  y = tf.layers.reLU({ maxValue: 6, name: 'relu6' }).apply(y) as Sym;
  y = tf.layers.conv2d({ filters: 8, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: init(), name: 'pw' }).apply(y) as Sym;
  y = tf.layers.reLU({ name: 'relu' }).apply(y) as Sym;
  // squeeze-excite: global pool -> dense -> sigmoid -> reshape [1,1,C] -> broadcast multiply
  let se = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as Sym;
  se = tf.layers.dense({ units: 8, kernelInitializer: init(), biasInitializer: init(), name: 'se_fc' }).apply(se) as Sym;
  se = tf.layers.activation({ activation: 'sigmoid', name: 'se_sigmoid' }).apply(se) as Sym;
  se = tf.layers.reshape({ targetShape: [1, 1, 8], name: 'se_reshape' }).apply(se) as Sym;
  y = tf.layers.multiply({ name: 'se_mul' }).apply([y, se]) as Sym;
  // per-channel and scalar constants
  y = new C.ConstantOp({ op: 'add', shape: [8], name: 'const_add' }).apply(y) as Sym;
  y = new C.ConstantOp({ op: 'mul', shape: [], name: 'const_mul' }).apply(y) as Sym;
  // down by pooling, back up by a transposed conv, concat with the skip
  y = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: 'pool' }).apply(y) as Sym;
  // a per-position constant [oh, ow, 1] (how the importer writes SAME average pooling's count factor)
  y = new C.ConstantOp({ op: 'mul', shape: [size / 4, size / 4, 1], valueTrainable: false, name: 'const_pos' }).apply(y) as Sym;
  y = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 2, strides: 2, padding: 'same', kernelInitializer: init(), biasInitializer: init(), name: 'deconv' }).apply(y) as Sym;
  y = tf.layers.concatenate({ axis: -1, name: 'concat' }).apply([y, skip]) as Sym; // [B,16,16,12]
  y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(), biasInitializer: init(), name: 'fuse' }).apply(y) as Sym;
  y = tf.layers.activation({ activation: 'relu', name: 'fuse_relu' }).apply(y) as Sym;
  const side = tf.layers.conv2d({ filters: 4, kernelSize: 1, padding: 'same', kernelInitializer: init(), biasInitializer: init(), name: 'side' }).apply(skip) as Sym;
  y = tf.layers.add({ name: 'add' }).apply([y, side]) as Sym;
  // half-pixel bilinear resize back to the network size, logits head
  y = new C.BilinearResize({ size: [size, size], halfPixelCenters: true, name: 'up' }).apply(y) as Sym;
  y = tf.layers.conv2d({ filters: 1, kernelSize: 1, padding: 'same', kernelInitializer: init(), name: 'head' }).apply(y) as Sym;
  y = tf.layers.activation({ activation: 'linear', name: 'head_linear' }).apply(y) as Sym;
  const out = new ResizeLike({ name: 'logits' }).apply([y, frame]) as Sym;
  const model = tf.model({ inputs: frame, outputs: out, name: 'imported_layers_test' });
  // non-trivial constants
  for (const l of model.layers) {
    if (l.getClassName() !== 'ConstantOp') continue;
    const ws = l.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5, 1.5, 'float32', seed + 17 + i));
    l.setWeights(ws);
    tf.dispose(ws);
  }
  return model;
}

/** The ModelMeta an importer would record for importedLayersModel(seed, size). */
export function importedModelMeta(model: tf.LayersModel, size = 32): ModelMeta {
  return {
    name: 'imported:layers_test',
    args: {},
    family: 'student',
    inputSize: [size, size],
    frameSize: [size, size],
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    output: 'logits',
    stride: 2,
    maskFilter: null,
    params: model.countParams(),
    version: '0.0.0',
  };
}

/**
 * Single-layer models for the sampling / padding variants an exporter must get right:
 * every BilinearResize mode (asymmetric, half-pixel, align-corners; up and down) and
 * Conv2DTranspose with same / valid padding, kernel larger and smaller than the stride.
 * Input [1, 6, 6, 2].
 */
export function layerVariants(): { label: string; model: tf.LayersModel }[] {
  const C = importedLayerClasses();
  const out: { label: string; model: tf.LayersModel }[] = [];
  let k = 0;
  const wrap = (label: string, layer: tf.layers.Layer) => {
    const inp = tf.input({ shape: [6, 6, 2] });
    out.push({ label, model: tf.model({ inputs: inp, outputs: layer.apply(inp) as Sym }) });
  };
  for (const mode of [{}, { halfPixelCenters: true }, { alignCorners: true }]) {
    for (const size of [[11, 7], [3, 5]] as [number, number][]) wrap(`BilinearResize ${JSON.stringify(mode)} to ${size.join('x')}`, new C.BilinearResize({ size, ...mode }));
  }
  for (const padding of ['same', 'valid'] as const) {
    for (const [kernelSize, strides] of [[3, 2], [2, 2], [1, 2], [3, 1]]) {
      const init = tf.initializers.glorotUniform({ seed: 40 + k++ });
      wrap(`Conv2DTranspose ${padding} k${kernelSize} s${strides}`, tf.layers.conv2dTranspose({ filters: 3, kernelSize, strides, padding, kernelInitializer: init, biasInitializer: 'ones' }));
    }
  }
  return out;
}
