import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { isTfliteFile, readTfliteModel, tfl, writeTfliteModel } from '../../src/util/tflite';

const SELFIE = path.join(__dirname, '../../node_modules/@mediapipe/selfie_segmentation/selfie_segmentation.tflite');

function tinyModel(): tfl.ModelT {
  const w = new Float32Array([1, -2, 3.5, 0.25]);
  const buffers = [new tfl.BufferT([]), new tfl.BufferT(Array.from(new Uint8Array(w.buffer)))];
  const tensors = [
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 0, 'x'),
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 1, 'w'),
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 0, 'y'),
  ];
  const add = new tfl.OperatorT(0, [0, 1], [2], tfl.BuiltinOptions.AddOptions,
    new tfl.AddOptionsT(tfl.ActivationFunctionType.RELU));
  const sub = new tfl.SubGraphT(tensors, [0], [2], [add], 'main');
  // Opcodes below 127 go in both fields, as TFLite's own writer does.
  const code = new tfl.OperatorCodeT(tfl.BuiltinOperator.ADD, null, 1, tfl.BuiltinOperator.ADD);
  return new tfl.ModelT(3, [code], [sub], 'test', buffers);
}

describe('util/tflite schema bindings', () => {
  it('round-trips a model through the object API with 16-byte aligned weight buffers', () => {
    const bytes = writeTfliteModel(tinyModel());
    assert.ok(isTfliteFile(bytes));
    const m = readTfliteModel(bytes);
    assert.equal(m.version, 3);
    assert.equal(m.description, 'test');
    const g = m.subgraphs[0]!;
    assert.deepEqual(g.inputs, [0]);
    assert.deepEqual(g.outputs, [2]);
    assert.deepEqual(g.tensors.map((t) => t.name), ['x', 'w', 'y']);
    assert.deepEqual(g.tensors[1]!.shape, [1, 2, 2, 1]);
    const op = g.operators[0]!;
    assert.equal(m.operatorCodes[op.opcodeIndex]!.builtinCode, tfl.BuiltinOperator.ADD);
    assert.equal(op.builtinOptionsType, tfl.BuiltinOptions.AddOptions);
    assert.equal((op.builtinOptions as tfl.AddOptionsT).fusedActivationFunction, tfl.ActivationFunctionType.RELU);
    const data = Uint8Array.from(m.buffers[1]!.data);
    assert.deepEqual(Array.from(new Float32Array(data.buffer)), [1, -2, 3.5, 0.25]);
    // The weight bytes sit at a 16-byte aligned offset of the file (schema: force_align: 16).
    const needle = Buffer.from(new Float32Array([1, -2, 3.5, 0.25]).buffer);
    const at = Buffer.from(bytes).indexOf(needle);
    assert.ok(at > 0);
    assert.equal(at % 16, 0);
  });

  it('rejects bytes without the TFL3 identifier', () => {
    assert.equal(isTfliteFile(new Uint8Array(16)), false);
    assert.throws(() => readTfliteModel(new Uint8Array(16)), /not a TFLite file/);
  });

  it('reads MediaPipe selfie_segmentation.tflite (skips when the npm dependency is absent)', function () {
    if (!fs.existsSync(SELFIE)) this.skip();
    const m = readTfliteModel(new Uint8Array(fs.readFileSync(SELFIE)));
    const g = m.subgraphs[0]!;
    assert.deepEqual(g.tensors[g.inputs[0]!]!.shape, [1, 256, 256, 3]);
    const codes = m.operatorCodes.map((c) => Math.max(c.builtinCode, c.deprecatedBuiltinCode));
    assert.ok(codes.includes(tfl.BuiltinOperator.CONV_2D));
    assert.ok(m.operatorCodes.some((c) => c.customCode === 'Convolution2DTransposeBias'));
  });
});
