/**
 * Graph models with several inputs, folded shape arithmetic, conds with constant predicates,
 * atrous convolutions, zero recurrent states, channel slices and a clipped probability output
 * (writeFoldFixture: a small video-matting-like graph written by the test itself).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { importModel, loadReference, readGraph } from '../../../src/models/import';
import { referenceParity } from '../../../src/export/import-check';
import { buildImported } from '../../../src/models/import/build';
import { foldGraph, type GraphNode } from '../../../src/models/import/graph_fold';
import { IrGraph, simplify } from '../../../src/models/import/ir';
import { CLIP_LOGIT_EPS, ClipLogit } from '../../../src/models/imported_layers';
import { loadModel, saveModel } from '../../../src/models/io';
import { cli } from '../../helpers/cli';
import { runImport } from '../../../src/cli/commands/import';
import { FOLD_FIXTURE_CONSTS, tmpDir, writeFoldFixture } from './fixtures';

const OPTS = { constInputs: FOLD_FIXTURE_CONSTS, outputNode: 'alpha' };

/** max |grad| of a cross-entropy on the logits for every trainable weight. */
function gradNorms(model: tf.LayersModel, x: tf.Tensor4D): [string, number][] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const target = tf.tidy(() => tf.randomUniform([x.shape[0], x.shape[1], x.shape[2], 1], 0, 1, 'float32', 3).round());
  const { grads, value } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.sigmoidCrossEntropy(target, logits) as tf.Scalar;
  }, vars);
  const out = model.trainableWeights.map((w, i) => [w.name, tf.tidy(() => grads[vars[i].name].abs().max().dataSync()[0])] as [string, number]);
  tf.dispose([...Object.values(grads), value, target]);
  return out;
}

