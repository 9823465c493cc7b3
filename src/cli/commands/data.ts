/**
 * `portraitseg data inspect`: counts, sizes, person coverage, bad files and a contact sheet.
 * `portraitseg data synth`: writes a procedural portrait dataset (images/ + masks/).
 */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { ARTEFACTS, checkOut, OverwriteArgs, withOverwrite } from '../out-paths';
import { DataError } from '../../data/errors';
import { datasetInputs } from '../../data/dataset';
import { formatReport, inspectDataset } from '../../data/inspect';
import { writeSynthDataset } from '../../data/synth';
import { writeFileAtomic } from '../../util/fs';
import { SYNTH_MANIFEST, writeOutputDir } from '../../util/out-paths';


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

interface InspectArgs extends CommonArgs, OverwriteArgs {
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
    withOverwrite(withConfigOptions(y as Argv<CommonArgs>), 'inspect report folder (report.json + contact-sheet.png)')
      .option('data', { type: 'string', describe: 'folder, list file, datasets/*.json or a known name like picsart (config key: data.path)' })
      .option('out', { type: 'string', describe: 'output folder for report.json and contact-sheet.png, outside the dataset (default runs/inspect-<name>)' })
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
    const inputs = datasetInputs('--data', cfg.data.path);
    const { target, replaces } = checkOut({ flag: '--out', path: out, artefact: ARTEFACTS.inspect, overwrite: args.overwrite, inputs });
    const sheet = args.sheet !== undefined ? checkOut({ flag: '--sheet', path: args.sheet, artefact: ARTEFACTS.png, overwrite: args.overwrite, inputs }).target : undefined;
    // report.json (and the sheet, unless --sheet puts it elsewhere) are written whole, as one folder
    const report = await writeOutputDir(
      target,
      (tmp) =>
        inspectDataset(cfg.data.path!, {
          out,
          writeTo: tmp,
          strict: cfg.data.strict,
          decode: args.decode,
          sheetCount: args.count,
          sheet,
          log: (l) => process.stderr.write(`${l}\n`),
          progress: progressLine('checking'),
        }).catch(rethrowData),
      { replace: replaces, flag: '--out' },
    );
    process.stdout.write(`${formatReport(report)}\n`);
  },
};

interface SynthArgs extends CommonArgs, OverwriteArgs {
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
    withOverwrite(withConfigOptions(y as Argv<CommonArgs>), `synthetic dataset (a folder with ${SYNTH_MANIFEST} written by data synth)`)
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (new or empty; written whole: images/, masks/, unlabeled/, synth.json)' })
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
    const bg = cfg.data.backgrounds ? [{ flag: '--backgrounds', path: cfg.data.backgrounds }] : [];
    const { target, replaces } = checkOut({ flag: '--out', path: args.out, artefact: ARTEFACTS.synth, overwrite: args.overwrite, inputs: bg });
    const t0 = Date.now();
    let info;
    try {
      // written into a temp folder and renamed as one: an earlier dataset's files (and their hard
      // links in label folders) are never rewritten in place
      info = await writeOutputDir(
        target,
        async (tmp) => {
          const r = await writeSynthDataset(tmp, {
            count: args.count,
            seed: cfg.seed,
            width,
            height,
            backgrounds: cfg.data.backgrounds,
            unlabeled: args.unlabeled,
            progress: progressLine('synth'),
          });
          writeFileAtomic(
            path.join(tmp, SYNTH_MANIFEST),
            JSON.stringify({ kind: 'portraitseg-synth', count: r.count, unlabeled: r.unlabeled, size: [width, height], seed: cfg.seed, backgrounds: cfg.data.backgrounds ?? null, meanCoverage: r.meanCoverage, date: new Date().toISOString() }, null, 2) + '\n',
          );
          return r;
        },
        { replace: replaces, flag: '--out' },
      );
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
