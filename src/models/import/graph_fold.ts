/**
 * What a TensorFlow graph computes before its image arrives: once the image's size is fixed and
 * every other input is a constant (a recurrent state of zeros, a ratio), shape arithmetic
 * (Shape, StridedSlice, Pack, Cast, FloorMod, ...) becomes constants, and so do the predicates
 * of conds: Switch / Merge pick one branch, the other is dead (TensorFlow's own dead-tensor
 * rule: an op with a dead input is dead, Merge forwards its one live input).
 *
 * foldGraph walks the GraphDef in dependency order and gives every tensor one of
 *   static   a value known now (tfjs tensor, evaluated with tf ops of TensorFlow's semantics),
 *   dynamic  depends on the image; its static shape where the rules below know it, and the
 *            tensor that really computes it (Identity, Switch and Merge only forward),
 *   dead     on a branch not taken.
 * Static values are computed for a batch of 1 (a folded value that depends on the batch size
 * is an error at build time, e.g. a constant input that would broadcast over the batch).
 * The reader (tfjs_graph.ts) turns the live dynamic nodes into IR and static inputs into constants.
 */
import * as tf from '@tensorflow/tfjs';

export interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
}

export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

export type Val =
  | { kind: 'static'; t: tf.Tensor }
  | { kind: 'dynamic'; shape: number[] | null; key: string }
  | { kind: 'dead' };

export interface FoldOptions {
  /** Constants and weights by node name (int, bool and float). */
  weights: Map<string, tf.Tensor>;
  /** The image placeholder and its static shape (null entries: unknown). */
  image: { name: string; shape: number[] | null };
  /** Values of the other placeholders. */
  constInputs: Record<string, number>;
  source: string;
}

export interface Folded {
  /** Nodes in dependency order. */
  order: GraphNode[];
  /** The value of a tensor key ("node" for port 0, "node:k" for port k). */
  value(key: string): Val | undefined;
  /** Nodes whose outputs are all static or dead, or that only forward (Identity, Switch, Merge). */
  passive(n: GraphNode): boolean;
  dispose(): void;
}

/** "node:0" -> "node"; "^node" (control) -> null. */
export function tensorKey(input: string): string | null {
  if (input.startsWith('^')) return null;
  return input.replace(/:0$/, '');
}

const str = (a: AttrValue | undefined) => (a?.s !== undefined ? Buffer.from(a.s, 'base64').toString('utf8') : undefined);
const ints = (a: AttrValue | undefined) => (a?.list?.i ?? []).map(Number);
const int = (a: AttrValue | undefined, def = 0) => (a?.i !== undefined ? Number(a.i) : def);

function dtypeOf(t: string | undefined): tf.DataType {
  if (t === 'DT_INT32' || t === 'DT_INT64') return 'int32';
  if (t === 'DT_BOOL') return 'bool';
  return 'float32';
}

