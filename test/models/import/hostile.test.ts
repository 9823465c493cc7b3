/**
 * Hostile model files (issue 18): a TensorFlow.js graph model whose manifest names files outside
 * its folder, devices, FIFOs or shards of the wrong size, and .tflite files whose FlatBuffer
 * lengths and offsets do not fit in the file. Every case is crafted here, a few bytes each.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as flatbuffers from 'flatbuffers';
import * as tf from '@tensorflow/tfjs';
import { importModel, readGraph } from '../../../src/models/import';
import { readTfliteModel, tfl, writeTfliteModel } from '../../../src/util/tflite';
import { tmpDir, writeGraphFixture, writeTfliteFixture } from './fixtures';
import { runTs } from '../../helpers/child';

/** Rewrites the paths of the graph fixture's one manifest group. */
function setPaths(modelJson: string, paths: string[]): void {
  const j = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  j.weightsManifest[0].paths = paths;
  fs.writeFileSync(modelJson, JSON.stringify(j));
}

/** A graph fixture in its own folder `root/model/`, and the folder `root/` around it. */
function graphModel(): { root: string; dir: string; json: string; shard: Buffer } {
  const root = tmpDir('psg-hostile-');
  const dir = path.join(root, 'model');
  fs.mkdirSync(dir);
  const json = writeGraphFixture(dir);
  return { root, dir, json, shard: fs.readFileSync(path.join(dir, 'fixture.bin')) };
}

/** A minimal valid .tflite (ADD of the input and a constant) whose one weight buffer holds `data`. */
function tinyTflite(data: number[]): Uint8Array {
  const buffers = [new tfl.BufferT([]), new tfl.BufferT(data)];
  const tensors = [
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 0, 'x'),
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 1, 'w'),
    new tfl.TensorT([1, 2, 2, 1], tfl.TensorType.FLOAT32, 0, 'y'),
  ];
  const add = new tfl.OperatorT(0, [0, 1], [2], tfl.BuiltinOptions.AddOptions, new tfl.AddOptionsT(tfl.ActivationFunctionType.NONE));
  const sub = new tfl.SubGraphT(tensors, [0], [2], [add], 'main');
  return writeTfliteModel(new tfl.ModelT(3, [new tfl.OperatorCodeT(tfl.BuiltinOperator.ADD, null, 1, tfl.BuiltinOperator.ADD)], [sub], 'hostile', buffers));
}

