/**
 * The layer walk the ONNX and TFLite writers share: it visits a tf.LayersModel's functional
 * graph in layer order, hands every call of a layer to the format's op table with its inputs
 * already emitted, and records what each call produced. A format supplies the input, the op
 * table (tfjs class name -> emitter) and the output; the walk knows nothing of either format.
 *
 * An emitter may absorb the layers after it (a conv folding its BatchNormalization and fusing
 * its activation): it sets their outputs in `names`, and the walk then skips them.
 */
import * as tf from '@tensorflow/tfjs';
import { values } from './fold';

// Internal tfjs-layers graph structures (not in the public typings).
interface SymNode {
  inboundLayers: tf.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
}
export type GraphLayer = tf.layers.Layer & { inboundNodes: SymNode[] };

/** The key of one symbolic tensor: layer, node (call) and tensor index. */
export const key = (layer: string, node: number, tensor: number) => `${layer}/${node}/${tensor}`;

export type Unsupported = (layer: string, className: string, why: string) => Error;

/** One call of a layer, as an op table sees it. `T` is the format's tensor handle. */
export interface LayerCall<T> {
  layer: tf.layers.Layer;
  cls: string;
  name: string;
  cfg: tf.serialization.ConfigDict;
  /** The layer's weights (fresh tensors owned by the layer's variables). */
  w: tf.Tensor[];
  ins: T[];
  /** ins[0] */
  x: T;
  /** Key of the call's first output. */
  outKey: string;
  walk: Walk<T>;
}

/** Emits one layer call with the format's builder `B`; returns the call's output. */
export type Emitter<T, B> = (c: LayerCall<T>, b: B) => T;

/** What the walk knows while it runs: who consumes each tensor, what was emitted for each. */
export interface Walk<T> {
  consumers: Map<string, { layer: GraphLayer; node: number }[]>;
  names: Map<string, T>;
  /** Key of the model's output tensor. */
  outputKey: string;
  unsupported: Unsupported;
}

export interface FormatWriter<T, B> {
  /** 'ONNX' / 'TFLite': errors start with '<lower case> export:'. */
  format: string;
  unsupported: Unsupported;
  /** The format's graph under construction, handed to every emitter. */
  builder: B;
  /** The tensor the graph starts from (called once, for the model's input layer). */
  input(): T;
  /** tfjs layer class name -> emitter. */
  ops: Readonly<Record<string, Emitter<T, B>>>;
  /** Called after every emitted call (ONNX carries tensor ranks along). */
  after?(out: T, ins: T[]): void;
}

