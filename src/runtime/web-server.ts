/**
 * A small static server for the live page (web/): bundles web/app.ts with esbuild at start,
 * serves the tfjs wasm binaries from node_modules, and serves exported models from a folder.
 *
 *   portraitseg web --models exported --port 8080     (or npm run web -- --models exported; then open http://127.0.0.1:8080/)
 *
 * Routes: /            web/index.html
 *         /dist/app.js the bundle (built in memory)
 *         /wasm/*.wasm @tensorflow/tfjs-backend-wasm/dist
 *         /models/index.json  names of the sub-folders of --models that hold a model.json
 *         /models/...  files of --models (an export folder itself is served as /models/default/)
 * Sends COOP/COEP headers so the browser allows tfjs-wasm's multi-threaded build.
 * Hardened for a server any web page in the user's browser can reach: files are streamed,
 * symlinks are resolved and must stay inside the served folder, only loopback Host headers
 * are answered (DNS rebinding), malformed URLs get 400, every response says nosniff.
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

export interface WebServerOptions {
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Folder of exported models (or one export folder). */
  models?: string | null;
  log?: (l: string) => void;
}

/** The real path of `p`, or null when it does not exist. */
function real(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

/** True when `p` is `base` or lies below it (both real, absolute paths). */
function under(base: string, p: string): boolean {
  return p === base || p.startsWith(base.endsWith(path.sep) ? base : base + path.sep);
}

/**
 * The file at URL path `rel` below `base`, or null: `..` segments cannot climb out, and after
 * resolving symlinks the file must still be a regular file under base's real path (a link
 * to /etc inside the models folder serves nothing).
 */
export function safeFile(base: string, rel: string): { file: string; size: number } | null {
  const root = real(base);
  if (!root) return null;
  const p = real(path.join(root, path.posix.normalize('/' + rel)));
  if (!p || !under(root, p)) return null;
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return null;
  }
  return st.isFile() ? { file: p, size: st.size } : null;
}

/** Lists served model names: sub-folders with model.json, or 'default' when `dir` is itself an export. */
export function modelNames(dir: string | null): string[] {
  if (!dir || !fs.existsSync(dir)) return [];
  if (safeFile(dir, 'model.json')) return ['default'];
  return fs
    .readdirSync(dir)
    .filter((n) => safeFile(dir, `${n}/model.json`))
    .sort();
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Host header check against DNS rebinding: a page on evil.example that re-points its name
 * to 127.0.0.1 sends "Host: evil.example"; only loopback names (and the --host the server
 * was started on) with the server's port are answered.
 */
export function hostAllowed(host: string | undefined, port: number, extra: string | null): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (!m) return false;
  if (m[2] !== undefined && Number(m[2]) !== port) return false;
  const name = m[1];
  return LOOPBACK.has(name) || (extra !== null && name === extra.toLowerCase());
}

export async function startWebServer(opts: WebServerOptions = {}): Promise<WebServer> {
  const bundle = await buildBundle();
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  const models = opts.models ? path.resolve(opts.models) : null;
  const single = models !== null && safeFile(models, 'model.json') !== null;
  const host = opts.host ?? '127.0.0.1';
  // a non-loopback --host (e.g. a LAN address) is also a name clients may use; a wildcard is not
  const extraHost = host === '0.0.0.0' || host === '::' ? null : host.includes(':') ? `[${host}]` : host;
  let port = 0;
  const server = http.createServer((req, res) => {
    const headers = (type: string, length: number) => ({
      'Content-Type': type,
      'Content-Length': String(length),
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    const send = (code: number, body: string | Buffer, type = 'text/plain; charset=utf-8') => {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(code, headers(type, buf.length));
      res.end(req.method === 'HEAD' ? undefined : buf);
    };
    if (!hostAllowed(req.headers.host, port, extraHost)) return send(421, `host not allowed: ${req.headers.host ?? '(none)'} (use http://127.0.0.1:${port}/)\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, `method not allowed: ${req.method}\n`);
    let p: string;
    try {
      p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad request: malformed URL\n');
    }
    if (p.includes('\0')) return send(400, 'bad request: NUL in path\n');
    // streamed, never read whole: model shards can be large and several requests run at once
    const file = (f: { file: string; size: number } | null) => {
      if (!f) return send(404, `not found: ${p}\n`);
      res.writeHead(200, headers(TYPES[path.extname(f.file).toLowerCase()] ?? 'application/octet-stream', f.size));
      if (req.method === 'HEAD') return res.end();
      const stream = fs.createReadStream(f.file);
      stream.on('error', () => res.destroy());
      res.on('close', () => stream.destroy());
      stream.pipe(res);
    };
    if (p === '/' || p === '/index.html') return file(safeFile(WEB, 'index.html'));
    if (p === '/dist/app.js') return send(200, bundle, TYPES['.js']);
    if (p.startsWith('/wasm/')) return file(safeFile(wasmDir, p.slice('/wasm/'.length)));
    if (p === '/models/index.json') return send(200, JSON.stringify(modelNames(models)), TYPES['.json']);
    if (p.startsWith('/models/') && models) {
      const rel = p.slice('/models/'.length);
      if (single) return file(rel.startsWith('default/') ? safeFile(models, rel.slice('default/'.length)) : null);
      return file(safeFile(models, rel));
    }
    return send(404, `not found: ${p}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  opts.log?.(`serving ${url} (models: ${models ?? 'none'}${models ? `: ${modelNames(models).join(', ') || 'no model.json found'}` : ''})`);
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
