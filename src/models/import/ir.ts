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
 *   tanh             inputs [x]
 *   slice            inputs [x]   attrs {axis: 3, begin, size}            (channels)
 *   crop             inputs [x]   attrs {cropping [[t,b],[l,r]]}
 *   minimum | maximum inputs [x]  attrs {value}  -> fused into clip {min, max}
 *
 * Constants (weights, and constant operands of add/mul) live in `consts`, float32.
 * Passes below fold a constant Add into the conv before it (graph models keep biases apart),
 * a constant per-channel Mul into the conv before it (batch norms after a conv), recognise
 * x * relu6(x + 3) / 6 as one hardswish node, drop all-zero constants (a recurrent state of
 * zeros: x * 0, x + 0, and the zero channels of a concatenation that feeds convs, whose kernel
 * rows for them go), push channel slices into the convs that make their input (a GRU's gates
 * split from one conv become two convs), and merge consecutive pads.
 * A node may carry its static NHWC `shape` (graph models: from graph_fold.ts); passes use it
 * where channel counts matter and leave a node alone where it is unknown.
 */

export type Padding = 'same' | 'valid';

export interface IrNode {
  op: string;
  /** Source node / tensor name, for messages and layer names. */
  name: string;
  inputs: string[];
  output: string;
  attrs: Record<string, unknown>;
  /** Static shape of the output [batch, h, w, c] where the reader knows it (-1: unknown dim). */
  shape?: number[] | null;
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
  /**
   * Constants the reader computed from the graph's constant inputs (not weights of the file):
   * only these are dropped when all zero (dropZeros), so a file's zero bias stays a trainable bias.
   */
  computed?: Set<string>;
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
  'avgpool', 'mean', 'resize', 'concat', 'reshape', 'pad', 'tanh', 'slice', 'crop', 'clip',
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

/** minimum(maximum(x, lo), hi) and maximum(minimum(x, hi), lo) -> clip {min: lo, max: hi}. */
export function fuseClip(g: IrGraph): void {
  const cons = consumers(g);
  const prod = producer(g);
  for (const outer of [...g.nodes]) {
    if (outer.op !== 'minimum' && outer.op !== 'maximum') continue;
    const inner = prod.get(outer.inputs[0]);
    const other = outer.op === 'minimum' ? 'maximum' : 'minimum';
    if (!inner || inner.op !== other || (cons.get(inner.output)?.length ?? 0) !== 1) continue;
    const lo = (outer.op === 'maximum' ? outer : inner).attrs.value as number;
    const hi = (outer.op === 'minimum' ? outer : inner).attrs.value as number;
    if (!(lo <= hi)) continue;
    const fused: IrNode = { op: 'clip', name: outer.name, inputs: [inner.inputs[0]], output: outer.output, attrs: { min: lo, max: hi }, shape: outer.shape };
    g.nodes = g.nodes.flatMap((n) => (n === outer ? [fused] : n === inner ? [] : [n]));
  }
}

/** Index of the output channel axis of a weighted node's kernel. */
function outAxis(n: IrNode): number {
  if (n.op === 'dense') return 1;
  if (n.op === 'conv2dTranspose') return 2;
  return 3;
}

/** A copy of `c` with `f(value, index along axis)` applied along `axis`. */
function alongAxis(c: IrConst, axis: number, f: (v: number, i: number) => number): IrConst {
  const inner = c.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = c.shape[axis];
  return { shape: [...c.shape], data: c.data.map((v, k) => f(v, Math.floor(k / inner) % n)) };
}

/** `c` restricted to [begin, begin + size) along `axis`. */
function sliceConst(c: IrConst, axis: number, begin: number, size: number): IrConst {
  const outer = c.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = c.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = c.shape[axis];
  const data = new Float32Array(outer * size * inner);
  for (let o = 0; o < outer; o++) data.set(c.data.subarray((o * n + begin) * inner, (o * n + begin + size) * inner), o * size * inner);
  const shape = [...c.shape];
  shape[axis] = size;
  return { shape, data };
}

/** `c` with the entries along `axis` whose `keep` is false removed. */
function keepAlong(c: IrConst, axis: number, keep: boolean[]): IrConst {
  let out: IrConst | null = null;
  const parts: IrConst[] = [];
  for (let i = 0; i < keep.length; ) {
    if (!keep[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < keep.length && keep[j]) j++;
    parts.push(sliceConst(c, axis, i, j - i));
    i = j;
  }
  for (const p of parts) out = out ? concatConst(out, p, axis) : p;
  return out ?? sliceConst(c, axis, 0, 0);
}

function concatConst(a: IrConst, b: IrConst, axis: number): IrConst {
  const outer = a.shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const ia = a.shape.slice(axis).reduce((x, y) => x * y, 1);
  const ib = b.shape.slice(axis).reduce((x, y) => x * y, 1);
  const data = new Float32Array(outer * (ia + ib));
  for (let o = 0; o < outer; o++) {
    data.set(a.data.subarray(o * ia, (o + 1) * ia), o * (ia + ib));
    data.set(b.data.subarray(o * ib, (o + 1) * ib), o * (ia + ib) + ia);
  }
  const shape = [...a.shape];
  shape[axis] += b.shape[axis];
  return { shape, data };
}

let fresh = 0;
function addConst(g: IrGraph, base: string, c: IrConst): string {
  const name = `${base}#${++fresh}`;
  g.consts.set(name, c);
  return name;
}

/**
 * Folds mul(conv-like without bias, constant [C]) into the conv's kernel (its output channels):
 * a batch norm that grappler left as Mul + Add after a conv (e.g. after an atrous conv); the
 * Add then folds into the bias (foldBiases).
 */
export function foldScales(g: IrGraph): void {
  for (let changed = true; changed; ) {
    changed = false;
    const cons = consumers(g);
    const prod = producer(g);
    for (const n of g.nodes) {
      if (n.op !== 'mul' || n.inputs.length !== 2) continue;
      const ci = n.inputs.findIndex((i) => g.consts.has(i));
      if (ci < 0 || g.consts.has(n.inputs[1 - ci])) continue;
      const conv = prod.get(n.inputs[1 - ci]);
      if (!conv || !WEIGHTED.has(conv.op) || conv.inputs.length !== 2 || (cons.get(conv.output)?.length ?? 0) !== 1) continue;
      const c = g.consts.get(n.inputs[ci])!;
      if (!isChannelVector(c, outChannels(g, conv))) continue;
      const w = g.consts.get(conv.inputs[1])!;
      let scaled: IrConst;
      if (conv.op === 'depthwise') {
        // [kh, kw, ci, m]: output channel ci * m + j
        const m = w.shape[3];
        scaled = { shape: [...w.shape], data: w.data.map((v, k) => v * c.data[k % (w.shape[2] * m)]) };
      } else scaled = alongAxis(w, outAxis(conv), (v, i) => v * c.data[i]);
      conv.inputs = [conv.inputs[0], addConst(g, conv.inputs[1], scaled)];
      rename(g, n.output, conv.output);
      g.nodes = g.nodes.filter((x) => x !== n);
      changed = true;
      break;
    }
  }
}

function isZeroConst(g: IrGraph, t: string): boolean {
  const c = g.computed?.has(t) ? g.consts.get(t) : undefined;
  return !!c && c.data.every((v) => v === 0);
}

function channelsOf(g: IrGraph, prod: Map<string, IrNode>, t: string): number | null {
  const c = g.consts.get(t);
  if (c) return c.shape.length ? c.shape[c.shape.length - 1] : 1;
  const s = t === g.input.name ? g.input.shape : prod.get(t)?.shape;
  return s && s.length === 4 && s[3] > 0 ? s[3] : null;
}

/**
 * Drops all-zero constants (a recurrent state of zeros broadcast to a feature map): x * 0 -> 0,
 * x + 0 -> x, and concat(x, 0) read only by convs -> those convs on x, without the kernel rows
 * of the zero channels.
 */
export function dropZeros(g: IrGraph): void {
  for (let changed = true; changed; ) {
    changed = false;
    const cons = consumers(g);
    const prod = producer(g);
    for (const n of g.nodes) {
      const zeros = n.inputs.map((i) => isZeroConst(g, i));
      if (!zeros.some((z) => z)) continue;
      if (n.op === 'mul') {
        rename(g, n.output, n.inputs[zeros.indexOf(true)]);
        g.nodes = g.nodes.filter((x) => x !== n);
        changed = true;
        break;
      }
      if (n.op === 'add') {
        const rest = n.inputs.filter((_, i) => !zeros[i]);
        if (!rest.some((t) => !g.consts.has(t))) continue;
        if (rest.length === 1) {
          rename(g, n.output, rest[0]);
          g.nodes = g.nodes.filter((x) => x !== n);
        } else n.inputs = rest;
        changed = true;
        break;
      }
      if (n.op === 'concat') {
        const users = cons.get(n.output) ?? [];
        const axis = n.attrs.axis as number;
        if (axis !== 3 && axis !== -1) continue;
        if (users.length === 0 || g.output === n.output || users.some((u) => u.op !== 'conv2d' || u.inputs[0] !== n.output)) continue;
        const cin = g.consts.get(users[0].inputs[1])!.shape[2];
        const counts = n.inputs.map((t) => channelsOf(g, prod, t));
        const unknown = counts.filter((c) => c === null).length;
        if (unknown > 1) continue;
        if (unknown === 1) counts[counts.indexOf(null)] = cin - counts.reduce((a: number, c) => a + (c ?? 0), 0);
        if (counts.reduce((a: number, c) => a + c!, 0) !== cin) continue;
        const keep = n.inputs.flatMap((_, i) => Array(counts[i]!).fill(!zeros[i]) as boolean[]);
        for (const u of users) u.inputs = [u.inputs[0], addConst(g, u.inputs[1], keepAlong(g.consts.get(u.inputs[1])!, 2, keep)), ...u.inputs.slice(2)];
        const rest = n.inputs.filter((_, i) => !zeros[i]);
        if (rest.length === 1) {
          rename(g, n.output, rest[0]);
          g.nodes = g.nodes.filter((x) => x !== n);
        } else {
          n.inputs = rest;
          if (n.shape) n.shape = [...n.shape.slice(0, 3), keep.filter((k) => k).length];
        }
        changed = true;
        break;
      }
    }
  }
}

const ELEMENTWISE = new Set(['relu', 'relu6', 'sigmoid', 'tanh', 'hardswish', 'clip']);

/**
 * Moves channel slices up to the node that makes their input, when every reader of that input is
 * a slice: a conv's slice is a conv with the kernel's output channels sliced (no slice left), an
 * elementwise op's slice reads a slice of its input, add / mul slice each operand of the full
 * channel count (constants too; broadcast ones stay), a concatenation's slice within one part
 * reads that part. Whatever cannot move stays a slice (the builder selects channels with a frozen
 * 1x1 conv).
 */
export function pushSlices(g: IrGraph): void {
  for (let changed = true; changed; ) {
    changed = false;
    const cons = consumers(g);
    const prod = producer(g);
    for (const s of g.nodes) {
      if (s.op !== 'slice') continue;
      const t = s.inputs[0];
      const p = prod.get(t);
      if (!p || g.output === t || (cons.get(t) ?? []).some((u) => u.op !== 'slice')) continue;
      const begin = s.attrs.begin as number;
      const size = s.attrs.size as number;
      const shape = s.shape ?? (p.shape ? [...p.shape.slice(0, 3), size] : null);
      const replace = (made: IrNode[]) => {
        g.nodes = g.nodes.flatMap((x) => (x === s ? made : [x]));
        topoSort(g); // drop what no longer leads to the output, so the next slice sees only live readers
        changed = true;
      };
      const sliceOf = (u: string, k: number): IrNode => {
        const us = prod.get(u)?.shape ?? (u === g.input.name ? g.input.shape : null);
        return { op: 'slice', name: s.name, inputs: [u], output: `${s.output}#in${k}`, attrs: { axis: 3, begin, size }, shape: us ? [...us.slice(0, 3), size] : null };
      };
      if ((p.op === 'conv2d' || p.op === 'dense' || p.op === 'conv2dTranspose') && p.inputs.length >= 2) {
        const ax = outAxis(p);
        const inputs = [p.inputs[0], addConst(g, p.inputs[1], sliceConst(g.consts.get(p.inputs[1])!, ax, begin, size))];
        if (p.inputs[2] !== undefined) inputs.push(addConst(g, p.inputs[2], sliceConst(g.consts.get(p.inputs[2])!, g.consts.get(p.inputs[2])!.shape.length - 1, begin, size)));
        replace([{ ...p, inputs, output: s.output, shape, attrs: { ...p.attrs, ...(p.op === 'conv2dTranspose' ? { outShape: undefined } : {}) } }]);
        break;
      }
      if (p.op === 'depthwise' && g.consts.get(p.inputs[1])!.shape[3] === 1) {
        const inner = sliceOf(p.inputs[0], 0);
        const inputs = [inner.output, addConst(g, p.inputs[1], sliceConst(g.consts.get(p.inputs[1])!, 2, begin, size))];
        if (p.inputs[2] !== undefined) inputs.push(addConst(g, p.inputs[2], sliceConst(g.consts.get(p.inputs[2])!, 0, begin, size)));
        replace([inner, { ...p, inputs, output: s.output, shape }]);
        break;
      }
      if (ELEMENTWISE.has(p.op)) {
        const inner = sliceOf(p.inputs[0], 0);
        replace([inner, { ...p, inputs: [inner.output], output: s.output, shape }]);
        break;
      }
      if (p.op === 'add' || p.op === 'mul') {
        const full = channelsOf(g, prod, t);
        if (full === null) continue;
        const made: IrNode[] = [];
        const inputs: string[] = [];
        let ok = true;
        p.inputs.forEach((u, k) => {
          const c = g.consts.get(u);
          const ch = channelsOf(g, prod, u);
          if (ch === 1) inputs.push(u);
          else if (ch !== full) ok = false;
          else if (c) inputs.push(addConst(g, u, sliceConst(c, c.shape.length - 1, begin, size)));
          else {
            const inner = sliceOf(u, k);
            made.push(inner);
            inputs.push(inner.output);
          }
        });
        if (!ok) continue;
        replace([...made, { ...p, inputs, output: s.output, shape }]);
        break;
      }
      if (p.op === 'concat' && (p.attrs.axis === 3 || p.attrs.axis === -1)) {
        const counts = p.inputs.map((u) => channelsOf(g, prod, u));
        if (counts.some((c) => c === null)) continue;
        let at = 0;
        const k = counts.findIndex((c) => {
          const hit = begin >= at && begin + size <= at + c!;
          if (!hit) at += c!;
          return hit;
        });
        if (k < 0) continue;
        const u = p.inputs[k];
        if (begin - at === 0 && size === counts[k]) {
          rename(g, s.output, u);
          g.nodes = g.nodes.filter((x) => x !== s);
          topoSort(g);
          changed = true;
        } else {
          replace([{ ...s, inputs: [u], attrs: { ...s.attrs, begin: begin - at } }]);
        }
        break;
      }
    }
  }
}

/** pad(pad(x)) -> one pad, when the inner pad has no other reader. */
export function mergePads(g: IrGraph): void {
  const cons = consumers(g);
  const prod = producer(g);
  for (const outer of [...g.nodes]) {
    if (outer.op !== 'pad') continue;
    const inner = prod.get(outer.inputs[0]);
    if (!inner || inner.op !== 'pad' || (cons.get(inner.output)?.length ?? 0) !== 1 || g.output === inner.output) continue;
    const a = inner.attrs.paddings as [number, number][];
    const b = outer.attrs.paddings as [number, number][];
    if (a.length !== b.length) continue;
    outer.attrs = { ...outer.attrs, paddings: a.map((p, i) => [p[0] + b[i][0], p[1] + b[i][1]]) };
    outer.inputs = [inner.inputs[0]];
    g.nodes = g.nodes.filter((n) => n !== inner);
    prod.set(outer.output, outer);
  }
}

export function simplify(g: IrGraph): IrGraph {
  topoSort(g);
  fuseClip(g);
  dropZeros(g);
  topoSort(g);
  pushSlices(g);
  topoSort(g);
  foldScales(g);
  foldBiases(g);
  fuseHardSwish(g);
  mergePads(g);
  topoSort(g);
  pruneConsts(g);
  return g;
}
