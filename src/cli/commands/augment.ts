/**
 * `portraitseg augment preview`: a PNG grid of (original | augmented) pairs with mask
 * outlines, using the training pipeline from the config (augment.train).
 * `portraitseg augment list`: the transforms and their parameters.
 */
import * as fs from 'fs';
import type { Argv, CommandModule } from 'yargs';
import { buildPipeline, describeTransforms } from '../../augment';
import { previewInputs, writeAugmentPreview } from '../../augment/preview';
import type { Sample } from '../../data/types';
import { DataError } from '../../data/errors';
import { makeRng } from '../../util/rng';
import type { Config, TransformSpec } from '../../config/config';
import type { RgbImage } from '../../util/image';
import { CommonArgs, configFromArgs, parseWxH, UsageError, withConfigOptions } from '../common';
import { ARTEFACTS, checkOut, OverwriteArgs, withOverwrite } from '../out-paths';
import { datasetInputs } from '../../data/dataset';

interface PreviewArgs extends CommonArgs, OverwriteArgs {
  data?: string;
  backgrounds?: string;
  out: string;
  count: number;
  size?: string;
}

/** "WxH" -> [height, width] (the config's data.frameSize order). */
export function parseSize(raw: string, flag = '--size'): [number, number] {
  return parseWxH(flag, raw, { min: 8, max: 4096, example: '128x128' });
}

/** --data/--backgrounds/--size mapped onto the config, then the pipeline validated before any data is read. */
function augmentConfig(args: CommonArgs & { data?: string; backgrounds?: string; size?: string }): Config {
  const cfg = configFromArgs(args, {
    'data.path': args.data,
    'data.backgrounds': args.backgrounds,
    'data.frameSize': args.size !== undefined ? parseSize(args.size) : undefined,
  });
  // errors name augment.train[i].<param>
  buildPipeline(cfg.augment.train, { backgrounds: [] });
  return cfg;
}

/** previewInputs with a dataset none of whose picks loads as a usage error naming --data. */
async function loadInputs(cfg: Config, count: number): Promise<{ backgrounds: RgbImage[]; samples: Sample[] }> {
  return previewInputs(cfg, count, (l) => process.stderr.write(`${l}\n`)).catch((e) => {
    throw e instanceof DataError ? new UsageError(`--data ${e.message}`) : e;
  });
}

const previewCommand: CommandModule<object, PreviewArgs> = {
  command: 'preview',
  describe: 'write a PNG grid of augmented samples (original | augmented, mask outlines in green)',
  builder: (y: Argv) =>
    withOverwrite(withConfigOptions(y), 'PNG')
      .option('data', { type: 'string', describe: 'dataset folder, list file or datasets/*.json (config: data.path); default: a synthetic set' })
      .option('backgrounds', { type: 'string', describe: 'folder of background photos for backgroundSwap (config: data.backgrounds); default: procedural' })
      .option('out', { type: 'string', demandOption: true, describe: 'output PNG (outside --data and --backgrounds)' })
      .option('count', { type: 'number', default: 12, describe: 'number of samples in the grid' })
      .option('size', { type: 'string', describe: 'frame size WxH (config: data.frameSize, default 128x128)' })
      .example('$0 augment preview --data ../shared/datasets/picsart-selfies --backgrounds ../shared/datasets/backgrounds --out grid.png', '')
      .check((a) => {
        if (!Number.isInteger(a.count) || (a.count as number) < 1 || (a.count as number) > 256) throw new UsageError(`--count: expected an integer 1..256, got ${a.count}`);
        if (!/\.png$/i.test(String(a.out))) throw new UsageError(`--out: the preview is a PNG, give a file name ending in .png (got "${a.out}")`);
        return true;
      }) as unknown as Argv<PreviewArgs>,
  handler: async (args) => {
    const cfg = augmentConfig(args);
    for (const [flag, p] of [['--data', cfg.data.path], ['--backgrounds', cfg.data.backgrounds]] as const) {
      if (p && !fs.existsSync(p)) throw new UsageError(`${flag}: ${p} not found`);
    }
    const inputs = [...datasetInputs('--data', cfg.data.path), ...(cfg.data.backgrounds ? [{ flag: '--backgrounds', path: cfg.data.backgrounds }] : [])];
    const out = checkOut({ flag: '--out', path: args.out, artefact: ARTEFACTS.png, overwrite: args.overwrite, inputs });
    const r = await writeAugmentPreview(cfg, out.target, args.count, (l) => process.stderr.write(`${l}\n`)).catch((e) => {
      throw e instanceof DataError ? new UsageError(`--data ${e.message}`) : e;
    });
    process.stderr.write(
      `augment preview: ${r.samples} samples at ${cfg.data.frameSize[1]}x${cfg.data.frameSize[0]}, ${r.backgrounds} background photos` +
        ` (load ${r.loadMs} ms, augment+render ${r.renderMs} ms)\n`,
    );
    process.stdout.write(`${args.out}\n`);
  },
};

