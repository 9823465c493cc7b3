/**
 * `portraitseg import`: a published segmenter (.tflite or a TensorFlow.js graph model) -> a
 * trainable portraitseg model folder, reloaded from disk and compared with the original.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import * as tf from '@tensorflow/tfjs';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import type { InputRange, OutputKind } from '../../models/import';

interface ImportArgs extends CommonArgs {
  model?: string;
  out?: string;
  'input-size'?: string;
  'input-range'?: string;
  output?: string;
  'mask-filter'?: boolean;
  widen?: number;
  'input-const'?: string[];
  'output-node'?: string;
}

export interface ImportRunOptions {
  model: string;
  out: string;
  inputSize: [number, number] | null;
  inputRange: InputRange | null;
  output: OutputKind | null;
  maskFilter: boolean;
  /** Function-preserving widening factor (1 = as it is). */
  widen?: number;
  /** Graph models: values of the inputs other than the image (--input-const NAME=VALUE). */
  constInputs?: Record<string, number> | null;
  /** Graph models: the output to keep (--output-node NAME). */
  outputNode?: string | null;
  seed: number;
  log: (line: string) => void;
}

/**
 * Imports, writes the folder atomically, reloads it and checks it against the original
 * (the net's logits before the mask filter when --mask-filter is on). Throws on failed parity
 * and leaves nothing at `out` then.
 */
export async function runImport(o: ImportRunOptions) {
  // loaded lazily, like the other commands, so `portraitseg --help` stays fast
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { UnsupportedOpError } = require('../../models/import') as typeof import('../../models/import');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { importVerified, ImportParityError } = require('../../models/import/verified') as typeof import('../../models/import/verified');
  if (fs.existsSync(o.out) && (!fs.statSync(o.out).isDirectory() || fs.readdirSync(o.out).length > 0)) {
    throw new UsageError(`--out ${o.out} already exists and is not empty: choose a new folder (import never overwrites)`);
  }
  let runtime: RuntimeParity | null = null;
  let v;
  try {
    v = await importVerified(o.model, o.out, { inputSize: o.inputSize, inputRange: o.inputRange, output: o.output, maskFilter: o.maskFilter, widen: o.widen ?? 1, seed: o.seed, constInputs: o.constInputs ?? null, outputNode: o.outputNode ?? null }, async (net, imp) => {
      if (imp.format !== 'tflite') return { ok: null, line: '' };
      runtime = await runtimeParity(o.model, net, imp, o.seed);
      return runtime;
    });
  } catch (e) {
    if (e instanceof UnsupportedOpError) throw new UsageError((e as Error).message);
    if (e instanceof ImportParityError) throw e;
    throw new UsageError(`--model ${o.model}: ${(e as Error).message}`);
  }
  const imp = v.imported;
  const meta = v.meta;
  const consts = Object.entries(imp.constInputs);
  if (imp.preset) o.log(`import: recognised ${imp.preset} (--input-const / --output-node override it)`);
  if (consts.length || imp.outputNode) {
    o.log(`import: constant inputs ${consts.map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}; output ${imp.outputNode ?? '(the only one)'}`);
  }
  o.log(
    `import: ${imp.format} ${o.model}: ${imp.graph.nodes.length} ops, ${meta.params} params; input ${imp.inputSize[1]}x${imp.inputSize[0]}, ` +
      `range ${imp.inputRange}${o.inputRange ? '' : ' (default; --input-range to change)'}, output ${imp.output}${o.output ? '' : imp.preset ? ' (from the preset)' : ' (from the last op)'}` +
      `${o.maskFilter ? `, mask filter on (frames ${meta.frameSize[1]}x${meta.frameSize[0]})` : ''}` +
      `${o.widen && o.widen !== 1 ? `, widened ${o.widen}x keeping its function (${meta.params} params)` : ''}`,
  );
  const lines = v.lines.filter((l) => l !== '');
  return { meta, parity: v.parity, runtime: runtime as RuntimeParity | null, describe: lines.join('\n'), format: v.format, out: o.out };
}

interface RuntimeParity {
  /** null: no TFLite runtime here (not checked). */
  ok: boolean | null;
  maxAbsProb: number | null;
  line: string;
}

/**
 * The same seeded frames through a real TFLite runtime (LiteRT.js, src/export/tflite-runtime.ts,
 * an optional dependency): max |P(person) diff| against the reloaded import.
 */
