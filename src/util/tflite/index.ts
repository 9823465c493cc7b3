// TensorFlow Lite's FlatBuffers schema (schema.fbs, Apache-2.0) as TypeScript, plus the two entry
// points both the importer (src/models/import) and the TFLite writer (src/export) use.
// The generated classes come in two forms: accessors over the bytes (`Model`, `Tensor`, ...) and
// plain objects (`ModelT`, `TensorT`, ...; flatc's object API) that `writeTfliteModel` packs.
import * as flatbuffers from 'flatbuffers';
import { Model, ModelT } from './generated/tflite/model';

import * as tflSchema from './generated/schema_generated';

export * as tfl from './generated/schema_generated';

/** The schema version TFLite writes into Model.version (schema.fbs: "Version 3c"). */
export const TFLITE_SCHEMA_VERSION = 3;

/** True when `bytes` carries TFLite's file identifier "TFL3" at offset 4. */
export function isTfliteFile(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new flatbuffers.ByteBuffer(bytes).__has_identifier('TFL3');
}

/** A .tflite file that is cut short, or whose offsets and lengths point outside it. */
export class TfliteCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TfliteCorruptError';
  }
}

/**
 * A FlatBuffers ByteBuffer that checks what the generated readers ask of it, since flatbuffers'
 * JavaScript runtime has no verifier: a read outside the buffer (which the stock one answers with
 * 0 or undefined) throws, a vector or string whose length runs past the end throws before the
 * unpacker loops over it, and the elements of all vectors plus the bytes of all strings may add up
 * to at most the file's size: more means data referenced many times over (a hostile file's way to
 * make a small file unpack into gigabytes), which TFLite's writers never produce.
 */
class CheckedByteBuffer extends flatbuffers.ByteBuffer {
  private budget: number;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.budget = bytes.length;
  }

  private corrupt(what: string): never {
    throw new TfliteCorruptError(`truncated or corrupt TFLite file: ${what} (the file has ${this.capacity()} bytes)`);
  }

  private check(offset: number, size: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > this.capacity()) this.corrupt(`a ${size}-byte field at offset ${offset} lies outside the file`);
  }

  private spend(n: number, what: string): void {
    this.budget -= n;
    if (this.budget < 0) this.corrupt(`its vectors and strings add up to more than the file's size (${what}): data referenced many times over`);
  }

  override readUint8(offset: number): number {
    this.check(offset, 1);
    return super.readUint8(offset);
  }

  override readUint16(offset: number): number {
    this.check(offset, 2);
    return super.readUint16(offset);
  }

  override readInt32(offset: number): number {
    this.check(offset, 4);
    return super.readInt32(offset);
  }

  override __vector_len(offset: number): number {
    const start = this.__vector(offset);
    const len = this.readInt32(start - 4);
    // every element takes at least one byte
    if (len < 0 || start + len > this.capacity()) this.corrupt(`a vector at offset ${start} claims ${len >>> 0} elements, past the end of the file`);
    this.spend(len, `a vector of ${len} at offset ${start}`);
    return len;
  }

  override __string(offset: number, optionalEncoding?: flatbuffers.Encoding): string | Uint8Array {
    const start = offset + this.readInt32(offset);
    const len = this.readInt32(start);
    if (len < 0 || start + 4 + len > this.capacity()) this.corrupt(`a string at offset ${start} claims ${len >>> 0} bytes, past the end of the file`);
    this.spend(len, `a string of ${len} bytes at offset ${start}`);
    return super.__string(offset, optionalEncoding);
  }
}

/**
 * Unpacks a whole .tflite file into plain objects. Throws when the identifier is missing, and
 * TfliteCorruptError when the file is cut short or its offsets and lengths do not fit in it
 * (checked before anything is allocated for them).
 */
export function readTfliteModel(bytes: Uint8Array): ModelT {
  if (!isTfliteFile(bytes)) throw new Error('not a TFLite file (no "TFL3" identifier)');
  return Model.getRootAsModel(new CheckedByteBuffer(bytes)).unpack();
}

const TYPE_BYTES: Partial<Record<number, number>> = {
  [tflSchema.TensorType.FLOAT32]: 4,
  [tflSchema.TensorType.FLOAT16]: 2,
  [tflSchema.TensorType.INT32]: 4,
  [tflSchema.TensorType.INT64]: 8,
  [tflSchema.TensorType.INT8]: 1,
  [tflSchema.TensorType.UINT8]: 1,
  [tflSchema.TensorType.INT16]: 2,
  [tflSchema.TensorType.BOOL]: 1,
};

/**
 * The bytes of a constant tensor (null when it has no data), checked: its shape is a list of
 * non-negative integers and its buffer holds exactly shape's product times the type's size.
 * `where` names the file in the error.
 */
export function constantBytes(m: ModelT, t: tflSchema.TensorT, where: string): Uint8Array | null {
  if (!Number.isInteger(t.buffer) || t.buffer < 0 || t.buffer >= Math.max(1, m.buffers.length)) {
    throw new TfliteCorruptError(`${where}: tensor "${String(t.name)}" names buffer ${t.buffer}, the file has ${m.buffers.length}`);
  }
  const b = m.buffers[t.buffer];
  if (!b || b.data.length === 0) return null;
  const size = TYPE_BYTES[t.type];
  if (size === undefined) return null;
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TfliteCorruptError(`${where}: constant tensor "${String(t.name)}" has shape [${t.shape.join(',')}]`);
  }
  const n = t.shape.reduce((a, d) => a * d, 1);
  if (n * size !== b.data.length) {
    throw new TfliteCorruptError(`${where}: constant tensor "${String(t.name)}" of shape [${t.shape.join(',')}] needs ${n * size} bytes, its buffer holds ${b.data.length}: the file is corrupt`);
  }
  return Uint8Array.from(b.data);
}

/** Packs plain objects into .tflite bytes (identifier "TFL3"; weight buffers 16-byte aligned). */
export function writeTfliteModel(model: ModelT, initialSize = 1 << 20): Uint8Array {
  const builder = new flatbuffers.Builder(initialSize);
  Model.finishModelBuffer(builder, model.pack(builder));
  return builder.asUint8Array();
}