/** Dependency order over data and control inputs. */
function ordered(nodes: GraphNode[], source: string): GraphNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out: GraphNode[] = [];
  const state = new Map<string, 1 | 2>();
  for (const root of nodes) {
    if (state.has(root.name)) continue;
    // iterative DFS: graphs can be thousands of nodes deep
    const stack: [GraphNode, number][] = [[root, 0]];
    state.set(root.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      const ins = n.input ?? [];
      if (i < ins.length) {
        top[1]++;
        const dep = byName.get(ins[i].replace(/^\^/, '').replace(/:\d+$/, ''));
        if (!dep) throw new Error(`${source}: node "${n.name}" reads "${ins[i]}", which is not in the graph`);
        const s = state.get(dep.name);
        if (s === 1) throw new Error(`${source}: the graph has a cycle at node "${dep.name}" (loops are not supported)`);
        if (s === undefined) {
          state.set(dep.name, 1);
          stack.push([dep, 0]);
        }
      } else {
        stack.pop();
        state.set(n.name, 2);
        out.push(n);
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ static shapes of dynamic tensors

type Shp = number[] | null;

function broadcastShapes(a: Shp, b: Shp): Shp {
  if (!a || !b) return null;
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === y ? x : -1);
  }
  return out;
}

function windowOut(size: number, k: number, stride: number, dilation: number, padding: string, pads: [number, number]): number {
  if (size < 0) return -1;
  const eff = (k - 1) * dilation + 1;
  if (padding === 'SAME') return Math.ceil(size / stride);
  if (padding === 'EXPLICIT') return Math.floor((size + pads[0] + pads[1] - eff) / stride) + 1;
  return Math.floor((size - eff) / stride) + 1;
}

function convShape(n: GraphNode, x: Shp, filter: number[], depthwise: boolean): Shp {
  if (!x || x.length !== 4) return null;
  const a = n.attr ?? {};
  const st = ints(a.strides);
  const dl = ints(a.dilations);
  const ex = ints(a.explicit_paddings);
  const padding = str(a.padding) ?? 'VALID';
  const [kh, kw] = filter;
  const h = windowOut(x[1], kh, st[1] ?? 1, dl[1] ?? 1, padding, [ex[2] ?? 0, ex[3] ?? 0]);
  const w = windowOut(x[2], kw, st[2] ?? 1, dl[2] ?? 1, padding, [ex[4] ?? 0, ex[5] ?? 0]);
  return [x[0], h, w, depthwise ? filter[2] * filter[3] : filter[3]];
}

const SAME_SHAPE = new Set([
  'Identity', 'Relu', 'Relu6', 'Sigmoid', 'Tanh', 'Square', 'Sqrt', 'Rsqrt', 'Neg', 'Exp', 'Log', 'Softmax', 'Elu', 'LeakyRelu', 'Abs',
  'Floor', 'Cast', 'StopGradient', 'BiasAdd', 'FusedBatchNorm', 'FusedBatchNormV3', 'Snapshot', 'Round', 'Reciprocal',
]);
const BROADCAST = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'Minimum', 'Maximum', 'SquaredDifference', 'Pow', 'FloorMod', 'FloorDiv', 'Equal', 'NotEqual', 'Less', 'Greater', 'LessEqual', 'GreaterEqual']);

