/**
 * The neutral op graph both readers (TFLite, TensorFlow.js graph models) produce and the one
 * builder (build.ts) turns into a tf.LayersModel. Layouts are TensorFlow's, NHWC:
 *
 *   conv2d           inputs [x, w [kh,kw,ci,co], b? [co]]     attrs {strides, dilations, padding}
 *   depthwise        inputs [x, w [kh,kw,ci,m], b? [ci*m]]     attrs {strides, dilations, padding}
 *   conv2dTranspose  inputs [x, w [kh,kw,co,ci], b? [co]]     attrs {strides, padding, outShape [h,w,co]}
 *   dense            inputs [x [B,in], w [in,out], b? [out]]
 *   add              inputs [a, b, ...] (tensors or constants, broadcasting)
 *   mul              inputs [a, b]
 *   relu | relu6 | sigmoid | hardswish | softmax             inputs [x]
 *   avgpool          inputs [x]   attrs {size, strides, padding}
 *   mean             inputs [x]   attrs {axes, keepDims}
 *   resize           inputs [x]   attrs {size [h,w], alignCorners, halfPixelCenters}
 *   concat           inputs [...] attrs {axis}
 *   reshape          inputs [x]   attrs {shape} (without batch)
 *   pad              inputs [x]   attrs {paddings [[0,0],[t,b],[l,r],[0,0]]}
 *
 * Constants (weights, and constant operands of add/mul) live in `consts`, float32.
 * Passes below fold a constant Add into the conv before it (graph models keep biases apart),
 * and recognise x * relu6(x + 3) / 6 as one hardswish node.
 */

export type Padding = 'same' | 'valid';

export interface IrNode {
  op: string;
  /** Source node / tensor name, for messages and layer names. */
  name: string;
  inputs: string[];
  output: string;
  attrs: Record<string, unknown>;
}

export interface IrConst {
  shape: number[];
  data: Float32Array;
}

export interface IrGraph {
  format: 'tflite' | 'tfjs-graph';
  source: string;
  input: { name: string; shape: number[] };
  output: string;
  nodes: IrNode[];
  consts: Map<string, IrConst>;
}

/** One line naming the op and the node; the CLI turns it into exit 2. */
export class UnsupportedOpError extends Error {
  constructor(source: string, op: string, node: string, why = '') {
    super(`${source}: unsupported op ${op} (node "${node}")${why ? `: ${why}` : ''}`);
    this.name = 'UnsupportedOpError';
  }
}

export const IR_OPS = [
  'conv2d', 'depthwise', 'conv2dTranspose', 'dense', 'add', 'mul', 'relu', 'relu6', 'sigmoid', 'hardswish', 'softmax',
  'avgpool', 'mean', 'resize', 'concat', 'reshape', 'pad',
] as const;

const WEIGHTED = new Set(['conv2d', 'depthwise', 'conv2dTranspose', 'dense']);

function consumers(g: IrGraph): Map<string, IrNode[]> {
  const m = new Map<string, IrNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) m.set(i, [...(m.get(i) ?? []), n]);
  return m;
}

function producer(g: IrGraph): Map<string, IrNode> {
  return new Map(g.nodes.map((n) => [n.output, n]));
}

function rename(g: IrGraph, from: string, to: string): void {
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  if (g.output === from) g.output = to;
}

function isChannelVector(c: IrConst | undefined, channels: number): boolean {
  if (!c) return false;
  const nonUnit = c.shape.filter((d) => d !== 1);
  return c.data.length === channels && (nonUnit.length <= 1) && (c.shape.length === 0 || c.shape[c.shape.length - 1] === channels);
}

function outChannels(g: IrGraph, n: IrNode): number {
  const w = g.consts.get(n.inputs[1])!;
  if (n.op === 'conv2d') return w.shape[3];
  if (n.op === 'depthwise') return w.shape[2] * w.shape[3];
  if (n.op === 'conv2dTranspose') return w.shape[2];
  return w.shape[1];
}

/**
 * Folds add(conv-like without bias, constant [C]) into the conv's bias, including the form
 * grappler leaves behind: add(const, addN(convNoBias, y)) = addN(conv with bias, y).
 */
