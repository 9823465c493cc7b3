/** `portraitseg label`: a thin wrapper over src/distill/label.ts. */
import type { Argv, CommandModule } from 'yargs';
import { configFromArgs, CommonArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { selectBackend } from '../../backend';
import { OverwriteArgs, withOverwrite } from '../out-paths';

interface LabelArgs extends CommonArgs, OverwriteArgs {
  teacher?: string[];
  flip?: boolean;
  data?: string;
  unlabeled?: string[];
  out?: string;
  copy?: boolean;
  'input-size'?: string;
  'input-range'?: string;
  output?: string;
}

export const labelCommand: CommandModule<CommonArgs, LabelArgs> = {
  command: 'label',
  describe: "label photos once with a teacher (or an ensemble, with flip): writes its soft masks as a dataset (images/ + masks/ + label.json)",
  builder: (y) =>
    withOverwrite(withConfigOptions(y as Argv<CommonArgs>), 'label folder (one with label.json written by label), replaced whole')
      .option('teacher', { type: 'string', array: true, demandOption: true, describe: 'run folder, checkpoint, imported model folder or model.json; repeat for an ensemble (mean P(person)); per teacher: PATH,inputSize=WxH,inputRange=0..1,output=sigmoid' })
      .option('flip', { type: 'boolean', default: false, describe: 'horizontal-flip test-time augmentation of the teacher(s)' })
      .option('data', { type: 'string', describe: 'labeled photos (their masks are replaced by the teacher\'s)' })
      .option('unlabeled', { type: 'string', array: true, describe: 'unlabeled photo folder(s)' })
      .option('out', { type: 'string', demandOption: true, describe: 'new dataset folder (new or empty, outside the inputs; written whole)' })
      .option('copy', { type: 'boolean', default: false, describe: 'copy the photos instead of hard-linking them' })
      .option('input-size', { type: 'string', describe: 'external teacher(s) without their own options: input size WxH (config key: external.inputSize)' })
      .option('input-range', { type: 'string', choices: ['0..1', '-1..1', '0..255'], describe: 'external teacher(s): input value range (config key: external.inputRange)' })
      .option('output', { type: 'string', choices: ['sigmoid', 'softmax1', 'logits'], describe: 'external teacher(s): output meaning (config key: external.output)' })
      .example('$0 label --teacher runs/selfie --teacher runs/selfie-landscape --flip --data ../shared/datasets/picsart-selfies --unlabeled ../shared/datasets/picsart-selfies-unlabeled --out runs/labels-selfie', '')
      .example('$0 distill student --data runs/labels-selfie --set data.maskMode=soft --set distill.soft=0 --set distill.boundary=0 --out runs/student-from-labels', '')
      .check((a) => {
        if (!a.data && !(a.unlabeled && a.unlabeled.length)) throw new UsageError('label: give --data DIR and/or --unlabeled DIR (e.g. portraitseg label --teacher runs/selfie --data DIR --out runs/labels)');
        return true;
      }) as unknown as Argv<LabelArgs>,
  handler: async (a) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { labelDataset } = require('../../distill/label') as typeof import('../../distill/label');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseModelOptions } = require('../../eval/tta') as typeof import('../../eval/tta');
    const teachers = (a.teacher ?? []).map((t) => parseModelOptions('--teacher', t));
    const cfg = configFromArgs(a, {
      'external.inputSize': a['input-size'] !== undefined ? parseWxH('--input-size', a['input-size']) : undefined,
      'external.inputRange': a['input-range'],
      'external.output': a.output,
    });
    const external = a['input-size'] !== undefined || a['input-range'] !== undefined || a.output !== undefined;
    // the command-wide external options make every teacher without its own an external one
    const withOpts = teachers.map((t) => (external && t.inputSize === null && t.inputRange === null && t.output === null ? { ...t, inputSize: cfg.external.inputSize, inputRange: cfg.external.inputRange, output: cfg.external.output } : t));
    const log = (l: string) => process.stderr.write(l + '\n');
    await selectBackend(cfg.backend, log);
    const r = await labelDataset({ cfg, teachers: withOpts, flip: !!a.flip, data: a.data ?? null, unlabeled: a.unlabeled ?? [], out: a.out!, overwrite: a.overwrite, link: !a.copy, log });
    process.stdout.write(`labelled ${r.count} photos with ${r.teacher}${r.skipped.length ? ` (${r.skipped.length} unreadable, skipped)` : ''}\ndataset: ${r.out} (images/, masks/, label.json); train on it with --set data.maskMode=soft\n`);
  },
};