interface BenchArgs extends CommonArgs {
  data?: string;
  backgrounds?: string;
  size?: string;
  count: number;
}

/**
 * Single-thread throughput of the training pipeline and of each step alone (at p = 1), on
 * `count` augmentations of 16 frames; decoding is not timed (see `bench data` for that).
 */
const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'augmentation throughput (img/s on one core), whole pipeline and per transform',
  builder: (y: Argv) =>
    withConfigOptions(y)
      .option('data', { type: 'string', describe: 'dataset (config: data.path); default: synthetic frames' })
      .option('backgrounds', { type: 'string', describe: 'background photos (config: data.backgrounds)' })
      .option('size', { type: 'string', describe: 'frame size WxH (config: data.frameSize)' })
      .option('count', { type: 'number', default: 400, describe: 'augmentations timed per row' }) as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    const cfg = augmentConfig(args);
    if (!Number.isInteger(args.count) || args.count < 1) throw new UsageError(`--count: expected a positive integer, got ${args.count}`);
    const { backgrounds, samples: frames } = await loadInputs(cfg, 16);
    const rows: [string, TransformSpec[]][] = [['pipeline (config augment.train)', cfg.augment.train]];
    for (const spec of cfg.augment.train) rows.push([`  ${spec.name} (p = 1)`, [{ ...spec, p: 1 }]]);
    const [h, w] = cfg.data.frameSize;
    process.stdout.write(`augmentation throughput at ${w}x${h}, one thread, ${args.count} samples per row, ${backgrounds.length} background photos\n`);
    for (const [label, specs] of rows) {
      const aug = buildPipeline(specs, { backgrounds });
      const rng = makeRng(cfg.seed).fork('bench');
      const warm = Math.min(50, args.count);
      for (let i = 0; i < warm; i++) aug(frames[i % frames.length], rng.fork(`w${i}`));
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < args.count; i++) aug(frames[i % frames.length], rng.fork(i));
      const cpu = process.cpuUsage(c0);
      const ms = (performance.now() - t0) / args.count;
      // CPU time is the fairer number on a shared machine (wall time includes waiting for a core)
      const cpuMs = (cpu.user + cpu.system) / 1000 / args.count;
      process.stdout.write(
        `${label.padEnd(36)} ${(1000 / ms).toFixed(0).padStart(6)} img/s wall  ${(1000 / cpuMs).toFixed(0).padStart(6)} img/s per CPU-second  ${cpuMs.toFixed(2).padStart(6)} CPU-ms/img\n`,
      );
    }
  },
};

const listCommand: CommandModule<object, object> = {
  command: 'list',
  describe: 'list the augmentation transforms and their parameters',
  handler: () => {
    process.stdout.write(`${describeTransforms()}\n`);
  },
};

export const augmentCommand: CommandModule = {
  command: 'augment <what>',
  describe: 'augmentation: preview the training pipeline, measure its speed, list transforms',
  builder: (y) => y.command(previewCommand).command(benchCommand).command(listCommand).demandCommand(1),
  handler: () => {},
};
