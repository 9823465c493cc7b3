/**
 * `portraitseg data inspect`: counts, sizes, person coverage, bad files and a contact sheet.
 * `portraitseg data synth`: writes a procedural portrait dataset (images/ + masks/).
 */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { checkOutFile, checkOutFolder } from '../out-paths';
import { DataError } from '../../data/errors';
import { formatReport, inspectDataset } from '../../data/inspect';
import { writeSynthDataset } from '../../data/synth';


/** A one-line progress reporter on stderr (items/s and ETA). */
export function progressLine(what: string): (done: number, total: number) => void {
  const t0 = Date.now();
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 500) return;
    last = now;
    const s = (now - t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    process.stderr.write(`\r${what} ${done}/${total}  ${rate.toFixed(1)}/s  ETA ${eta.toFixed(0)}s   ${done === total ? '\n' : ''}`);
  };
}

function rethrowData(e: unknown): never {
  // a dataset path or description the user gave that cannot be used is a usage error
  if (e instanceof DataError) throw new UsageError(e.message);
  throw e;
}

interface InspectArgs extends CommonArgs {
  data?: string;
  out?: string;
  strict?: boolean;
  decode: 'none' | 'header' | 'full';
  count: number;
  sheet?: string;
}

const inspect: CommandModule<CommonArgs, InspectArgs> = {
  command: 'inspect',
  describe: 'counts, sizes, person coverage, bad files and a PNG contact sheet of a dataset',
  builder: (y) =>
    withConfigOptions(y as Argv<CommonArgs>)
      .option('data', { type: 'string', describe: 'folder, list file, datasets/*.json or a known name like picsart (config key: data.path)' })
      .option('out', { type: 'string', describe: 'output folder (default runs/inspect-<name>)' })
      .option('strict', { type: 'boolean', describe: 'fail at the first bad file instead of skipping it (config key: data.strict)' })
      .option('decode', { choices: ['none', 'header', 'full'] as const, default: 'full' as const, describe: 'full: decode every image (finds truncated files); header: sizes from headers, masks decoded; none: pairing only' })
      .option('count', { type: 'number', default: 48, describe: 'images on the contact sheet' })
      .option('sheet', { type: 'string', describe: 'write the contact sheet to this PNG file (default OUT/contact-sheet.png)' })
      .example('$0 data inspect --data ../shared/datasets/picsart-selfies', '')
      .example('$0 data inspect --data ../shared/datasets/picsart-selfies --sheet runs/picsart-sheet.png', '')
      .check((a) => {
        if (a.sheet !== undefined && !/\.png$/i.test(String(a.sheet))) throw new UsageError(`--sheet: the contact sheet is a PNG, give a file name ending in .png (got "${a.sheet}")`);
        return true;
      }) as unknown as Argv<InspectArgs>,
  handler: async (args) => {
    const cfg = configFromArgs(args, { 'data.path': args.data, 'data.strict': args.strict });
    if (!cfg.data.path) throw new UsageError('data inspect: give --data DIR (or data.path in --config)');
    const name = path.basename(cfg.data.path).replace(/\.(json|txt)$/i, '');
    const out = args.out ?? path.join('runs', `inspect-${name}`);
    checkOutFolder('--out', out);
    if (args.sheet !== undefined) checkOutFile('--sheet', args.sheet);
    const report = await inspectDataset(cfg.data.path, {
      out,
      strict: cfg.data.strict,
      decode: args.decode,
      sheetCount: args.count,
      sheet: args.sheet,
      log: (l) => process.stderr.write(`${l}\n`),
      progress: progressLine('checking'),
    }).catch(rethrowData);
    process.stdout.write(`${formatReport(report)}\n`);
  },
};

interface SynthArgs extends CommonArgs {
  out: string;
  count: number;
  size: string;
  backgrounds?: string;
  unlabeled: number;
}

const synth: CommandModule<CommonArgs, SynthArgs> = {
  command: 'synth',
  describe: 'write a procedural portrait dataset: images/NNNN.jpg + masks/NNNN.png',
  builder: (y) =>
    withConfigOptions(y as Argv<CommonArgs>)
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('count', { type: 'number', default: 200, describe: 'labeled samples' })
      .option('size', { type: 'string', default: '256x256', describe: 'WIDTHxHEIGHT' })
      .option('backgrounds', { type: 'string', describe: 'folder of background photos (default: procedural backgrounds; config key: data.backgrounds)' })
      .option('unlabeled', { type: 'number', default: 0, describe: 'also write N unlabeled images under unlabeled/images/' })
      .example('$0 data synth --out data/synth --count 500 --seed 1 --size 256x256', '') as unknown as Argv<SynthArgs>,
  handler: async (args) => {
    const cfg = configFromArgs(args, { 'data.backgrounds': args.backgrounds });
    if (!Number.isInteger(args.count) || args.count < 1) throw new UsageError(`--count: expected a positive integer, got ${args.count}`);
    if (!Number.isInteger(args.unlabeled) || args.unlabeled < 0) throw new UsageError(`--unlabeled: expected an integer >= 0, got ${args.unlabeled}`);
    const [height, width] = parseWxH('--size', args.size, { min: 16, max: 4096 });
    checkOutFolder('--out', args.out);
    const t0 = Date.now();
    let info;
    try {
      info = await writeSynthDataset(args.out, {
        count: args.count,
        seed: cfg.seed,
        width,
        height,
        backgrounds: cfg.data.backgrounds,
        unlabeled: args.unlabeled,
        progress: progressLine('synth'),
      });
    } catch (e) {
      if (/backgrounds folder not found|no background photos/.test((e as Error).message)) throw new UsageError(`--backgrounds: ${(e as Error).message}`);
      throw e;
    }
    const s = (Date.now() - t0) / 1000;
    process.stdout.write(
      `wrote ${info.count} samples${info.unlabeled ? ` and ${info.unlabeled} unlabeled images` : ''} (${width}x${height}, seed ${cfg.seed}) to ${args.out} in ${s.toFixed(1)}s; mean person coverage ${(info.meanCoverage * 100).toFixed(1)}%\n`,
    );
  },
};

export const dataCommand: CommandModule = {
  command: 'data <action>',
  describe: 'inspect or synthesize datasets',
  builder: (y) => y.command(inspect as unknown as CommandModule).command(synth as unknown as CommandModule).demandCommand(1),
  handler: () => {},
};
