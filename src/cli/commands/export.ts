/** `portraitseg export`: write a model as TensorFlow.js, ONNX or TFLite, then check it against the original. */
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, UsageError, withConfigOptions } from '../common';
import { ARTEFACTS, checkOut, OverwriteArgs, withOverwrite } from '../out-paths';
import { selectBackend } from '../../backend';
import { ensureImportedChecked } from '../../export/import-check';
import { loadModel } from '../../models/io';
import { modelInputs } from '../../models/folders';
import { describeParity, exportModel } from '../../export';

interface ExportArgs extends CommonArgs, OverwriteArgs {
  model?: string;
  format?: string;
  quantize?: string;
  out?: string;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'export a model for the browser (tfjs) or mobile (onnx, tflite), with a reload parity check',
  builder: (y) =>
    withOverwrite(withConfigOptions(y), 'export folder (one with portraitseg.json written by export), replaced whole')
      .option('model', { type: 'string', describe: 'run folder (best/, else last/), checkpoint folder or model.json' })
      .option('format', { type: 'string', choices: ['tfjs', 'onnx', 'tflite'], describe: 'output format (config key: export.format)' })
      .option('quantize', { type: 'string', choices: ['none', 'float16', 'uint8'], describe: 'weight quantisation: tfjs none|float16|uint8, tflite none|float16 (config key: export.quantize)' })
      .option('out', { type: 'string', describe: 'output folder (new or empty; written whole, never inside the model)' })
      .example('$0 export --model runs/student --format tfjs --quantize float16 --out exported/student', '')
      .example('$0 export --model runs/student --format onnx --out exported/student-onnx', '')
      .example('$0 export --model runs/student --format tflite --quantize float16 --out exported/student-tflite', '') as never,
  handler: async (argv) => {
    if (!argv.model) throw new UsageError('--model is required, e.g. --model runs/student (a run folder, checkpoint folder or model.json)');
    if (!argv.out) throw new UsageError('--out is required, e.g. --out exported/student');
    const cfg = configFromArgs(argv, { 'export.format': argv.format, 'export.quantize': argv.quantize });
    const { format, quantize, tolerance } = cfg.export;
    if (format === 'onnx' && quantize !== 'none') throw new UsageError(`--quantize ${quantize} applies to --format tfjs only (the ONNX export is float32)`);
    if (format === 'tflite' && quantize === 'uint8') throw new UsageError('--quantize uint8 is not available for --format tflite (use none or float16)');
    const out = checkOut({ flag: '--out', path: argv.out, artefact: ARTEFACTS.export, overwrite: argv.overwrite, inputs: modelInputs('--model', argv.model) });
    await selectBackend(cfg.backend, (l) => process.stderr.write(`${l}\n`));
    // packaged names (mediapipe:selfie) and .tflite files: imported once with the parity check, cached
    const spec = await ensureImportedChecked(argv.model, { key: '--model', seed: cfg.seed, log: (l) => process.stderr.write(`${l}\n`) });
    let loaded;
    try {
      loaded = await loadModel(spec);
    } catch (e) {
      throw new UsageError(`--model ${argv.model}: ${(e as Error).message}`);
    }
    const t0 = Date.now();
    const res = await exportModel(loaded.model, loaded.meta, { format, quantize, out: out.target, overwrite: out.replaces, tolerance, seed: cfg.seed });
    process.stdout.write(`exported ${loaded.meta.name} (${loaded.meta.params} params) as ${format} to ${path.resolve(res.dir)}: ${res.files.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${describeParity(res.parity)}\n`);
    if (res.parity.unchecked) process.stderr.write(`warning: the ${format} export was written but not verified: ${res.parity.unchecked}\n`);
    loaded.model.dispose();
  },
};
