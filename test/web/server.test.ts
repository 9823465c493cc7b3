import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { startWebServer, WebServer, modelNames, hostAllowed } from '../../src/runtime/web-server';

/** A raw GET (fetch normalises URLs and will not send a foreign Host header). Reads at most `maxBytes` of the body, then hangs up. */
function rawGet(port: number, p: string, host = `127.0.0.1:${port}`, maxBytes = Infinity): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (n >= maxBytes) {
          req.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (e) => (maxBytes < Infinity ? undefined : reject(e)));
    req.end();
  });
}

describe('web server (no browser needed)', function () {
  this.timeout(60000);
  let tmp: string;
  let server: WebServer;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-srv-'));
    for (const n of ['student', 'teacher']) {
      fs.mkdirSync(path.join(tmp, n));
      fs.writeFileSync(path.join(tmp, n, 'model.json'), '{}');
    }
    fs.mkdirSync(path.join(tmp, 'not-a-model'));
    fs.writeFileSync(path.join(tmp, 'student', 'weights.bin'), Buffer.from([1, 2, 3, 4, 5]));
    // links: out of the folder (a directory and a file) and within it
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'portraitseg-srv-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    fs.writeFileSync(path.join(outside, 'model.json'), '{}');
    fs.symlinkSync(outside, path.join(tmp, 'outlink'));
    fs.symlinkSync('/etc', path.join(tmp, 'etc'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(tmp, 'student', 'secret.txt'));
    fs.symlinkSync(path.join(tmp, 'student', 'weights.bin'), path.join(tmp, 'teacher', 'weights.bin'));
    server = await startWebServer({ models: tmp });
  });
  after(async () => {
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('serves the page, the bundle, the wasm binaries and the model list', async () => {
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="dist\/app.js">/);
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const js = await fetch(`${server.url}dist/app.js`);
    assert.equal(js.status, 200);
    assert.ok((await js.text()).includes('__portraitseg'), 'bundle contains the page code');
    const wasm = await fetch(`${server.url}wasm/tfjs-backend-wasm-simd.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.deepEqual(await (await fetch(`${server.url}models/index.json`)).json(), ['student', 'teacher']);
    assert.equal((await fetch(`${server.url}models/student/model.json`)).status, 200);
  });

  it('does not serve files outside its folders', async () => {
    for (const p of ['models/../../etc/passwd', 'models/%2e%2e/%2e%2e/etc/passwd', 'wasm/../package.json']) {
      const r = await fetch(server.url + p);
      assert.notEqual(r.status, 200, p);
    }
  });

  it('answers a malformed percent-encoding with 400 and keeps serving', async () => {
    for (const p of ['/%zz', '/models/%E0%A4%A', '/%']) {
      const r = await rawGet(server.port, p);
      assert.equal(r.status, 400, p);
      assert.match(r.body.toString(), /malformed URL/);
    }
    assert.equal((await rawGet(server.port, '/')).status, 200);
  });

  it('serves nothing through symlinks that leave the served folder; links inside it work', async () => {
    for (const p of ['/models/etc/passwd', '/models/outlink/secret.txt', '/models/outlink/model.json', '/models/student/secret.txt']) {
      const r = await rawGet(server.port, p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(r.body.toString(), /^secret$|root:/);
    }
    assert.deepEqual(modelNames(tmp), ['student', 'teacher'], 'a linked folder outside is not listed as a model');
    const inside = await rawGet(server.port, '/models/teacher/weights.bin');
    assert.equal(inside.status, 200);
    assert.deepEqual([...inside.body], [1, 2, 3, 4, 5]);
    assert.equal(inside.headers['content-length'], '5');
  });

  it('answers only loopback Host headers with its own port (DNS rebinding)', async () => {
    const { port } = server;
    for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', `LOCALHOST:${port}`]) {
      assert.equal((await rawGet(port, '/models/index.json', h)).status, 200, h);
    }
    for (const h of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${port + 1}`, `127.0.0.1.evil.example:${port}`, `localhost:${port}@evil`]) {
      const r = await rawGet(port, '/models/student/model.json', h);
      assert.equal(r.status, 421, `Host: ${h}`);
    }
    assert.equal(hostAllowed(undefined, port, null), false);
    assert.equal(hostAllowed(`192.168.1.5:${port}`, port, '192.168.1.5'), true, 'the --host it was started on');
  });

  it('sends X-Content-Type-Options: nosniff and Content-Length on every answer', async () => {
    for (const p of ['/', '/dist/app.js', '/models/index.json', '/models/student/model.json', '/nope']) {
      const r = await rawGet(server.port, p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
      assert.equal(Number(r.headers['content-length']), r.body.length, p);
    }
  });

  it('streams a file over 2 GiB (sparse) without reading it whole', async function () {
    const big = path.join(tmp, 'student', 'big.bin');
    const size = 2 ** 31 + 4096;
    try {
      fs.writeFileSync(big, '');
      fs.truncateSync(big, size);
    } catch (e) {
      this.skip();
    }
    const rss0 = process.memoryUsage().rss;
    // two requests at once, each read for 1 MiB then hung up on: a whole-file read would fail (ERR_FS_FILE_TOO_LARGE) or take > 2 GiB each
    const rs = await Promise.all([0, 1].map(() => rawGet(server.port, '/models/student/big.bin', undefined, 1 << 20)));
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(size));
      assert.ok(r.body.length >= 1 << 20);
      assert.ok(r.body.subarray(0, 1 << 20).every((b) => b === 0));
    }
    assert.ok(process.memoryUsage().rss - rss0 < 512 * 2 ** 20, `rss grew by ${(process.memoryUsage().rss - rss0) / 2 ** 20} MiB`);
    assert.equal((await rawGet(server.port, '/models/index.json')).status, 200, 'still serving');
    fs.rmSync(big);
  });

  it('an export folder itself is served as the single model "default"', () => {
    assert.deepEqual(modelNames(path.join(tmp, 'student')), ['default']);
    assert.deepEqual(modelNames(path.join(tmp, 'missing')), []);
  });
});