/** Output shapes (one per port) of a node with at least one dynamic input; null entries: unknown. */
function inferShapes(n: GraphNode, ins: (Val | undefined)[], num: (i: number) => number[] | null): Shp[] {
  const shape = (i: number): Shp => {
    const v = ins[i];
    if (!v) return null;
    if (v.kind === 'static') return [...v.t.shape];
    return v.kind === 'dynamic' ? v.shape : null;
  };
  const x = shape(0);
  const a = n.attr ?? {};
  const op = n.op;
  if (SAME_SHAPE.has(op)) return [x];
  if (BROADCAST.has(op)) return [broadcastShapes(x, shape(1))];
  switch (op) {
    case 'AddN':
      return [x];
    case 'Conv2D':
    case '_FusedConv2D':
      return [shape(1) ? convShape(n, x, shape(1)!, false) : null];
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative':
      return [shape(1) ? convShape(n, x, shape(1)!, true) : null];
    case 'Conv2DBackpropInput': {
      const s = num(0);
      return [s];
    }
    case 'AvgPool':
    case 'MaxPool': {
      if (!x) return [null];
      const k = ints(a.ksize);
      const st = ints(a.strides);
      const p = str(a.padding) ?? 'VALID';
      return [[x[0], windowOut(x[1], k[1], st[1], 1, p, [0, 0]), windowOut(x[2], k[2], st[2], 1, p, [0, 0]), x[3]]];
    }
    case 'Mean':
    case 'Sum':
    case 'Max':
    case 'Min':
    case 'Prod': {
      const axes = num(1);
      if (!x || !axes) return [null];
      const ax = new Set(axes.map((v) => (v < 0 ? v + x.length : v)));
      const keep = !!a.keep_dims?.b;
      return [x.flatMap((d, i) => (ax.has(i) ? (keep ? [1] : []) : [d]))];
    }
    case 'ResizeBilinear':
    case 'ResizeNearestNeighbor': {
      const s = num(1);
      return [x && s ? [x[0], s[0], s[1], x[3]] : null];
    }
    case 'Pad':
    case 'PadV2':
    case 'MirrorPad': {
      const p = num(1);
      return [x && p ? x.map((d, i) => (d < 0 ? -1 : d + p[2 * i] + p[2 * i + 1])) : null];
    }
    case 'ConcatV2': {
      const axisV = num(ins.length - 1);
      const parts = ins.slice(0, -1).map((_, i) => shape(i));
      if (!axisV || parts.some((p) => !p)) return [null];
      const rank = parts[0]!.length;
      const axis = axisV[0] < 0 ? axisV[0] + rank : axisV[0];
      const out = [...parts[0]!];
      out[axis] = parts.reduce((s, p) => (s < 0 || p![axis] < 0 ? -1 : s + p![axis]), 0);
      return [out];
    }
    case 'Split': {
      const dim = num(0);
      const v = shape(1);
      const k = int(a.num_split, 1);
      if (!dim || !v) return Array(k).fill(null);
      const axis = dim[0] < 0 ? dim[0] + v.length : dim[0];
      const part = [...v];
      part[axis] = v[axis] < 0 ? -1 : v[axis] / k;
      return Array(k).fill(part);
    }
    case 'SplitV': {
      const sizes = num(1);
      const dim = num(2);
      const k = int(a.num_split, 1);
      if (!x || !sizes || !dim) return Array(k).fill(null);
      const axis = dim[0] < 0 ? dim[0] + x.length : dim[0];
      const known = sizes.filter((s) => s >= 0).reduce((p, q) => p + q, 0);
      return sizes.map((s) => {
        const part = [...x];
        part[axis] = s >= 0 ? s : x[axis] < 0 ? -1 : x[axis] - known;
        return part;
      });
    }
    case 'Slice': {
      const begin = num(1);
      const size = num(2);
      if (!x || !begin || !size) return [null];
      return [x.map((d, i) => (size[i] >= 0 ? size[i] : d < 0 ? -1 : d - begin[i]))];
    }
    case 'SpaceToBatchND': {
      const block = num(1);
      const pads = num(2);
      if (!x || !block || !pads) return [null];
      const prod = block.reduce((p, q) => p * q, 1);
      return [x.map((d, i) => (i === 0 ? (d < 0 ? -1 : d * prod) : i <= block.length ? (d < 0 ? -1 : (d + pads[2 * (i - 1)] + pads[2 * (i - 1) + 1]) / block[i - 1]) : d))];
    }
    case 'BatchToSpaceND': {
      const block = num(1);
      const crops = num(2);
      if (!x || !block || !crops) return [null];
      const prod = block.reduce((p, q) => p * q, 1);
      return [x.map((d, i) => (i === 0 ? (d < 0 ? -1 : d / prod) : i <= block.length ? (d < 0 ? -1 : d * block[i - 1] - crops[2 * (i - 1)] - crops[2 * (i - 1) + 1]) : d))];
    }
    case 'Reshape': {
      const s = num(1);
      if (!s) return [null];
      if (!s.includes(-1)) return [s];
      if (!x || x.some((d) => d < 0)) return [null];
      const total = x.reduce((p, q) => p * q, 1);
      const known = s.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
      return [s.map((d) => (d === -1 ? total / known : d))];
    }
    case 'MatMul': {
      const b = shape(1);
      if (!x || !b) return [null];
      return [[a.transpose_a?.b ? x[1] : x[0], a.transpose_b?.b ? b[0] : b[1]]];
    }
    case 'BroadcastTo':
      return [num(1)];
    default:
      return [null];
  }
}

// ------------------------------------------------------------------ static evaluation

