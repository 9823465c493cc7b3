/**
 * Function-preserving widening of a trained model (Net2WiderNet: Chen, Goodfellow, Shlens,
 * "Net2Net: Accelerating Learning via Knowledge Transfer", ICLR 2016).
 *
 * Every channel space of the net (the channels that elementwise ops, residual adds, squeeze-excite
 * gates, batch norm and depthwise convs tie together) grows from C to round(C * factor) channels:
 * new channel i copies an old one g(i) (the first C are the old ones, the rest drawn at random);
 * every conv that *sums* over a widened space divides the copied input weights among the copies
 * with random positive shares that add up to 1. The wider net computes exactly what the narrow one
 * did (up to float rounding), and the unequal shares give the copies different gradients, so
 * training can make them diverge (the paper adds noise instead, which changes the function).
 *
 * The image input (3 channels), the logits channel and anything that feeds the mask filter's
 * low-resolution input keep their size. Supported layers: the built-in and custom layers our
 * families and imported nets use; anything else fails naming the layer.
 */
import * as tf from '@tensorflow/tfjs';
import { makeRng } from '../util/rng';
import type { ModelMeta } from './types';

type LayerJson = { class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[][]; name?: string };

/** Layers whose output has the channels of their (first) input, elementwise or per channel. */
const PER_CHANNEL = new Set([
  'ReLU', 'HardSwish', 'Activation', 'LeakyReLU', 'DepthwiseConv2D', 'BatchNormalization', 'GlobalAveragePooling2D', 'Reshape',
  'BilinearResize', 'ResizeTo', 'ResizeLike', 'Normalize', 'ZeroPadding2D', 'AveragePooling2D', 'MaxPooling2D', 'UpSampling2D',
  'ConstantOp', 'Dropout', 'Add', 'Multiply', 'Maximum', 'Minimum', 'Subtract', 'Cropping2D', 'ClipLogit',
]);
/** Layers whose output channels are their own (new space), summing over the input channels. */
const MIXING = new Set(['Conv2D', 'Conv2DTranspose', 'Dense']);

export class WidenError extends Error {}

function inboundNames(l: LayerJson): string[] {
  const node = (l.inbound_nodes[0] ?? []) as unknown[];
  return node.map((x) => (Array.isArray(x) ? String(x[0]) : String((x as { args?: unknown })?.toString())));
}

