/** `portraitseg bench data`: loader throughput (decode + augment) at several sizes, cold and warm cache. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { CommonArgs, configFromArgs, UsageError, withConfigOptions } from '../common';
import { benchData, formatTable } from '../../bench/data';
import { openDataset } from '../../data/dataset';
import { DataError } from '../../data/errors';
import { writeSynthDataset } from '../../data/synth';
import { buildPipeline, loadBackgrounds } from '../../augment';
import { AugmentPool } from '../../augment/pool';

const LOCAL_PICSART = path.resolve(__dirname, '../../../../shared/datasets/picsart-selfies');
const LOCAL_BACKGROUNDS = path.resolve(__dirname, '../../../../shared/datasets/backgrounds');

interface Args extends CommonArgs {
  data?: string;
  images: number;
  sizes: string;
  batch: number;
  prefetch?: number;
  backgrounds?: string;
  augment: boolean;
  workers?: number;
  json?: string;
}

export const benchDataCommand: CommandModule<object, Args> = {
  command: 'data',
  describe: 'loader throughput in images/s: decode + augment, per frame size, cold and warm cache',
  builder: (y) =>
    withConfigOptions(y as Argv)
      .option('data', { type: 'string', describe: 'dataset (default: ../shared/datasets/picsart-selfies when present, else a synthetic one)' })
      .option('images', { type: 'number', default: 256, describe: 'images per measured pass' })
      .option('sizes', { type: 'string', default: '128,256', describe: 'comma-separated square frame sizes' })
      .option('batch', { type: 'number', default: 16, describe: 'batch size' })
      .option('prefetch', { type: 'number', describe: 'batches decoded ahead (config key: data.prefetch)' })
      .option('backgrounds', { type: 'string', describe: 'background photos for backgroundSwap (default ../shared/datasets/backgrounds when present; config key: data.backgrounds)' })
      .option('augment', { type: 'boolean', default: true, describe: 'run the augment.train pipeline (--no-augment: decode only)' })
      .option('workers', { type: 'number', describe: 'also measure augmentation in N worker threads (default cores - 1; 0 = skip)' })
      .option('json', { type: 'string', describe: 'write the numbers to this JSON file' })
      .example('$0 bench data --images 256 --sizes 128,256 --json bench/data.json', '') as unknown as Argv<Args>,
  handler: async (args) => {
    const cfg = configFromArgs(args, { 'data.path': args.data, 'data.prefetch': args.prefetch, 'data.backgrounds': args.backgrounds });
    const sizes = args.sizes.split(',').map((s) => Number(s.trim()));
    if (sizes.some((s) => !Number.isInteger(s) || s < 8)) throw new UsageError(`--sizes: expected integers >= 8 like 128,256, got "${args.sizes}"`);
    if (!Number.isInteger(args.images) || args.images < 1) throw new UsageError(`--images: expected a positive integer, got ${args.images}`);
    if (!Number.isInteger(args.batch) || args.batch < 1) throw new UsageError(`--batch: expected a positive integer, got ${args.batch}`);
    let dataPath = cfg.data.path ?? (fs.existsSync(LOCAL_PICSART) ? LOCAL_PICSART : null);
    let tmp: string | null = null;
    if (!dataPath) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-benchsynth-'));
      process.stderr.write(`no dataset given and ../shared/datasets/picsart-selfies absent: writing ${args.images} synthetic 256x256 samples to ${tmp}\n`);
      await writeSynthDataset(tmp, { count: args.images, seed: cfg.seed, width: 256, height: 256 });
      dataPath = tmp;
    }
    try {
      const ds = await openDataset(dataPath, { log: (l) => process.stderr.write(`${l}\n`) }).catch((e) => {
        throw e instanceof DataError ? new UsageError(e.message) : e;
      });
      const bgDir = cfg.data.backgrounds ?? (fs.existsSync(LOCAL_BACKGROUNDS) ? LOCAL_BACKGROUNDS : null);
      const augment = args.augment ? buildPipeline(cfg.augment.train, { backgrounds: bgDir ? await loadBackgrounds(bgDir) : [] }) : null;
      const nWorkers = args.workers ?? Math.max(1, os.cpus().length - 1);
      const pool = args.augment && nWorkers > 0 ? new AugmentPool({ specs: cfg.augment.train, backgrounds: bgDir, workers: nWorkers }) : null;
      process.stderr.write(`bench data: ${ds.name} (${ds.refs.length} samples, ${args.images} per pass), batch ${args.batch}, prefetch ${cfg.data.prefetch}, ${os.cpus().length} cores\n`);
      const cases = await benchData({
        refs: ds.refs,
        sizes,
        images: args.images,
        batchSize: args.batch,
        prefetch: cfg.data.prefetch,
        seed: cfg.seed,
        augment,
        pool,
        log: (l) => process.stderr.write(`${l}\n`),
      }).finally(() => pool?.close());
      process.stdout.write(`${formatTable(cases)}\n`);
      if (args.json) {
        fs.mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
        const rec = {
          command: `portraitseg bench data ${process.argv.slice(2).filter((a) => a !== 'bench' && a !== 'data').join(' ')}`.trim(),
          dataset: ds.name,
          samples: ds.refs.length,
          augment: args.augment ? cfg.augment.train.map((t) => t.name) : [],
          backgrounds: bgDir,
          cores: os.cpus().length,
          loadavg: os.loadavg(),
          date: new Date().toISOString(),
          cases,
        };
        const t = `${args.json}.tmp-${process.pid}`;
        fs.writeFileSync(t, JSON.stringify(rec, null, 2) + '\n');
        fs.renameSync(t, args.json);
        process.stderr.write(`wrote ${args.json}\n`);
      }
    } finally {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};
