import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startWebServer, WebServer, modelNames } from '../../src/runtime/web-server';

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

  it('an export folder itself is served as the single model "default"', () => {
    assert.deepEqual(modelNames(path.join(tmp, 'student')), ['default']);
    assert.deepEqual(modelNames(path.join(tmp, 'missing')), []);
  });
});