/** tf ops with TensorFlow's semantics for ops whose inputs are all static; undefined: not evaluated. */
function evaluate(n: GraphNode, xs: tf.Tensor[]): tf.Tensor[] | undefined {
  const a = n.attr ?? {};
  const vals = (t: tf.Tensor) => Array.from(t.dataSync());
  switch (n.op) {
    case 'Identity':
    case 'StopGradient':
    case 'Snapshot':
      return [xs[0].clone()];
    case 'StridedSlice':
      return [
        tf.stridedSlice(xs[0], vals(xs[1]), vals(xs[2]), vals(xs[3]), int(a.begin_mask), int(a.end_mask), int(a.ellipsis_mask), int(a.new_axis_mask), int(a.shrink_axis_mask)),
      ];
    case 'Pack':
      return [tf.stack(xs, int(a.axis))];
    case 'Cast':
      return [xs[0].dtype === 'float32' && dtypeOf(a.DstT?.type) === 'int32' ? tf.cast(xs[0].sign().mul(xs[0].abs().floor()), 'int32') : tf.cast(xs[0], dtypeOf(a.DstT?.type))];
    case 'Add':
    case 'AddV2':
      return [tf.add(xs[0], xs[1])];
    case 'AddN':
      return [tf.addN(xs)];
    case 'Sub':
      return [tf.sub(xs[0], xs[1])];
    case 'Mul':
      return [tf.mul(xs[0], xs[1])];
    case 'RealDiv':
    case 'Div':
      return [xs[0].dtype === 'int32' ? tf.floorDiv(xs[0], xs[1]) : tf.div(xs[0], xs[1])];
    case 'FloorDiv':
      return [tf.floorDiv(xs[0], xs[1])];
    case 'FloorMod':
      return [tf.mod(xs[0], xs[1])];
    case 'Maximum':
      return [tf.maximum(xs[0], xs[1])];
    case 'Minimum':
      return [tf.minimum(xs[0], xs[1])];
    case 'Equal':
      return [tf.equal(xs[0], xs[1])];
    case 'NotEqual':
      return [tf.notEqual(xs[0], xs[1])];
    case 'Less':
      return [tf.less(xs[0], xs[1])];
    case 'Greater':
      return [tf.greater(xs[0], xs[1])];
    case 'LogicalNot':
      return [tf.logicalNot(xs[0])];
    case 'LogicalAnd':
      return [tf.logicalAnd(xs[0], xs[1])];
    case 'Squeeze': {
      const dims = ints(a.squeeze_dims);
      return [dims.length ? tf.squeeze(xs[0], dims) : tf.squeeze(xs[0])];
    }
    case 'ExpandDims':
      return [tf.expandDims(xs[0], vals(xs[1])[0])];
    case 'ConcatV2':
      return [tf.concat(xs.slice(0, -1), vals(xs[xs.length - 1])[0])];
    case 'Reshape':
      return [tf.reshape(xs[0], vals(xs[1]))];
    case 'BroadcastTo':
      return [tf.broadcastTo(xs[0], vals(xs[1]))];
    case 'Fill':
      return [tf.fill(vals(xs[0]), vals(xs[1])[0], xs[1].dtype === 'int32' ? 'int32' : 'float32')];
    case 'Slice':
      return [tf.slice(xs[0], vals(xs[1]), vals(xs[2]))];
    case 'Prod':
      return [tf.prod(xs[0], vals(xs[1]), !!a.keep_dims?.b)];
    case 'Range':
      return [tf.range(vals(xs[0])[0], vals(xs[1])[0], vals(xs[2])[0], xs[0].dtype === 'int32' ? 'int32' : 'float32')];
    case 'Size':
      return [tf.scalar(xs[0].size, 'int32')];
    case 'Rank':
      return [tf.scalar(xs[0].rank, 'int32')];
    case 'Shape':
      return [tf.tensor1d(xs[0].shape, 'int32')];
    default:
      return undefined;
  }
}

const FORWARD = new Set(['Identity', 'StopGradient', 'Snapshot', 'Switch', 'Merge', 'NoOp', 'Const', 'Placeholder']);

function portsOf(n: GraphNode): number {
  if (n.op === 'Split' || n.op === 'SplitV') return int(n.attr?.num_split, 1);
  if (n.op === 'Switch' || n.op === 'Merge') return 2;
  return 1;
}

const keyOf = (name: string, port: number) => (port === 0 ? name : `${name}:${port}`);

