// TensorFlow Lite's FlatBuffers schema (schema.fbs, Apache-2.0) as TypeScript, plus the two entry
// points both the importer (src/models/import) and the TFLite writer (src/export) use.
// The generated classes come in two forms: accessors over the bytes (`Model`, `Tensor`, ...) and
// plain objects (`ModelT`, `TensorT`, ...; flatc's object API) that `writeTfliteModel` packs.
import * as flatbuffers from 'flatbuffers';
import { Model, ModelT } from './generated/tflite/model';

export * as tfl from './generated/schema_generated';

/** The schema version TFLite writes into Model.version (schema.fbs: "Version 3c"). */
export const TFLITE_SCHEMA_VERSION = 3;

/** True when `bytes` carries TFLite's file identifier "TFL3" at offset 4. */
export function isTfliteFile(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new flatbuffers.ByteBuffer(bytes).__has_identifier('TFL3');
}

/** Unpacks a whole .tflite file into plain objects. Throws when the identifier is missing. */
export function readTfliteModel(bytes: Uint8Array): ModelT {
  if (!isTfliteFile(bytes)) throw new Error('not a TFLite file (no "TFL3" identifier)');
  return Model.getRootAsModel(new flatbuffers.ByteBuffer(bytes)).unpack();
}

/** Packs plain objects into .tflite bytes (identifier "TFL3"; weight buffers 16-byte aligned). */
export function writeTfliteModel(model: ModelT, initialSize = 1 << 20): Uint8Array {
  const builder = new flatbuffers.Builder(initialSize);
  Model.finishModelBuffer(builder, model.pack(builder));
  return builder.asUint8Array();
}