export function foldBiases(g: IrGraph): void {
  for (let changed = true; changed; ) {
    changed = false;
    const cons = consumers(g);
    const prod = producer(g);
    const foldable = (t: string) => {
      const p = prod.get(t);
      return p && WEIGHTED.has(p.op) && p.inputs.length === 2 && (cons.get(t)?.length ?? 0) === 1 ? p : null;
    };
    for (const n of g.nodes) {
      if (n.op !== 'add' || n.inputs.length !== 2) continue;
      const ci = n.inputs.findIndex((i) => g.consts.has(i));
      if (ci < 0 || g.consts.has(n.inputs[1 - ci])) continue;
      const c = g.consts.get(n.inputs[ci])!;
      const other = n.inputs[1 - ci];
      const direct = foldable(other);
      if (direct && isChannelVector(c, outChannels(g, direct))) {
        direct.inputs.push(n.inputs[ci]);
        rename(g, n.output, other);
        g.nodes = g.nodes.filter((x) => x !== n);
        changed = true;
        break;
      }
      const inner = prod.get(other);
      if (inner && inner.op === 'add' && (cons.get(other)?.length ?? 0) === 1 && inner.inputs.every((i) => !g.consts.has(i))) {
        const conv = inner.inputs.map(foldable).find((p) => p && isChannelVector(c, outChannels(g, p)));
        if (conv) {
          conv.inputs.push(n.inputs[ci]);
          rename(g, n.output, other);
          g.nodes = g.nodes.filter((x) => x !== n);
          changed = true;
          break;
        }
      }
    }
  }
}

function scalarValue(g: IrGraph, t: string): number | null {
  const c = g.consts.get(t);
  if (!c || c.data.length !== 1) return null;
  return c.data[0];
}

function near(a: number | null, b: number): boolean {
  return a !== null && Math.abs(a - b) <= 1e-6 * Math.abs(b);
}

/**
 * Recognises hard swish written out: x * relu6(x + 3) * (1/6) as a tree of muls in any order
 * (tfjs-converter output of MobileNetV3: mul(mul(1/6, x), relu6(add(x, 3)))), or divided by 6.
 */
export function fuseHardSwish(g: IrGraph): void {
  for (let changed = true; changed; ) {
    changed = false;
    const cons = consumers(g);
    const prod = producer(g);
    const single = (t: string) => (cons.get(t)?.length ?? 0) === 1;
    for (const root of g.nodes) {
      if (root.op !== 'mul') continue;
      // flatten the mul tree: interior muls must have one consumer
      const factors: string[] = [];
      const interior: IrNode[] = [root];
      const stack = [...root.inputs];
      while (stack.length) {
        const t = stack.pop()!;
        const p = prod.get(t);
        if (p && p.op === 'mul' && single(t) && factors.length + stack.length < 4) {
          interior.push(p);
          stack.push(...p.inputs);
        } else factors.push(t);
      }
      if (factors.length !== 3) continue;
      const sixth = factors.findIndex((f) => near(scalarValue(g, f), 1 / 6));
      if (sixth < 0) continue;
      const rest = factors.filter((_, i) => i !== sixth);
      for (const [ri, xi] of [[0, 1], [1, 0]]) {
        const r = prod.get(rest[ri]);
        if (!r || r.op !== 'relu6' || !single(rest[ri])) continue;
        const a = prod.get(r.inputs[0]);
        if (!a || a.op !== 'add' || a.inputs.length !== 2 || !single(r.inputs[0])) continue;
        const x = rest[xi];
        const three = a.inputs[0] === x ? a.inputs[1] : a.inputs[1] === x ? a.inputs[0] : null;
        if (three === null || !near(scalarValue(g, three), 3)) continue;
        const drop = new Set<IrNode>([...interior, r, a]);
        const fused: IrNode = { op: 'hardswish', name: root.name, inputs: [x], output: root.output, attrs: {} };
        g.nodes = g.nodes.flatMap((n) => (n === root ? [fused] : drop.has(n) ? [] : [n]));
        changed = true;
        break;
      }
      if (changed) break;
    }
  }
}

/** Nodes in an order where every input comes first (graph-model node lists need not be). */
export function topoSort(g: IrGraph): void {
  const prod = producer(g);
  const done = new Set<string>([g.input.name, ...g.consts.keys()]);
  const out: IrNode[] = [];
  const visiting = new Set<IrNode>();
  const visit = (n: IrNode) => {
    if (done.has(n.output)) return;
    if (visiting.has(n)) throw new Error(`${g.source}: the graph has a cycle at node "${n.name}"`);
    visiting.add(n);
    for (const i of n.inputs) {
      if (done.has(i)) continue;
      const p = prod.get(i);
      if (!p) throw new Error(`${g.source}: node "${n.name}" reads "${i}", which nothing produces`);
      visit(p);
    }
    out.push(n);
    done.add(n.output);
  };
  const outNode = prod.get(g.output);
  if (!outNode) throw new Error(`${g.source}: no node produces the output "${g.output}"`);
  visit(outNode);
  g.nodes = out; // nodes that do not lead to the output are dropped
}

/** Drops constants nothing reads any more. */
export function pruneConsts(g: IrGraph): void {
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const k of [...g.consts.keys()]) if (!used.has(k)) g.consts.delete(k);
}

export function simplify(g: IrGraph): IrGraph {
  topoSort(g);
  foldBiases(g);
  fuseHardSwish(g);
  topoSort(g);
  pruneConsts(g);
  return g;
}