export function foldGraph(nodes: GraphNode[], opts: FoldOptions): Folded {
  const vals = new Map<string, Val>();
  const owned: tf.Tensor[] = [];
  const order = ordered(nodes, opts.source);
  const own = (t: tf.Tensor) => {
    owned.push(t);
    return t;
  };
  const num = (v: Val | undefined): number[] | null => (v && v.kind === 'static' ? Array.from(v.t.dataSync()) : null);
  for (const n of order) {
    const ports = portsOf(n);
    const set = (port: number, v: Val) => vals.set(keyOf(n.name, port), v);
    const all = (v: Val) => {
      for (let p = 0; p < ports; p++) set(p, v);
    };
    const dataIns = (n.input ?? []).map(tensorKey).filter((k): k is string => k !== null);
    const ctrlIns = (n.input ?? []).filter((i) => i.startsWith('^')).map((i) => i.slice(1));
    const ins = dataIns.map((k) => vals.get(k));
    const ctrlDead = ctrlIns.some((c) => vals.get(c)?.kind === 'dead');
    if (n.op === 'Merge') {
      const live = ins.map((v, i) => [v, i] as const).filter(([v]) => v && v.kind !== 'dead');
      // TensorFlow's executor: a Merge is dead only when all its data inputs are (dead control inputs only delay it)
      if (live.length === 0) all({ kind: 'dead' });
      else if (live.length > 1) throw new Error(`${opts.source}: Merge node "${n.name}" has ${live.length} live inputs (a cond whose predicate depends on the image is not supported)`);
      else {
        set(0, live[0][0]!);
        set(1, { kind: 'static', t: own(tf.scalar(live[0][1], 'int32')) });
      }
      continue;
    }
    if (ctrlDead || ins.some((v) => v?.kind === 'dead')) {
      all({ kind: 'dead' });
      continue;
    }
    switch (n.op) {
      case 'Const': {
        const w = opts.weights.get(n.name);
        // a Const without weights (e.g. a string) reads as unknown
        if (w) set(0, { kind: 'static', t: w });
        continue;
      }
      case 'Placeholder': {
        if (n.name === opts.image.name) set(0, { kind: 'dynamic', shape: opts.image.shape, key: n.name });
        else if (n.name in opts.constInputs) set(0, { kind: 'static', t: own(tf.scalar(opts.constInputs[n.name], dtypeOf(n.attr?.dtype?.type))) });
        continue;
      }
      case 'NoOp':
        set(0, { kind: 'static', t: own(tf.scalar(0, 'int32')) }); // alive, for control inputs
        continue;
      case 'Switch': {
        const pred = ins[1];
        if (!pred || pred.kind !== 'static') {
          throw new Error(`${opts.source}: Switch node "${n.name}": its predicate is not a constant (a cond that depends on the image is not supported; give the graph's other inputs constant values)`);
        }
        const take = pred.t.dataSync()[0] ? 1 : 0;
        set(take, ins[0] ?? { kind: 'dead' });
        set(1 - take, { kind: 'dead' });
        continue;
      }
      default:
        break;
    }
    if (ins.some((v) => v === undefined)) {
      // reads something unknown (a Const without weights): dynamic, for the reader to name
      for (let p = 0; p < ports; p++) set(p, { kind: 'dynamic', shape: null, key: keyOf(n.name, p) });
      continue;
    }
    if (n.op === 'Shape') {
      const s = ins[0]!.kind === 'static' ? [...(ins[0] as { t: tf.Tensor }).t.shape] : (ins[0] as { shape: Shp }).shape;
      if (s && s.every((d) => d >= 0)) set(0, { kind: 'static', t: own(tf.tensor1d(s, 'int32')) });
      else set(0, { kind: 'dynamic', shape: [s?.length ?? -1], key: n.name });
      continue;
    }
    if (FORWARD.has(n.op)) {
      set(0, ins[0]!);
      continue;
    }
    if (ins.every((v) => v!.kind === 'static')) {
      const out = tf.tidy(() => evaluate(n, ins.map((v) => (v as { t: tf.Tensor }).t)));
      if (out) {
        out.forEach((t, p) => set(p, { kind: 'static', t: own(t) }));
        continue;
      }
    }
    const shapes = inferShapes(n, ins, (i) => num(ins[i]));
    for (let p = 0; p < ports; p++) set(p, { kind: 'dynamic', shape: shapes[p] ?? null, key: keyOf(n.name, p) });
  }
  return {
    order,
    value: (k) => vals.get(k),
    passive: (n) => {
      if (FORWARD.has(n.op)) return true;
      for (let p = 0; p < portsOf(n); p++) {
        const v = vals.get(keyOf(n.name, p));
        if (v && v.kind === 'dynamic' && v.key === keyOf(n.name, p)) return false;
      }
      return true;
    },
    dispose: () => tf.dispose(owned),
  };
}
