/**
 * A minimal protobuf writer for the subset of onnx.proto (onnx/onnx, proto2) that our
 * exporter needs: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto and
 * ValueInfoProto. Field numbers follow onnx.proto exactly; repeated scalars are written
 * unpacked (proto2's default), which every ONNX parser accepts.
 *
 * Writing the wire format directly keeps the exporter free of a .proto schema file and of
 * a protobuf runtime; onnxruntime reading the result is the test that it is right.
 */

/** ONNX TensorProto.DataType values we use. */
export const DT = { FLOAT: 1, INT64: 7 } as const;

export type AttrValue = number | string | number[] | { ints: number[] } | { floats: number[] } | { float: number } | OnnxTensor;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** float32 values for FLOAT, integer values for INT64 */
  values: Float32Array | number[];
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs?: Record<string, AttrValue>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** number = fixed size, string = symbolic (dynamic) dimension */
  dims: (number | string)[];
}

export interface OnnxModel {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
}

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n !== 0n) byte |= 0x80;
      out.push(byte);
    } while (n !== 0n);
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.dataType === DT.FLOAT) {
    const f = t.values instanceof Float32Array ? t.values : Float32Array.from(t.values);
    // raw_data is little-endian; copy so that the view starts at offset 0
    const le = new Uint8Array(f.length * 4);
    const dv = new DataView(le.buffer);
    for (let i = 0; i < f.length; i++) dv.setFloat32(i * 4, f[i], true);
    w.bytes(9, le);
  } else if (t.dataType === DT.INT64) {
    const le = new Uint8Array(t.values.length * 8);
    const dv = new DataView(le.buffer);
    for (let i = 0; i < t.values.length; i++) dv.setBigInt64(i * 8, BigInt(Math.round(t.values[i])), true);
    w.bytes(9, le);
  } else {
    throw new Error(`onnx writer: unsupported tensor data type ${t.dataType}`);
  }
}

// AttributeProto.AttributeType
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function writeAttr(w: Writer, name: string, v: AttrValue): void {
  w.string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: ${v} is not an integer; use {float: v}`);
    w.int(3, v);
    w.int(20, AT.INT);
  } else if (typeof v === 'string') {
    w.string(4, v);
    w.int(20, AT.STRING);
  } else if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    w.int(20, AT.INTS);
  } else if ('ints' in v) {
    for (const x of v.ints) w.int(8, x);
    w.int(20, AT.INTS);
  } else if ('floats' in v) {
    for (const x of v.floats) w.float(7, x);
    w.int(20, AT.FLOATS);
  } else if ('float' in v) {
    w.float(2, v.float);
    w.int(20, AT.FLOAT);
  } else {
    w.message(5, (t) => writeTensor(t, v));
    w.int(20, AT.TENSOR);
  }
}

function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, v.elemType);
      tt.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  w.string(6, m.docString);
  w.message(7, (g) => {
    for (const n of m.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (aw) => writeAttr(aw, k, v));
      });
    }
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const i of m.inputs) g.message(11, (vw) => writeValueInfo(vw, i));
    for (const o of m.outputs) g.message(12, (vw) => writeValueInfo(vw, o));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, m.opset);
  });
  for (const [k, v] of Object.entries(m.metadata)) {
    w.message(14, (e) => {
      e.string(1, k);
      e.string(2, v);
    });
  }
  return w.finish();
}