/** Walks a single-input, single-output model; returns the format's input and output handles. */
export function walkLayers<T, B>(model: tf.LayersModel, fmt: FormatWriter<T, B>): { input: T; output: T } {
  const what = `${fmt.format.toLowerCase()} export`;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`${what}: expected a model with one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const layers = model.layers as GraphLayer[];
  const inModel = new Set(layers.map((l) => l.name));
  // consumers per tensor key, to know when a conv's output only feeds a batch norm
  const consumers = new Map<string, { layer: GraphLayer; node: number }[]>();
  for (const layer of layers) {
    layer.inboundNodes.forEach((node, ni) => {
      node.inboundLayers.forEach((src, i) => {
        if (!inModel.has(src.name)) return;
        const k = key(src.name, node.nodeIndices[i], node.tensorIndices[i]);
        consumers.set(k, [...(consumers.get(k) ?? []), { layer, node: ni }]);
      });
    });
  }
  const out0 = model.outputs[0];
  const walk: Walk<T> = { consumers, names: new Map(), outputKey: key(out0.sourceLayer.name, out0.nodeIndex, out0.tensorIndex), unsupported: fmt.unsupported };
  const { names } = walk;
  let input: T | undefined;
  for (const layer of layers) {
    const cls = layer.getClassName();
    layer.inboundNodes.forEach((node, ni) => {
      if (cls === 'InputLayer') {
        if (ni > 0) return;
        input = fmt.input();
        names.set(key(layer.name, 0, 0), input);
        return;
      }
      const outKey = key(layer.name, ni, 0);
      if (names.has(outKey)) return; // absorbed by an earlier call
      const inKeys = node.inboundLayers.map((src, i) => key(src.name, node.nodeIndices[i], node.tensorIndices[i]));
      if (inKeys.some((k) => !names.has(k))) return; // a node of another model sharing this layer
      const ins = inKeys.map((k) => names.get(k) as T);
      const emit = Object.prototype.hasOwnProperty.call(fmt.ops, cls) ? fmt.ops[cls] : null;
      if (!emit) throw fmt.unsupported(layer.name, cls, `no ${fmt.format} mapping for this layer class`);
      const out = emit({ layer, cls, name: layer.name, cfg: layer.getConfig(), w: layer.getWeights(), ins, x: ins[0], outKey, walk }, fmt.builder);
      fmt.after?.(out, ins);
      names.set(outKey, out);
    });
  }
  const output = names.get(walk.outputKey);
  if (output === undefined || input === undefined) {
    throw new Error(`${what}: the model output (layer ${out0.sourceLayer.name}) was not reached while walking the graph`);
  }
  return { input, output };
}

// ---------------------------------------------------------------- helpers every op table uses

/** A tfjs [h, w] setting given as one number or a pair. */
export function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number];
}

/** The tfjs activation name of a layer with an `activation` setting ('linear' when none). */
export function activationName(layer: tf.layers.Layer): string {
  const a = layer.getConfig().activation;
  return a == null ? 'linear' : String(a);
}

/** Both formats read NHWC layers only. */
export function checkChannelsLast<T>(c: LayerCall<T>): void {
  if (c.cfg.dataFormat != null && c.cfg.dataFormat !== 'channelsLast') throw c.walk.unsupported(c.name, c.cls, `dataFormat ${String(c.cfg.dataFormat)}`);
}

/** The layer's 'same' / 'valid' padding, or an error naming the layer. */
export function paddingMode<T>(c: LayerCall<T>): 'same' | 'valid' {
  const p = c.cfg.padding;
  if (p === 'same' || p === 'valid') return p;
  throw c.walk.unsupported(c.name, c.cls, `padding "${String(p)}"`);
}

/** The layer's bias, or zeros when it has none. */
export function biasOf<T>(c: LayerCall<T>, index: number, n: number): Float32Array {
  return c.cfg.useBias !== false && c.w[index] ? values(c.w[index]) : new Float32Array(n);
}

/** Layers that are the identity at inference. */
export const INFERENCE_IDENTITY = ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout'] as const;

/** The element-wise merge layers (Average is a sum and a scale). */
export const ELEMENTWISE = ['Add', 'Multiply', 'Subtract', 'Maximum', 'Minimum'] as const;
export type ElementwiseLayer = (typeof ELEMENTWISE)[number];

/** An op table entry for each of `classes`. */
export function each<T, B>(classes: readonly string[], emit: Emitter<T, B>): Record<string, Emitter<T, B>> {
  return Object.fromEntries(classes.map((c) => [c, emit]));
}

/**
 * Multiplies a kernel by a folded batch norm's per-output-channel scale: `outer` when the output
 * channel is the slowest axis (ONNX OIHW, TFLite OHWI), else the fastest (TFLite depthwise
 * [1, kh, kw, C*M]). The bias becomes bias * scale + shift.
 */
export function foldInto(kernel: Float32Array, bias: Float32Array, bn: { scale: Float32Array; shift: Float32Array }, cout: number, outer: boolean): Float32Array {
  if (outer) {
    const per = kernel.length / cout;
    for (let o = 0; o < cout; o++) for (let j = 0; j < per; j++) kernel[o * per + j] *= bn.scale[o];
  } else {
    for (let i = 0; i < kernel.length; i++) kernel[i] *= bn.scale[i % cout];
  }
  return Float32Array.from(bias, (v, o) => v * bn.scale[o] + bn.shift[o]);
}