async function runtimeParity(file: string, net: tf.LayersModel, imp: import('../../models/import').Imported, seed: number): Promise<RuntimeParity> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rt = require('../../export/tflite-runtime') as typeof import('../../export/tflite-runtime');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { toRange, outputToProbability, seededFrames } = require('../../models/import') as typeof import('../../models/import');
  const why = await rt.tfliteRuntimeUnavailable();
  if (why) return { ok: null, maxAbsProb: null, line: `parity import vs a TFLite runtime: not checked (${why})` };
  const bytes = new Uint8Array(fs.readFileSync(file));
  const [h, w] = imp.inputSize;
  const shape: [number, number, number, number] = [2, h, w, 3];
  const x = seededFrames(shape, seed);
  try {
    let worst = 0;
    for (let b = 0; b < shape[0]; b++) {
      const row = x.slice([b, 0, 0, 0], [1, h, w, 3]);
      const input = tf.tidy(() => toRange(row, imp.inputRange));
      const [out] = await rt.runTflite(bytes, [{ data: input.dataSync() as Float32Array, shape: [1, h, w, 3] }]);
      const d = tf.tidy(() => {
        const theirs = outputToProbability(tf.tensor(out.data, out.shape), imp);
        const ours = (net.predict(row) as tf.Tensor).sigmoid();
        return ours.sub(theirs).abs().max().dataSync()[0];
      });
      worst = Math.max(worst, d);
      tf.dispose([row, input]);
    }
    const ok = worst <= 1e-4;
    return { ok, maxAbsProb: worst, line: `parity import vs the TFLite file in LiteRT.js (TFLite's interpreter) on seeded inputs ${shape.join('x')}: max |P(person) diff| ${worst.toExponential(2)} (tolerance 0.0001) ${ok ? 'OK' : 'FAILED'}` };
  } finally {
    x.dispose();
  }
}

/** --input-const NAME=VALUE (repeatable) -> { NAME: VALUE }. */
export function inputConstsArg(v: string[] | string | undefined): Record<string, number> | null {
  if (v === undefined) return null;
  const out: Record<string, number> = {};
  for (const item of Array.isArray(v) ? v : [v]) {
    const m = /^([^=\s]+)=(.+)$/.exec(String(item));
    const num = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(num)) throw new UsageError(`--input-const ${item}: expected NAME=NUMBER, e.g. --input-const downsample_ratio=1`);
    out[m[1]] = num;
  }
  return out;
}

function widenArg(v: number | undefined): number {
  if (v === undefined) return 1;
  if (!Number.isFinite(v) || v < 1 || v > 8) throw new UsageError(`--widen ${v}: expected a number from 1 to 8, e.g. --widen 2`);
  return v;
}

export const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import',
  describe: 'turn a published segmenter (.tflite, TensorFlow.js graph model) into a trainable portraitseg model, with a parity check',
  builder: (y) =>
    withConfigOptions(y)
      .option('model', { type: 'string', describe: '.tflite file, or a TensorFlow.js graph model.json (or its folder)' })
      .option('out', { type: 'string', describe: 'new model folder to write (model.json, weights.bin, portraitseg.json)' })
      .option('input-size', { type: 'string', describe: 'WIDTHxHEIGHT the net runs at (default: the file\'s input shape)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'value range the net expects (default 0..1; files do not record it)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits', 'clip01'], describe: 'what the output means (default: from the last op: sigmoid, softmax, or a clip to 0..1 = a probability)' })
      .option('input-const', { type: 'string', array: true, describe: 'graph models with several inputs: NAME=VALUE for each input but the image (repeatable; known models have defaults)' })
      .option('output-node', { type: 'string', describe: 'graph models with several outputs: the one to keep (a signature output such as pha, or a tensor name)' })
      .option('mask-filter', { type: 'boolean', default: false, describe: 'add the deep guided filter on top (refines at 2x the net\'s size; starts untrained)' })
      .option('widen', { type: 'number', default: 1, describe: 'make the net this many times wider, computing the same function (Net2Net; checked by the parity check), as the start of a larger teacher' })
      .example('$0 import --model node_modules/@mediapipe/selfie_segmentation/selfie_segmentation.tflite --out runs/selfie', '')
      .example('$0 import --model selfie-tfjs/selfie.json --out runs/selfie-tfjs --input-range 0..1 --output sigmoid', '')
      .example('$0 import --model ../shared/models/rvm-tfjs/rvm.json --out runs/rvm512 --input-size 512x512', 'RVM (GPL-3.0, experiments only): recognised; zero recurrent states, alpha before its refiner') as never,
  handler: async (argv) => {
    if (!argv.model) throw new UsageError('--model is required, e.g. --model node_modules/@mediapipe/selfie_segmentation/selfie_segmentation.tflite');
    if (!argv.out) throw new UsageError('--out is required, e.g. --out runs/selfie');
    const cfg = configFromArgs(argv);
    const log = (l: string) => process.stderr.write(`${l}\n`);
    await selectBackend(cfg.backend, log);
    const t0 = Date.now();
    const r = await runImport({
      model: argv.model,
      out: argv.out,
      inputSize: argv['input-size'] !== undefined ? parseWxH('--input-size', argv['input-size']) : null,
      inputRange: (argv['input-range'] as InputRange | undefined) ?? null,
      output: (argv.output as OutputKind | undefined) ?? null,
      maskFilter: !!argv['mask-filter'],
      widen: widenArg(argv.widen),
      constInputs: inputConstsArg(argv['input-const']),
      outputNode: argv['output-node'] ?? null,
      seed: cfg.seed,
      log,
    });
    process.stdout.write(`imported ${r.meta.name} (${r.meta.params} params) from ${r.format} to ${path.resolve(r.out)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${r.describe}\n`);
  },
};
