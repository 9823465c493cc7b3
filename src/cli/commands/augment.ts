/**
 * `portraitseg augment preview`: a PNG grid of (original | augmented) pairs with mask
 * outlines, using the training pipeline from the config (augment.train).
 * `portraitseg augment list`: the transforms and their parameters.
 */
import * as fs from 'fs';
import type { Argv, CommandModule } from 'yargs';
import { buildPipeline, describeTransforms, loadBackgrounds, renderPreview } from '../../augment';
import type { Sample } from '../../data/types';
import { openDataset } from '../../data/dataset';
import { loadSample } from '../../data/sample';
import { synthSample } from '../../data/synth';
import { makeRng } from '../../util/rng';
import { writePng } from '../../util/image';
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

/** Loads `count` samples chosen by seed from a dataset, resized to the frame size. */
async function loadSomeSamples(dataPath: string, count: number, frameSize: [number, number], maskMode: 'binary' | 'soft', seed: number): Promise<Sample[]> {
  const ds = await openDataset(dataPath, { log: (l) => process.stderr.write(`${l}\n`) });
  const refs = makeRng(seed).fork('preview-pick').shuffle([...ds.refs]);
  const out: Sample[] = [];
  for (const ref of refs) {
    if (out.length >= count) break;
    try {
      out.push(await loadSample(ref, { frameSize, maskMode }));
    } catch (e) {
      process.stderr.write(`skipping ${ref.imagePath}: ${(e as Error).message.split('\n')[0]}\n`);
    }
  }
  if (out.length === 0) throw new UsageError(`--data ${dataPath}: no sample could be loaded`);
  return out;
}

/** Synthetic samples (src/data/synth) for when --data is not given. */
function synthSamples(count: number, frameSize: [number, number], seed: number): Sample[] {
  const rng = makeRng(seed).fork('preview-synth');
  const [h, w] = frameSize;
  return Array.from({ length: count }, (_, i) => synthSample(rng.fork(i), w, h, `synth-${i}`));
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

/** Background photos and `count` frames (from cfg.data.path, else synthetic) at cfg.data.frameSize. */
async function loadInputs(cfg: Config, count: number): Promise<{ backgrounds: RgbImage[]; samples: Sample[] }> {
  const backgrounds = cfg.data.backgrounds ? await loadBackgrounds(cfg.data.backgrounds, 512) : [];
  const samples = cfg.data.path
    ? await loadSomeSamples(cfg.data.path, count, cfg.data.frameSize, cfg.data.maskMode, cfg.seed)
    : synthSamples(count, cfg.data.frameSize, cfg.seed);
  return { backgrounds, samples };
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
    const t0 = Date.now();
    const { backgrounds, samples } = await loadInputs(cfg, args.count);
    const t1 = Date.now();
    const pipeline = buildPipeline(cfg.augment.train, { backgrounds });
    const grid = renderPreview(samples, { transform: pipeline, rng: makeRng(cfg.seed).fork('preview') });
    const t2 = Date.now();
    await writePng(out.target, grid.data, grid.width, grid.height, 3);
    process.stderr.write(
      `augment preview: ${samples.length} samples at ${cfg.data.frameSize[1]}x${cfg.data.frameSize[0]}, ${backgrounds.length} background photos` +
        ` (load ${t1 - t0} ms, augment+render ${t2 - t1} ms)\n`,
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
