/**
 * `portraitseg import`: a published segmenter (.tflite or a TensorFlow.js graph model) -> a
 * trainable portraitseg model folder, reloaded from disk and compared with the original.
 */
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import { modelInputs } from '../../models/folders';
import { ARTEFACTS, checkOut } from '../out-paths';
import type { InputRange, OutputKind } from '../../models/import';
import { MAX_MODEL_SIDE } from '../../util/size';

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
 * (src/export/import-check.ts: the file's reference, and LiteRT.js for TFLite files where it
 * loads; the net's logits before the mask filter when --mask-filter is on). Throws ParityError on
 * failed parity and leaves nothing at `out` then.
 */
export async function runImport(o: ImportRunOptions) {
  // loaded lazily, like the other commands, so `portraitseg --help` stays fast
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { UnsupportedOpError } = require('../../models/import') as typeof import('../../models/import');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { importVerified } = require('../../models/import/verified') as typeof import('../../models/import/verified');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { checkImport } = require('../../export/import-check') as typeof import('../../export/import-check');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ParityError } = require('../../export/parity') as typeof import('../../export/parity');
  // a packaged name (mediapipe:selfie, mediapipe:selfie-mf) is its package's .tflite file
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { packagedSource } = require('../../models/import/packaged') as typeof import('../../models/import/packaged');
  const src = packagedSource(o.model, '--model');
  const file = src?.file ?? o.model;
  const maskFilter = o.maskFilter || !!src?.importOptions?.maskFilter;
  // the output rule (src/util/out-paths.ts): a new or empty folder, never inside the imported model's folder
  checkOut({ flag: '--out', path: o.out, artefact: ARTEFACTS.imported, inputs: src ? [] : modelInputs('--model', o.model) });
  let v;
  try {
    v = await importVerified(file, o.out, { inputSize: o.inputSize, inputRange: o.inputRange, output: o.output, maskFilter, widen: o.widen ?? 1, seed: o.seed, constInputs: o.constInputs ?? null, outputNode: o.outputNode ?? null }, checkImport);
  } catch (e) {
    if (e instanceof UnsupportedOpError) throw new UsageError((e as Error).message);
    if (e instanceof ParityError) throw e;
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
  // the reference check always; the LiteRT.js check for TFLite files (unchecked where it does not load)
  return { meta, parity: v.checks[0].parity, runtime: v.checks[1]?.parity ?? null, describe: v.lines.join('\n'), format: v.format, out: o.out };
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
      .option('model', { type: 'string', describe: '.tflite file, a packaged name (mediapipe:selfie, mediapipe:selfie-landscape, mediapipe:selfie-mf), or a TensorFlow.js graph model.json (or its folder)' })
      .option('out', { type: 'string', describe: 'new model folder to write (model.json, weights.bin, portraitseg.json)' })
      .option('input-size', { type: 'string', describe: 'WIDTHxHEIGHT the net runs at (default: the file\'s input shape)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'value range the net expects (default 0..1; files do not record it)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits', 'clip01'], describe: 'what the output means (default: from the last op: sigmoid, softmax, or a clip to 0..1 = a probability)' })
      .option('input-const', { type: 'string', array: true, describe: 'graph models with several inputs: NAME=VALUE for each input but the image (repeatable; known models have defaults)' })
      .option('output-node', { type: 'string', describe: 'graph models with several outputs: the one to keep (a signature output such as pha, or a tensor name)' })
      .option('mask-filter', { type: 'boolean', default: false, describe: 'add the deep guided filter on top (refines at 2x the net\'s size; starts untrained)' })
      .option('widen', { type: 'number', default: 1, describe: 'make the net this many times wider, computing the same function (Net2Net; checked by the parity check), as the start of a larger teacher' })
      .example('$0 import --model mediapipe:selfie --out runs/selfie', '')
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
      inputSize: argv['input-size'] !== undefined ? parseWxH('--input-size', argv['input-size'], { max: MAX_MODEL_SIDE }) : null,
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
    if (r.runtime?.unchecked) process.stderr.write(`warning: the import was not checked in a TFLite runtime: ${r.runtime.unchecked}\n`);
  },
};