describe('models/import: graph models with constant inputs, folding and control flow', function () {
  let dir: string;
  let file: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = tmpDir();
    file = writeFoldFixture(dir);
  });

  it('folds the shape arithmetic and the cond, maps the atrous conv to a dilated conv, drops the zero state and pushes every slice into a conv', () => {
    const g = readGraph(file, { inputSize: [16, 16], ...OPTS });
    const ops = g.nodes.map((n) => n.op);
    // nothing of the cond, the shape arithmetic, SpaceToBatchND / BatchToSpaceND, Split / SplitV, Sub or the zero state is left
    assert.deepEqual([...new Set(ops)].sort(), ['clip', 'concat', 'conv2d', 'depthwise', 'mul', 'pad', 'relu', 'relu6', 'resize', 'sigmoid', 'tanh']);
    const dw = g.nodes.find((n) => n.op === 'depthwise')!;
    assert.deepEqual(dw.attrs.dilations, [2, 2]);
    assert.equal(dw.attrs.padding, 'valid');
    // the BN's Mul + Add after the atrous conv are folded into it (kernel and bias)
    assert.equal(dw.inputs.length, 3);
    // the GRU on a zero state: z * tanh(conv(x)): the gate conv keeps only z's 4 outputs and x's 4 inputs
    const sig = g.nodes.find((n) => n.op === 'sigmoid')!;
    const gate = g.nodes.find((n) => n.output === sig.inputs[0])!;
    assert.deepEqual(g.consts.get(gate.inputs[1])!.shape, [3, 3, 4, 4]);
    const th = g.nodes.find((n) => n.op === 'tanh')!;
    const cand = g.nodes.find((n) => n.output === th.inputs[0])!;
    assert.deepEqual(g.consts.get(cand.inputs[1])!.shape, [3, 3, 4, 4]);
    // the 2x upsample's size came from Shape * 2
    assert.deepEqual(g.nodes.find((n) => n.op === 'resize')!.attrs.size, [16, 16]);
    // the head conv keeps the alpha's channel only; the output is the clip
    const last = g.nodes[g.nodes.length - 1];
    assert.equal(last.op, 'clip');
    assert.deepEqual(last.attrs, { min: 0, max: 1 });
    assert.equal(g.consts.get(g.nodes.find((n) => n.output === last.inputs[0])!.inputs[1])!.shape[3], 1);
  });

  it('takes the cond\'s other branch when the constant says so (ratio 0.5: the image resized to 8x8 by folded sizes)', () => {
    const g = readGraph(file, { inputSize: [16, 16], constInputs: { state: 0, ratio: 0.5 }, outputNode: 'alpha' });
    const first = g.nodes.find((n) => n.inputs.includes(g.input.name))!;
    assert.equal(first.op, 'resize');
    assert.deepEqual(first.attrs.size, [8, 8]);
  });

  for (const size of [16, 17]) {
    it(`matches tfjs' executeAsync of the file within 1e-4 after save + reload at ${size}x${size}${size % 2 ? ' (crops after the atrous conv and the upsample)' : ''}`, async () => {
      const imp = importModel(file, { inputSize: [size, size], ...OPTS });
      assert.equal(imp.output, 'clip01');
      assert.deepEqual(imp.meta.args.imported, {
        format: 'tfjs-graph',
        source: path.resolve(file),
        inputRange: '0..1',
        output: 'clip01',
        sourceInputShape: [-1, size, size, 3],
        constInputs: FOLD_FIXTURE_CONSTS,
        outputNode: 'alpha',
      });
      const crops = imp.graph.nodes.filter((n) => n.op === 'crop').length;
      assert.equal(crops, size % 2 ? 2 : 0);
      const out = path.join(dir, `fold${size}`);
      await saveModel(out, imp.model, imp.meta);
      const re = await loadModel(out);
      const ref = await loadReference(file, imp);
      assert.match(ref.what, /inputs state=0, ratio=1, output alpha/);
      const p = await referenceParity(re.model, imp, file, 5);
      assert.ok(p.ok, JSON.stringify(p));
      assert.ok(p.maxAbsProb <= 1e-4);
      // not vacuous: the file's alpha has clipped and unclipped pixels on these frames
      const x = tf.randomUniform([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const prob = await ref.probability(x);
      const v = prob.dataSync();
      assert.ok(v.some((a) => a === 1) && v.some((a) => a > 0.05 && a < 0.95), 'alpha saturates somewhere and not everywhere');
      tf.dispose([x, prob]);
      ref.dispose();
      imp.model.dispose();
      re.model.dispose();
    });
  }

  it('trains: every trainable weight gets a gradient; the dilated depthwise kernel is the 3x3 one with zeros between its taps', () => {
    const imp = importModel(file, { inputSize: [16, 16], ...OPTS });
    const dw = imp.model.layers.find((l) => l.getClassName() === 'DepthwiseConv2D')!;
    const k = dw.getWeights()[0];
    assert.deepEqual(k.shape, [5, 5, 8, 1]);
    const kv = k.arraySync() as number[][][][];
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) if (i % 2 || j % 2) assert.ok(kv[i][j].every((c) => c[0] === 0), `tap ${i},${j} is not zero`);
    assert.ok(kv[0][0].some((c) => c[0] !== 0));
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const norms = gradNorms(imp.model, x);
    x.dispose();
    assert.ok(norms.length > 10);
    for (const [name, g] of norms) assert.ok(g > 0 && Number.isFinite(g), `${name}: max |grad| ${g}`);
    assert.equal(tf.memory().numTensors, before);
    imp.model.dispose();
  });

  it('keeps an all-zero bias of the file as a trainable bias (only computed zeros are dropped)', () => {
    const f = writeFoldFixture(tmpDir(), { zeroBias: true });
    const imp = importModel(f, { inputSize: [16, 16], ...OPTS });
    const stem = imp.model.layers.find((l) => l.getClassName() === 'Conv2D' && l.name.includes('c1'))!;
    assert.equal(stem.getConfig().useBias, true);
    assert.deepEqual(Array.from(stem.getWeights()[1].dataSync()), Array(8).fill(0));
    imp.model.dispose();
  });

  it('names what is missing: the inputs without a value, the outputs to choose from, unknown names, dead or constant outputs', () => {
    assert.throws(() => readGraph(file, { inputSize: [16, 16] }), /the graph has 3 inputs \(img, state, ratio\): give all but the image a constant value \(--input-const NAME=VALUE\)/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], constInputs: FOLD_FIXTURE_CONSTS }), /the graph has 2 outputs \(alpha, state_out\): choose one with --output-node NAME/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], constInputs: { ...FOLD_FIXTURE_CONSTS, nope: 1 }, outputNode: 'alpha' }), /no input named "nope" to give a constant value \(inputs: img, state, ratio\)/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], ...OPTS, outputNode: 'nope' }), /--output-node nope: no such tensor in the graph \(outputs: alpha, state_out\)/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], ...OPTS, outputNode: 'else_x' }), /--output-node else_x: it is on a branch the constant inputs do not take/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], ...OPTS, outputNode: 'ap_hw' }), /--output-node ap_hw: it does not depend on the image/);
    assert.throws(() => readGraph(file, { inputSize: [16, 16], constInputs: { img: 0, ...FOLD_FIXTURE_CONSTS }, outputNode: 'alpha' }), /every input \(img, state, ratio\) has a constant value: one must be the image/);
    assert.throws(() => readGraph(file, OPTS), /unsupported op Shape \(node "[a-z_]+"\): the input has no fixed height and width: pass --input-size WxH/);
  });

  it('refuses a cond whose predicate depends on the image, naming the Switch', () => {
    const weights = new Map<string, tf.Tensor>();
    const nodes: GraphNode[] = [
      { name: 'img', op: 'Placeholder' },
      { name: 'p', op: 'Greater', input: ['img', 'img'] },
      { name: 'sw', op: 'Switch', input: ['img', 'p'] },
    ];
    assert.throws(() => foldGraph(nodes, { weights, image: { name: 'img', shape: [1, 4, 4, 3] }, constInputs: {}, source: 'g.json' }), /g\.json: Switch node "sw": its predicate is not a constant/);
  });

  it('a channel slice that cannot move into a conv (of the image itself) is a frozen 1x1 conv selecting the channels', () => {
    const w = Float32Array.of(0.5, -2);
    const g: IrGraph = {
      format: 'tfjs-graph',
      source: 'hand.json',
      input: { name: 'in', shape: [1, 8, 8, 3] },
      output: 'o',
      nodes: [
        { op: 'slice', name: 's', inputs: ['in'], output: 's', attrs: { axis: 3, begin: 1, size: 2 } },
        { op: 'conv2d', name: 'c', inputs: ['s', 'w'], output: 'c', attrs: { strides: [1, 1], dilations: [1, 1], padding: 'same' } },
        { op: 'sigmoid', name: 'o', inputs: ['c'], output: 'o', attrs: {} },
      ],
      consts: new Map([['w', { shape: [1, 1, 2, 1], data: w }]]),
    };
    const b = buildImported(simplify(g), { inputSize: null, inputRange: null, output: null, maskFilter: false, name: 'hand' });
    const sel = b.model.layers.find((l) => l.name === 'src_s')!;
    assert.equal(sel.trainable, false);
    const x = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const got = b.model.predict(x) as tf.Tensor;
    const want = tf.tidy(() => x.slice([0, 0, 0, 1], [1, 8, 8, 2]).mul(tf.tensor1d([w[0], w[1]])).sum(-1, true));
    assert.ok(tf.tidy(() => got.sub(want).abs().max().dataSync()[0]) < 1e-6);
    tf.dispose([x, got, want]);
    b.model.dispose();
  });

  it('ClipLogit: sigmoid of it is the clipped probability; its gradient is 1 / (q (1 - q)) with q clipped to 0.05..0.95, also where the clip saturates', () => {
    const layer = new ClipLogit({ eps: CLIP_LOGIT_EPS });
    const x = tf.tensor1d([-0.3, 0, 0.02, 0.2, 0.5, 0.9, 1, 1.7]);
    const y = layer.apply(x) as tf.Tensor;
    const p = Array.from(tf.sigmoid(y).dataSync());
    const want = [0, 0, 0.02, 0.2, 0.5, 0.9, 1, 1];
    p.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 2e-6, `sigmoid(y[${i}]) = ${v}, want ${want[i]}`));
    const g = Array.from(tf.grad((t: tf.Tensor) => (layer.apply(t) as tf.Tensor).sum())(x).dataSync());
    const cap = 1 / (0.05 * 0.95);
    const gw = [cap, cap, cap, 1 / (0.2 * 0.8), 4, 1 / (0.9 * 0.1), cap, cap];
    g.forEach((v, i) => assert.ok(Math.abs(v - gw[i]) <= 1e-3 * gw[i], `grad[${i}] = ${v}, want ${gw[i]}`));
    tf.dispose([x, y]);
  });

  it('--widen 2 (main) on a graph with crops and a clipped output: the wider net keeps the function, checked against the file', async () => {
    // 15x15: the atrous conv's odd size leaves crops (Cropping2D); the alpha head is ClipLogit
    const out = path.join(dir, 'widened');
    const r = await runImport({ model: file, out, inputSize: [15, 15], inputRange: null, output: null, maskFilter: false, widen: 2, seed: 3, log: () => {}, ...OPTS });
    assert.ok(r.parity.ok, r.describe);
    assert.ok(r.parity.maxAbsProb <= 1e-3, r.describe);
    assert.equal(r.meta.args.widen, 2);
    const re = await loadModel(out);
    const classes = new Set(re.model.layers.map((l) => l.getClassName()));
    assert.ok(classes.has('Cropping2D') && classes.has('ClipLogit'), [...classes].join());
    assert.ok(r.meta.params > 2 * 892, `${r.meta.params} params`);
    re.model.dispose();
  });

  it('CLI: --input-const and --output-node import the graph, and the import records them', () => {
    const out = path.join(dir, 'cli-run');
    const r = cli(['import', '--backend', 'cpu', '--model', file, '--out', out, '--input-size', '16x16', '--input-const', 'state=0', '--input-const', 'ratio=1', '--output-node', 'alpha']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /constant inputs state=0, ratio=1; output alpha/);
    assert.match(r.stderr, /output clip01 \(from the last op\)/);
    assert.match(r.stdout, /parity imported:matting tfjs-graph import vs the graph model run by tfjs \(tf\.loadGraphModel\), inputs state=0, ratio=1, output alpha on portrait frames 2x16x16x3: .* OK/);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'portraitseg.json'), 'utf8'));
    assert.deepEqual(meta.args.imported.constInputs, { state: 0, ratio: 1 });
    const bad = cli(['import', '--backend', 'cpu', '--model', file, '--out', path.join(dir, 'cli-bad'), '--input-size', '16x16', '--input-const', 'state']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--input-const state: expected NAME=NUMBER, e\.g\. --input-const downsample_ratio=1/);
    const none = cli(['import', '--backend', 'cpu', '--model', file, '--out', path.join(dir, 'cli-none'), '--input-size', '16x16']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give all but the image a constant value \(--input-const NAME=VALUE\)/);
    assert.ok(!fs.existsSync(path.join(dir, 'cli-none')));
  });
});