class UnionFind {
  private parent = new Map<string, string>();
  find(a: string): string {
    let p = this.parent.get(a) ?? a;
    if (p !== a) {
      p = this.find(p);
      this.parent.set(a, p);
    }
    return p;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

interface Space {
  /** old channel count */
  size: number;
  /** new channel -> old channel */
  g: Int32Array;
  /** new channel -> its share of the old channel's outgoing weights (sums to 1 per old channel) */
  share: Float32Array;
}

const identity = (n: number): Space => ({ size: n, g: Int32Array.from({ length: n }, (_, i) => i), share: new Float32Array(n).fill(1) });

/** Channel count of a layer's output in the built model. */
function channelsOf(model: tf.LayersModel, name: string): number {
  const shape = model.getLayer(name).outputShape as number[];
  return shape[shape.length - 1] as number;
}

/**
 * Returns a new model `factor` times wider (>= 1) computing the same function as `model`, and
 * its meta (params, args.widen). The input model is left as it is.
 */
export async function widenModel(model: tf.LayersModel, meta: ModelMeta, factor: number, seed = 0): Promise<{ model: tf.LayersModel; meta: ModelMeta }> {
  if (!(factor >= 1) || !Number.isFinite(factor)) throw new WidenError(`widen: factor must be a number >= 1, got ${factor}`);
  const topo = JSON.parse(JSON.stringify(model.toJSON(null, false))) as { config: { layers: LayerJson[]; output_layers: unknown[][] } };
  const layers = topo.config.layers;
  const byName = new Map(layers.map((l) => [String(l.config.name), l]));
  const uf = new UnionFind();
  const fixed = new Set<string>();
  // a concatenation's channels are its inputs' channels one after the other (a composite space)
  const concats = new Map<string, string[]>();
  // a depthwise conv with depth multiplier m > 1: output channel c*m+k comes from input channel c
  const expands = new Map<string, { input: string; m: number }>();
  for (const l of layers) {
    const name = String(l.config.name);
    const ins = inboundNames(l);
    const cls = l.class_name;
    if (cls === 'InputLayer') fixed.add(name);
    else if (cls === 'GuidedFilter') {
      fixed.add(name);
      fixed.add(ins[0]);
    } else if (MIXING.has(cls)) {
      /* a new space of its own */
    } else if (cls === 'Concatenate') {
      const axis = Number(l.config.axis ?? -1);
      if (axis !== -1 && axis !== 3) throw new WidenError(`widen: layer ${name} (Concatenate) joins along axis ${axis}, not the channels`);
      concats.set(name, ins);
    } else if (cls === 'DepthwiseConv2D' && Number(l.config.depth_multiplier ?? 1) !== 1) {
      expands.set(name, { input: ins[0], m: Number(l.config.depth_multiplier) });
    } else if (PER_CHANNEL.has(cls)) {
      const tied = cls === 'ResizeLike' || cls === 'ResizeTo' ? ins.slice(0, 1) : ins;
      for (const i of tied) uf.union(name, i);
    } else {
      throw new WidenError(`widen: layer ${name} (${cls}) is not supported (supported: ${[...MIXING, ...PER_CHANNEL, 'Concatenate', 'GuidedFilter'].join(', ')})`);
    }
  }
  for (const o of topo.config.output_layers) fixed.add(String(o[0]));
  const fixedRoots = new Set([...fixed].map((n) => uf.find(n)));
  const concatOfRoot = new Map<string, string>();
  for (const c of concats.keys()) concatOfRoot.set(uf.find(c), c);
  const expandOfRoot = new Map<string, string>();
  for (const e of expands.keys()) expandOfRoot.set(uf.find(e), e);

  // one mapping per widened space
  const rng = makeRng(seed).fork('widen');
  const spaces = new Map<string, Space>();
  const spaceOf = (layerName: string): Space | null => {
    const root = uf.find(layerName);
    if (fixedRoots.has(root)) return null;
    let s = spaces.get(root);
    if (!s && expandOfRoot.has(root)) {
      const { input, m } = expands.get(expandOfRoot.get(root)!)!;
      const src = spaceOf(input) ?? identity(channelsOf(model, input));
      const g = new Int32Array(src.g.length * m);
      const share = new Float32Array(src.g.length * m);
      for (let c = 0; c < src.g.length; c++) {
        for (let k = 0; k < m; k++) {
          g[c * m + k] = src.g[c] * m + k;
          share[c * m + k] = src.share[c];
        }
      }
      s = { size: src.size * m, g, share };
      spaces.set(root, s);
    }
    if (!s && concatOfRoot.has(root)) {
      const parts = concats.get(concatOfRoot.get(root)!)!.map((i) => spaceOf(i) ?? identity(channelsOf(model, i)));
      let offset = 0;
      const g: number[] = [];
      const share: number[] = [];
      for (const p of parts) {
        for (let i = 0; i < p.g.length; i++) {
          g.push(p.g[i] + offset);
          share.push(p.share[i]);
        }
        offset += p.size;
      }
      s = { size: offset, g: Int32Array.from(g), share: Float32Array.from(share) };
      spaces.set(root, s);
    }
    if (!s) {
      const size = channelsOf(model, layerName);
      const wide = Math.max(size, Math.round(size * factor));
      const g = new Int32Array(wide);
      for (let i = 0; i < wide; i++) g[i] = i < size ? i : rng.int(0, size - 1);
      const weights = new Float32Array(wide);
      for (let i = 0; i < wide; i++) weights[i] = i < size ? 1 : 0.5 + rng.next();
      const total = new Float32Array(size);
      for (let i = 0; i < wide; i++) total[g[i]] += weights[i];
      const share = new Float32Array(wide);
      for (let i = 0; i < wide; i++) share[i] = weights[i] / total[g[i]];
      s = { size, g, share };
      spaces.set(root, s);
    }
    return s;
  };

  // new layer configs
  for (const l of layers) {
    const name = String(l.config.name);
    const out = spaceOf(name);
    if (!out) continue;
    if (l.class_name === 'Dense') l.config.units = out.g.length;
    else if (MIXING.has(l.class_name)) l.config.filters = out.g.length;
    if (l.class_name === 'ConstantOp') {
      const shape = l.config.shape as number[] | undefined;
      if (shape && shape.length && shape[shape.length - 1] === out.size) shape[shape.length - 1] = out.g.length;
    }
    if (l.class_name === 'Reshape') {
      const t = l.config.target_shape as number[] | undefined;
      if (t && t[t.length - 1] === out.size) t[t.length - 1] = out.g.length;
    }
  }
  const wide = await tf.models.modelFromJSON({ modelTopology: { class_name: 'Model', config: topo.config } } as unknown as tf.io.ModelJSON);

  // new weights, layer by layer: copies gathered by g, inputs a conv sums over split by share
  const ident = identity;
  for (const l of model.layers) {
    const ws = l.getWeights();
    if (!ws.length) continue;
    const cls = l.getClassName();
    const name = l.name;
    const json = byName.get(name)!;
    const news = tf.tidy(() => {
      if (cls === 'GuidedFilter') return ws.map((w) => w.clone());
      const out = spaceOf(name) ?? ident(channelsOf(model, name));
      const inName = inboundNames(json)[0];
      const inSp = MIXING.has(cls) ? spaceOf(inName) ?? ident(channelsOf(model, inName)) : out;
      return ws.map((w, k) => {
        const role = String(l.weights[k].originalName.split('/').pop());
        const last = w.shape.length - 1;
        const gather = (t: tf.Tensor, axis: number, sp: Space) => tf.gather(t, Array.from(sp.g), axis);
        const split = (t: tf.Tensor, axis: number, sp: Space) => {
          const shape = t.shape.map((_, i) => (i === axis ? sp.g.length : 1));
          return t.mul(tf.tensor(sp.share, shape));
        };
        if (cls === 'Conv2D' && role.startsWith('kernel')) return split(gather(gather(w, 2, inSp), 3, out), 2, inSp);
        if (cls === 'Conv2DTranspose' && role.startsWith('kernel')) return split(gather(gather(w, 3, inSp), 2, out), 3, inSp);
        if (cls === 'Dense' && role.startsWith('kernel')) return split(gather(gather(w, 0, inSp), 1, out), 0, inSp);
        if (cls === 'ConstantOp' && w.shape[last] !== out.size) return w.clone();
        if (cls === 'DepthwiseConv2D' && role.startsWith('depthwise_kernel')) {
          // [kh, kw, C, m]: input channels are the depthwise layer's input space
          const src = expands.has(name) ? spaceOf(expands.get(name)!.input) ?? ident(w.shape[2] as number) : out;
          return gather(w, 2, src);
        }
        if (w.shape[last] !== out.size) throw new WidenError(`widen: layer ${name} (${cls}): weight ${role} of shape [${w.shape}] does not end in its ${out.size} channels`);
        return gather(w, last, out);
      });
    });
    wide.getLayer(name).setWeights(news);
    tf.dispose(news);
  }
  const params = wide.countParams();
  return { model: wide, meta: { ...meta, params, args: { ...meta.args, widen: factor } } };
}
