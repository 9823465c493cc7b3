/** `portraitseg bench train`: training img/s per model, frame size and backend (issue #3). */
import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { configFromArgs, UsageError, withConfigOptions, CommonArgs } from '../common';
import { BENCH_BACKENDS, BenchBackend, benchTrainCase, BenchTrainResult, formatProfile, formatTable, runTwin, twinNet, twinThreads } from '../../bench/train';
import { DEFAULT_STUDENT, DEFAULT_TEACHER, modelNames } from '../../models/registry';
import { writeFileAtomic } from '../../util/fs';

interface Args extends CommonArgs {
  models: string;
  sizes: string;
  batch: number;
  backends: string;
  steps: number;
  warmup: number;
  profile: boolean;
  'micro-batch'?: number;
  json?: string;
  twin?: string;
  python: string;
}

function list(flag: string, v: string): string[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${flag}: expected a comma-separated list, got "${v}"`);
  return items;
}

export const benchTrainCommand: CommandModule<object, Args> = {
  command: 'train',
  describe: 'training img/s per model, frame size and backend (forward + backward + Adam)',
  builder: (y) =>
    withConfigOptions(y)
      .option('models', { type: 'string', default: `${DEFAULT_TEACHER},${DEFAULT_STUDENT}`, describe: 'comma-separated registry names' })
      .option('sizes', { type: 'string', default: '128,256', describe: 'comma-separated square frame sizes' })
      .option('batch', { type: 'number', default: 8, describe: 'batch size' })
      .option('backends', { type: 'string', default: 'wasm,wasm-stock', describe: `comma-separated: ${BENCH_BACKENDS.join(', ')} (wasm-stock = wasm without portraitseg kernels; cpu is very slow: use --steps 1)` })
      .option('steps', { type: 'number', default: 3, describe: 'timed steps per configuration' })
      .option('warmup', { type: 'number', default: 1, describe: 'untimed steps first' })
      .option('micro-batch', { type: 'number', describe: 'rows per forward/backward pass (default: planned from memory)' })
      .option('profile', { type: 'boolean', default: false, describe: 'print where one step spends its time, per kernel' })
      .option('json', { type: 'string', describe: 'write all results to this JSON file' })
      .option('twin', { type: 'string', describe: 'PyTorch twin script (../shared/bench/torch_twins.py): run it right after each case with the same net, batch, size, steps and threads (wasm = 1, wasm-parallel = 2) and print the ratio' })
      .option('python', { type: 'string', default: '/usr/bin/python3', describe: 'Python with torch for --twin (Debian: apt-get install python3-torch)' })
      .example('$0 bench train --models unet_teacher_s --sizes 128 --backends wasm --steps 3 --profile', '')
      .example('$0 bench train --sizes 128 --backends wasm,wasm-parallel --steps 10 --warmup 2 --twin ../shared/bench/torch_twins.py', 'side by side with the PyTorch twin')
      .check((a) => {
        if (!Number.isInteger(a.batch) || a.batch < 1) throw new UsageError(`--batch must be a positive integer, got ${a.batch}`);
        if (!Number.isInteger(a.steps) || a.steps < 1) throw new UsageError(`--steps must be a positive integer, got ${a.steps}`);
        if (!Number.isInteger(a.warmup) || a.warmup < 0) throw new UsageError(`--warmup must be an integer >= 0, got ${a.warmup}`);
        return true;
      }) as never,
  handler: async (args) => {
    const cfg = configFromArgs(args);
    const models = list('models', args.models);
    const known = modelNames();
    for (const m of models) if (!known.includes(m)) throw new UsageError(`--models: unknown model "${m}" (known: ${known.join(', ')})`);
    const sizes = list('sizes', args.sizes).map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 16) throw new UsageError(`--sizes: "${s}" is not a frame size (integer >= 16)`);
      return n;
    });
    const backends = list('backends', args.backends) as BenchBackend[];
    for (const b of backends) if (!BENCH_BACKENDS.includes(b)) throw new UsageError(`--backends: unknown backend "${b}" (known: ${BENCH_BACKENDS.join(', ')})`);
    const log = (l: string) => process.stderr.write(l + '\n');
    if (args.twin && !fs.existsSync(args.twin)) throw new UsageError(`--twin ${args.twin}: not found`);
    const results: BenchTrainResult[] = [];
    for (const backend of backends) {
      for (const model of models) {
        for (const size of sizes) {
          const r = await benchTrainCase(
            { model, size, batch: args.batch, backend, steps: args.steps, warmup: args.warmup, profile: args.profile, seed: cfg.seed, microBatch: args['micro-batch'] ?? null },
            log,
          );
          if (args.twin && !r.error) {
            const net = twinNet(model);
            const threads = twinThreads(backend);
            if (net && threads) {
              log(`bench train: PyTorch twin ${net}, ${threads} thread(s)`);
              r.twin = runTwin({ python: args.python, script: args.twin, net, threads, batch: args.batch, size, steps: args.steps, warmup: args.warmup, seed: cfg.seed });
              r.twinRatio = 'error' in r.twin || r.imgPerSec == null ? null : +(r.imgPerSec / r.twin.imgPerSec).toFixed(3);
            }
          }
          results.push(r);
          if (r.error) log(`bench train: ${model} ${size} on ${backend}: cannot train: ${r.error}`);
          if (r.profile) process.stdout.write(formatProfile(r) + '\n');
        }
      }
    }
    process.stdout.write(formatTable(results) + '\n');
    if (args.json) {
      const out = { command: `portraitseg ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(), node: process.version, cpus: require('os').cpus().length, results };
      fs.mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
      writeFileAtomic(args.json, JSON.stringify(out, null, 2) + '\n');
      log(`bench train: wrote ${args.json}`);
    }
  },
};
