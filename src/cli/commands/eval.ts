/** `portraitseg eval`: a thin wrapper over src/eval/run.ts. */
import type { Argv, CommandModule } from 'yargs';
import { configFromArgs, CommonArgs, parseWxH, withConfigOptions } from '../common';
import { ARTEFACTS, checkOut, OverwriteArgs, withOverwrite } from '../out-paths';
import { datasetInputs } from '../../data/dataset';
import { modelInputs } from '../../models/folders';
import { writeOutputDir } from '../../util/out-paths';

interface EvalArgs extends CommonArgs, OverwriteArgs {
  model?: string[];
  flip?: boolean;
  data?: string;
  split?: 'all' | 'val' | 'train';
  report?: string;
  overlays?: string;
  max?: number;
  threshold?: number;
  stability?: boolean;
  'input-size'?: string;
  'input-range'?: string;
  output?: string;
}


export const evalCommand: CommandModule<CommonArgs, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate a model on a labeled set (mIoU, boundary F, MAE, ms per image)',
  builder: (y) =>
    withOverwrite(withConfigOptions(y as Argv<CommonArgs>), 'eval report (--report) or overlays folder (--overlays)')
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'run folder (best, else last), checkpoint folder, or model.json (ours, or an external TensorFlow.js model with --input-size/--input-range/--output); repeat for an ensemble (mean P(person)); per model: PATH,inputSize=WxH,inputRange=0..1,output=sigmoid' })
      .option('flip', { type: 'boolean', default: false, describe: 'horizontal-flip test-time augmentation: mean P(person) of the frame and its mirror' })
      .option('data', { type: 'string', demandOption: true, describe: 'labeled data: folder, list file, datasets/*.json or a known name' })
      .option('split', { type: 'string', choices: ['all', 'val', 'train'], default: 'all', describe: "which part of --data: 'val' = the seeded data.valFraction split a run made (seed and fraction from the run's config.json when --model is a run folder)" })
      .option('report', { type: 'string', describe: 'write the report as JSON, outside --data and the model folder (miou, personIou, backgroundIou, boundaryF, mae, msPerImage, count, worst, model)' })
      .option('overlays', { type: 'string', describe: 'write image | mask | prediction PNGs into this folder' })
      .option('max', { type: 'number', describe: 'evaluate at most N images (config key: data.maxSamples)' })
      .option('threshold', { type: 'number', describe: 'probability threshold (config key: eval.threshold)' })
      .option('stability', { type: 'boolean', default: false, describe: 'also measure shift stability (eval.stabilityShift px; two more predictions per image)' })
      .option('input-size', { type: 'string', describe: 'external model: input size WxH (config key: external.inputSize)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'external model: input value range (config key: external.inputRange)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits'], describe: 'external model: output meaning (config key: external.output)' })
      .example('$0 eval --model runs/teacher --data ../shared/datasets/picsart-selfies --split val --report runs/teacher/eval.json', '')
      .example('$0 eval --model runs/selfie --model runs/selfie-landscape --flip --data ../shared/datasets/eg1800-val', '')
      .example('$0 eval --model selfie/model.json --input-size 256x256 --input-range 0..1 --output sigmoid --data DIR', '') as unknown as Argv<EvalArgs>,
  handler: async (a) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runEval, formatReport } = require('../../eval/run') as typeof import('../../eval/run');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseModelOptions, hasInputOptions } = require('../../eval/tta') as typeof import('../../eval/tta');
    const models = (a.model ?? []).map((m) => parseModelOptions('--model', m));
    // outputs: checked before any work, never inside --data or a --model folder
    const inputs = [...datasetInputs('--data', a.data), ...models.flatMap((m) => modelInputs('--model', m.path))];
    const report = a.report !== undefined ? checkOut({ flag: '--report', path: a.report, artefact: ARTEFACTS.evalReport, overwrite: a.overwrite, inputs }) : null;
    const overlays = a.overlays !== undefined ? checkOut({ flag: '--overlays', path: a.overlays, artefact: ARTEFACTS.overlays, overwrite: a.overwrite, inputs }) : null;
    const first = models[0];
    const external = a['input-size'] !== undefined || a['input-range'] !== undefined || a.output !== undefined || hasInputOptions(first);
    const cfg = configFromArgs(a, {
      'data.maxSamples': a.max,
      'eval.threshold': a.threshold,
      'external.inputSize': first.inputSize ?? (a['input-size'] !== undefined ? parseWxH('--input-size', a['input-size']) : undefined),
      'external.inputRange': first.inputRange ?? a['input-range'],
      'external.output': first.output ?? a.output,
    });
    const log = (l: string) => process.stderr.write(l + '\n');
    // packaged names (mediapipe:selfie) and .tflite files: imported once with the parity check, cached
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { needsImport } = require('../../models/import/packaged') as typeof import('../../models/import/packaged');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ensureImportedChecked } = require('../../export/import-check') as typeof import('../../export/import-check');
    if (models.some((m) => needsImport(m.path))) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      await (require('../../backend') as typeof import('../../backend')).selectBackend(cfg.backend, log);
      for (const m of models) m.path = await ensureImportedChecked(m.path, { key: '--model', seed: cfg.seed, log });
    }
    const run = (overlaysDir: string | null) =>
      runEval({ config: cfg, model: first.path, models: models.slice(1), flip: !!a.flip, data: a.data!, split: a.split ?? 'all', external, reportFile: report ? report.target : null, overlaysDir, stability: !!a.stability, log: (l) => log(overlaysDir ? l.replace(overlaysDir, a.overlays!) : l) });
    // the overlays folder is written whole (temp folder beside it, renamed): never old and new PNGs mixed
    const result = overlays ? await writeOutputDir(overlays.target, (tmp) => run(tmp), { replace: overlays.replaces, flag: '--overlays' }) : await run(null);
    process.stdout.write(formatReport(result));
  },
};