describe('models/import: hostile model files', function () {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('a graph model.json may only name regular files inside its folder, of the manifest\'s size', () => {
    it('the untouched fixture imports (the checks below are about the paths, not the model)', () => {
      const { json } = graphModel();
      const imp = importModel(json);
      assert.ok(imp.model.countParams() > 0);
      imp.model.dispose();
    });

    it('"../secret/x.bin" (a file of exactly the right size beside the folder) is refused, never imported', () => {
      const { root, dir, json, shard } = graphModel();
      fs.mkdirSync(path.join(root, 'secret'));
      fs.writeFileSync(path.join(root, 'secret', 'x.bin'), shard);
      fs.rmSync(path.join(dir, 'fixture.bin'));
      setPaths(json, ['../secret/x.bin']);
      assert.throws(() => importModel(json), (e: Error) => {
        assert.match(e.message, /weight shard "\.\.\/secret\/x\.bin" is outside the model's folder/);
        assert.ok(e.message.startsWith(json), e.message);
        return true;
      });
    });

    it('"../../../../../../../../etc/passwd" is refused before it is opened', () => {
      const { json } = graphModel();
      setPaths(json, ['../../../../../../../../etc/passwd']);
      assert.throws(() => readGraph(json), /weight shard "[./]+etc\/passwd" is outside the model's folder/);
    });

    it('a link inside the folder to /dev/zero is refused by its real path (it used to read without bound)', () => {
      const { dir, json } = graphModel();
      fs.symlinkSync('/dev/zero', path.join(dir, 'zero.bin'));
      setPaths(json, ['zero.bin']);
      assert.throws(() => readGraph(json), /weight shard "zero\.bin" is outside the model's folder \(\/dev\/zero\)/);
    });

    it('a FIFO inside the folder is refused without opening it (opening it used to hang the import)', () => {
      const { dir, json } = graphModel();
      execFileSync('mkfifo', [path.join(dir, 'pipe.bin')]);
      setPaths(json, ['pipe.bin']);
      assert.throws(() => readGraph(json), /weight shard "pipe\.bin" is a FIFO, expected a regular file/);
    });

    it('a shard with bytes appended, or cut short, is refused by its size before it is read', () => {
      const { dir, json, shard } = graphModel();
      fs.writeFileSync(path.join(dir, 'fixture.bin'), Buffer.concat([shard, Buffer.alloc(8)]));
      assert.throws(() => readGraph(json), new RegExp(`hold ${shard.length + 8} bytes, its weights need ${shard.length}`));
      fs.writeFileSync(path.join(dir, 'fixture.bin'), shard.subarray(0, shard.length - 4));
      assert.throws(() => readGraph(json), new RegExp(`hold ${shard.length - 4} bytes, its weights need ${shard.length}`));
    });

    it('a shard that is a link to another file inside the folder is read, and so is a name starting with ".."', () => {
      const { dir, json } = graphModel();
      fs.mkdirSync(path.join(dir, 'shards'));
      fs.renameSync(path.join(dir, 'fixture.bin'), path.join(dir, 'shards', 'real.bin'));
      fs.symlinkSync(path.join('shards', 'real.bin'), path.join(dir, 'fixture.bin'));
      assert.ok(readGraph(json).nodes.length > 0);
      // a name that merely starts with two dots is inside too
      fs.renameSync(path.join(dir, 'shards', 'real.bin'), path.join(dir, '..real.bin'));
      setPaths(json, ['..real.bin']);
      assert.ok(readGraph(json).nodes.length > 0);
    });

    it('the reference runner (tf.loadGraphModel on the file) reads through the same check', async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { loadReference } = require('../../../src/models/import') as typeof import('../../../src/models/import');
      const { root, dir, json, shard } = graphModel();
      const imp = importModel(json);
      fs.writeFileSync(path.join(root, 'other.bin'), shard);
      setPaths(json, ['../other.bin']);
      fs.rmSync(path.join(dir, 'fixture.bin'));
      await assert.rejects(() => loadReference(json, imp), /outside the model's folder/);
      imp.model.dispose();
    });
  });

  describe('.tflite FlatBuffer lengths and offsets are checked against the file before anything is allocated', () => {
    it('a weight buffer claiming 2^31 bytes fails at once naming the file (it used to crash V8, exit 133)', () => {
      const dir = tmpDir('psg-hostile-');
      const bytes = Buffer.from(tinyTflite(Array.from({ length: 16 }, () => 0xab)));
      const at = bytes.indexOf(Buffer.alloc(16, 0xab));
      assert.ok(at > 4);
      assert.equal(bytes.readUInt32LE(at - 4), 16, 'the vector length sits before its data');
      bytes.writeUInt32LE(0x7ffffff0, at - 4);
      const file = path.join(dir, 'huge-vector.tflite');
      fs.writeFileSync(file, bytes);
      // in a child with a small heap: on a regression it dies there (V8 out of memory), not in mocha
      const r = runTs(
        `const { readGraph } = require('./src/models/import');
         try { readGraph(${JSON.stringify(file)}); console.log('read'); } catch (e) { console.log('error: ' + e.message); }`,
        { maxOldSpaceMb: 256 },
      );
      assert.equal(r.code, 0, `child exit ${r.code} ${r.signal ?? ''}: ${r.stderr.slice(-400)}`);
      assert.match(r.stdout, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated or corrupt TFLite file: a vector at offset \\d+ claims 2147483632 elements, past the end of the file`));
    });

    it('a small file whose vector names one 4 KB buffer 2000 times fails instead of unpacking 8 M values', () => {
      const b = new flatbuffers.Builder(1024);
      const data = tfl.Buffer.createDataVector(b, new Uint8Array(4096));
      const buf = tfl.Buffer.createBuffer(b, data, 0n, 0n);
      const vec = tfl.Model.createBuffersVector(b, new Array(2000).fill(buf));
      tfl.Model.startModel(b);
      tfl.Model.addVersion(b, 3);
      tfl.Model.addBuffers(b, vec);
      tfl.Model.finishModelBuffer(b, tfl.Model.endModel(b));
      const bytes = b.asUint8Array();
      assert.ok(bytes.length < 16000, `crafted file is ${bytes.length} bytes`);
      assert.throws(() => readTfliteModel(bytes), /truncated or corrupt TFLite file: its vectors and strings add up to more than the file's size/);
    });

    it('a constant of shape [65536,65536,2] over a 16-byte buffer is refused before its array is allocated', () => {
      const dir = tmpDir('psg-hostile-');
      const m = readTfliteModel(tinyTflite(Array.from(new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer))));
      m.subgraphs[0].tensors[1].shape = [65536, 65536, 2];
      const file = path.join(dir, 'huge-shape.tflite');
      fs.writeFileSync(file, writeTfliteModel(m));
      assert.throws(() => readGraph(file), (e: Error) => {
        assert.ok(e.message.startsWith(file), e.message);
        assert.match(e.message, /constant tensor "w" of shape \[65536,65536,2\] needs 34359738368 bytes, its buffer holds 16: the file is corrupt/);
        return true;
      });
    });

    it('a truncated .tflite is reported as truncated or corrupt, naming the file (not "has no subgraph")', () => {
      const dir = tmpDir('psg-hostile-');
      const whole = fs.readFileSync(writeTfliteFixture(dir));
      for (const keep of [0.3, 0.6, 0.95]) {
        const file = path.join(dir, `cut-${keep}.tflite`);
        fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length * keep)));
        assert.throws(() => readGraph(file), (e: Error) => {
          assert.ok(e.message.startsWith(`${file}: truncated or corrupt TFLite file`), e.message);
          return true;
        });
      }
    });

    it('an operator naming a tensor the subgraph does not have fails naming the file', () => {
      const dir = tmpDir('psg-hostile-');
      const m = readTfliteModel(tinyTflite(Array.from(new Uint8Array(16))));
      m.subgraphs[0].operators[0].inputs = [0, 99];
      const file = path.join(dir, 'bad-index.tflite');
      fs.writeFileSync(file, writeTfliteModel(m));
      assert.throws(() => readGraph(file), (e: Error) => e.message === `${file}: truncated or corrupt TFLite file: operator 0 names tensor 99, the subgraph has 3`);
    });

    it('a file whose input is 65536x65536 is refused naming it (inputs are at most 4096 per side)', () => {
      const dir = tmpDir('psg-hostile-');
      // one 1x1 convolution 3 -> 1 channel, logits out
      const w = new Float32Array([0.5, -0.25, 0.125]);
      const buffers = [new tfl.BufferT([]), new tfl.BufferT(Array.from(new Uint8Array(w.buffer)))];
      const side = 65536;
      const tensors = [
        new tfl.TensorT([1, side, side, 3], tfl.TensorType.FLOAT32, 0, 'x'),
        new tfl.TensorT([1, 1, 1, 3], tfl.TensorType.FLOAT32, 1, 'w'),
        new tfl.TensorT([1, side, side, 1], tfl.TensorType.FLOAT32, 0, 'y'),
      ];
      const opts = Object.assign(new tfl.Conv2DOptionsT(), { padding: tfl.Padding.SAME, strideW: 1, strideH: 1, dilationWFactor: 1, dilationHFactor: 1 });
      const conv = new tfl.OperatorT(0, [0, 1, -1], [2], tfl.BuiltinOptions.Conv2DOptions, opts);
      const code = new tfl.OperatorCodeT(tfl.BuiltinOperator.CONV_2D, null, 1, tfl.BuiltinOperator.CONV_2D);
      const file = path.join(dir, 'huge-input.tflite');
      fs.writeFileSync(file, writeTfliteModel(new tfl.ModelT(3, [code], [new tfl.SubGraphT(tensors, [0], [2], [conv], 'main')], 'hostile', buffers)));
      assert.throws(() => importModel(file, { output: 'logits' }), (e: Error) => e.message === `${file}: the file's input size 65536x65536: each side must be 1..4096`);
      // the same net at 64x64 imports
      tensors[0].shape = [1, 64, 64, 3];
      tensors[2].shape = [1, 64, 64, 1];
      fs.writeFileSync(file, writeTfliteModel(new tfl.ModelT(3, [code], [new tfl.SubGraphT(tensors, [0], [2], [conv], 'main')], 'hostile', buffers)));
      const imp = importModel(file, { output: 'logits' });
      assert.deepEqual(imp.inputSize, [64, 64]);
      imp.model.dispose();
    });

    it('a FIFO given as the model file is refused without opening it', () => {
      const dir = tmpDir('psg-hostile-');
      const file = path.join(dir, 'pipe.tflite');
      execFileSync('mkfifo', [file]);
      assert.throws(() => readGraph(file), /pipe\.tflite: a FIFO, expected a regular model file/);
    });
  });
});
