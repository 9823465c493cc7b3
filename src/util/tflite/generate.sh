#!/bin/sh
# Regenerates ./generated from ./schema.fbs (TensorFlow Lite's public schema; see its header).
# Needs flatc (Debian: apt-get install flatbuffers-compiler; written with flatc 2.0.8).
# flatc 2.0.8's TypeScript ignores `force_align`; TFLite wants Buffer.data (weights) and
# CustomQuantization.custom 16-byte aligned, so the two generated vector builders are patched
# to align to 16 as flatc's C++ output does.
set -e
cd "$(dirname "$0")"
rm -rf generated
flatc --ts --gen-object-api -o generated schema.fbs
for f in generated/tflite/buffer.ts generated/tflite/custom-quantization.ts; do
  sed -i 's/builder.startVector(1, data.length, 1);/builder.startVector(1, data.length, 16);  \/\/ force_align: 16 (patched by generate.sh)/' "$f"
  grep -q 'force_align: 16 (patched' "$f"
done
