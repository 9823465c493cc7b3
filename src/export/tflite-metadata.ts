/**
 * TFLite Support model metadata for image segmenters, as MediaPipe Tasks' ImageSegmenter
 * reads it. Without it, Tasks refuses a float-input model ("Input tensor has type float32: it
 * requires specifying NormalizationOptions metadata to preprocess input images") and treats
 * the output as already activated.
 *
 * What we write: a `TFLITE_METADATA` buffer (FlatBuffer, file identifier "M001", schema
 * tensorflow_lite_support/metadata/metadata_schema.fbs as extended by MediaPipe's
 * mediapipe/tasks/metadata/metadata_schema.fbs 1.5.0) with
 *   - input TensorMetadata: ImageProperties RGB at the fixed size, NormalizationOptions
 *     mean 0, std 255, so MediaPipe feeds RGB in 0..1 (our model contract);
 *   - output TensorMetadata: ImageProperties GRAYSCALE (one person channel);
 *   - SubGraphMetadata.custom_metadata "SEGMENTER_METADATA": ImageSegmenterOptions
 *     (mediapipe/tasks/metadata/image_segmenter_metadata_schema.fbs, identifier "V001") with
 *     activation SIGMOID, so the confidence mask is P(person) = sigmoid(logits).
 *
 * Only these few tables are needed, so they are built directly with the flatbuffers Builder.
 * Field slots follow the schema's field order (union fields take two: type, then value).
 */
import * as flatbuffers from 'flatbuffers';

export const TFLITE_METADATA_NAME = 'TFLITE_METADATA';
export const SEGMENTER_METADATA_NAME = 'SEGMENTER_METADATA';
/** MediaPipe's metadata schema version that introduced SubGraphMetadata.custom_metadata. */
const MIN_PARSER_VERSION = '1.5.0';

const ColorSpace = { RGB: 1, GRAYSCALE: 2 } as const;
const ContentPropertiesType = { ImageProperties: 2 } as const;
const ProcessUnitOptionsType = { NormalizationOptions: 1 } as const;
const SegmenterActivation = { NONE: 0, SIGMOID: 1, SOFTMAX: 2 } as const;

export interface SegmenterMetadataOptions {
  name: string;
  description: string;
  version: string;
  author?: string;
  license?: string;
  input: { name: string; description: string; width: number; height: number };
  output: { name: string; description: string };
  /** Activation MediaPipe applies to the output: 'sigmoid' for logits. */
  activation: 'none' | 'sigmoid';
}

function table(b: flatbuffers.Builder, fields: ((b: flatbuffers.Builder) => void)[], n: number): flatbuffers.Offset {
  b.startObject(n);
  for (const f of fields) f(b);
  return b.endObject();
}

const off = (slot: number, o: flatbuffers.Offset) => (b: flatbuffers.Builder) => b.addFieldOffset(slot, o, 0);
const i8 = (slot: number, v: number) => (b: flatbuffers.Builder) => b.addFieldInt8(slot, v, -1); // -1: always written
const u32 = (slot: number, v: number) => (b: flatbuffers.Builder) => b.addFieldInt32(slot, v, -1);

function offsets(b: flatbuffers.Builder, items: flatbuffers.Offset[]): flatbuffers.Offset {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]);
  return b.endVector();
}

function floats(b: flatbuffers.Builder, v: number[]): flatbuffers.Offset {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addFloat32(v[i]);
  return b.endVector();
}

/** ImageSegmenterOptions FlatBuffer (identifier "V001"). */
function segmenterOptions(activation: number): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const ver = b.createString('1.0.0');
  // ImageSegmenterOptions: activation (0), min_parser_version (1)
  const root = table(b, [off(1, ver), i8(0, activation)], 2);
  b.finish(root, 'V001');
  return b.asUint8Array();
}

/** The ModelMetadata FlatBuffer (identifier "M001") for a one-input, one-output segmenter. */
export function segmenterMetadata(o: SegmenterMetadataOptions): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  const str = (s: string) => b.createString(s);

  const imageContent = (space: number, size: { width: number; height: number } | null) => {
    // ImageSize: width (0), height (1)
    const sizeT = size ? table(b, [u32(0, size.width), u32(1, size.height)], 2) : 0;
    // ImageProperties: color_space (0), default_size (1)
    const props = table(b, [...(sizeT ? [off(1, sizeT)] : []), i8(0, space)], 2);
    // Content: content_properties_type (0), content_properties (1), range (2)
    return table(b, [off(1, props), i8(0, ContentPropertiesType.ImageProperties)], 3);
  };

  // input tensor: RGB image, (x - 0) / 255 -> 0..1
  const inName = str(o.input.name);
  const inDesc = str(o.input.description);
  const inContent = imageContent(ColorSpace.RGB, { width: o.input.width, height: o.input.height });
  // NormalizationOptions: mean (0), std (1)
  const norm = table(b, [off(0, floats(b, [0])), off(1, floats(b, [255]))], 2);
  // ProcessUnit: options_type (0), options (1)
  const unit = table(b, [off(1, norm), i8(0, ProcessUnitOptionsType.NormalizationOptions)], 2);
  const units = offsets(b, [unit]);
  // Stats: max (0), min (1): the normalised range
  const stats = table(b, [off(0, floats(b, [1])), off(1, floats(b, [0]))], 2);
  // TensorMetadata: name (0), description (1), dimension_names (2), content (3), process_units (4), stats (5), associated_files (6)
  const input = table(b, [off(0, inName), off(1, inDesc), off(3, inContent), off(4, units), off(5, stats)], 7);

  const outName = str(o.output.name);
  const outDesc = str(o.output.description);
  const outContent = imageContent(ColorSpace.GRAYSCALE, null);
  const output = table(b, [off(0, outName), off(1, outDesc), off(3, outContent)], 7);

  // CustomMetadata: name (0), data (1, force_align 16)
  const segBytes = segmenterOptions(o.activation === 'sigmoid' ? SegmenterActivation.SIGMOID : SegmenterActivation.NONE);
  const segName = str(SEGMENTER_METADATA_NAME);
  b.startVector(1, segBytes.length, 16);
  for (let i = segBytes.length - 1; i >= 0; i--) b.addInt8(segBytes[i]);
  const segData = b.endVector();
  const custom = table(b, [off(0, segName), off(1, segData)], 2);

  // SubGraphMetadata: name (0), description (1), input_tensor_metadata (2), output_tensor_metadata (3),
  // associated_files (4), input_process_units (5), output_process_units (6), input_tensor_groups (7),
  // output_tensor_groups (8), custom_metadata (9)
  const sgName = str(o.name);
  const inputs = offsets(b, [input]);
  const outputs = offsets(b, [output]);
  const customs = offsets(b, [custom]);
  const subgraph = table(b, [off(0, sgName), off(2, inputs), off(3, outputs), off(9, customs)], 10);

  // ModelMetadata: name (0), description (1), version (2), subgraph_metadata (3), author (4),
  // license (5), associated_files (6), min_parser_version (7)
  const fields = [off(0, str(o.name)), off(1, str(o.description)), off(2, str(o.version)), off(3, offsets(b, [subgraph]))];
  if (o.author) fields.push(off(4, str(o.author)));
  if (o.license) fields.push(off(5, str(o.license)));
  fields.push(off(7, str(MIN_PARSER_VERSION)));
  const root = table(b, fields, 8);
  b.finish(root, 'M001');
  return b.asUint8Array();
}
