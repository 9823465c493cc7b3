/**
 * A small static server for the live page (web/): bundles web/app.ts with esbuild at start,
 * serves the tfjs wasm binaries from node_modules, and serves exported models from a folder.
 *
 *   npm run web -- --models exported --port 8080      (then open http://127.0.0.1:8080/)
 *
 * Routes: /            web/index.html
 *         /dist/app.js the bundle (built in memory)
 *         /wasm/*.wasm @tensorflow/tfjs-backend-wasm/dist
 *         /models/index.json  names of the sub-folders of --models that hold a model.json
 *         /models/...  files of --models (an export folder itself is served as /models/default/)
 * Sends COOP/COEP headers so the browser allows tfjs-wasm's multi-threaded build.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import type { AddressInfo } from 'net';

const ROOT = path.resolve(__dirname, '../..');
const WEB = path.join(ROOT, 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** Bundles web/app.ts (and the runtime it imports) for the browser. */
export async function buildBundle(opts: { minify?: boolean } = {}): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    esbuild = require('esbuild');
  } catch {
    throw new Error('esbuild is needed to bundle the web page: npm install --save-dev esbuild');
  }
  const res = await esbuild.build({
    entryPoints: [path.join(WEB, 'app.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    minify: opts.minify ?? true,
    logLevel: 'silent',
  });
  return res.outputFiles[0].text;
}

export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Lists served model names: sub-folders with model.json, or 'default' when `dir` is itself an export. */
export function modelNames(dir: string | null): string[] {
  if (!dir || !fs.existsSync(dir)) return [];
  if (fs.existsSync(path.join(dir, 'model.json'))) return ['default'];
  return fs
    .readdirSync(dir)
    .filter((n) => fs.existsSync(path.join(dir, n, 'model.json')))
    .sort();
}

function inside(base: string, rel: string): string | null {
  const p = path.resolve(base, '.' + path.posix.normalize('/' + rel));
  return p.startsWith(path.resolve(base)) ? p : null;
}

export async function startWebServer(opts: { port?: number; host?: string; models?: string | null; log?: (l: string) => void } = {}): Promise<WebServer> {
  const bundle = await buildBundle();
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  const models = opts.models ? path.resolve(opts.models) : null;
  const single = models && fs.existsSync(path.join(models, 'model.json'));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    const send = (code: number, body: string | Buffer, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, {
        'Content-Type': type,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-cache',
      });
      res.end(body);
    };
    const file = (f: string | null) => {
      if (!f || !fs.existsSync(f) || !fs.statSync(f).isFile()) return send(404, `not found: ${p}`);
      send(200, fs.readFileSync(f), TYPES[path.extname(f)] ?? 'application/octet-stream');
    };
    if (p === '/' || p === '/index.html') return file(path.join(WEB, 'index.html'));
    if (p === '/dist/app.js') return send(200, bundle, TYPES['.js']);
    if (p.startsWith('/wasm/')) return file(inside(wasmDir, p.slice('/wasm/'.length)));
    if (p === '/models/index.json') return send(200, JSON.stringify(modelNames(models)), TYPES['.json']);
    if (p.startsWith('/models/') && models) {
      const rel = p.slice('/models/'.length);
      if (single) return file(rel.startsWith('default/') ? inside(models, rel.slice('default/'.length)) : null);
      return file(inside(models, rel));
    }
    return send(404, `not found: ${p}`);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}/`;
  opts.log?.(`serving ${url} (models: ${models ?? 'none'}${models ? `: ${modelNames(models).join(', ') || 'no model.json found'}` : ''})`);
  return {
    url,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  startWebServer({ port: Number(arg('port') ?? 8080), host: arg('host') ?? '127.0.0.1', models: arg('models') ?? null, log: (l) => process.stderr.write(`${l}\n`) }).catch((e) => {
    process.stderr.write(`portraitseg web: error: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
