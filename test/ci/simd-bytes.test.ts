import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require('../../scripts/build-simd.js') as {
  MODULES: { wat: string; ts: string; name: string }[];
  ROOT: string;
  assemble(m: { wat: string; ts: string; name: string }): Promise<{ bytes: Uint8Array; ts: string }>;
};

describe('wasm SIMD modules: the committed bytes are their .wat assembled (scripts/build-simd.js)', () => {
  for (const m of build.MODULES) {
    it(`${m.ts} is ${m.wat} assembled`, async () => {
      const { ts } = await build.assemble(m);
      const committed = fs.readFileSync(path.join(build.ROOT, m.ts), 'utf8');
      assert.ok(committed === ts, `${m.ts} is not ${m.wat} assembled: run node scripts/build-simd.js and commit both`);
    });
  }

  it('the check can fail: one changed constant in a .wat changes the bytes', async () => {
    const m = build.MODULES.find((x) => x.wat.endsWith('guided_filter.wat'))!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'simd-bytes-'));
    try {
      const src = fs.readFileSync(path.join(build.ROOT, m.wat), 'utf8');
      const changed = src.replace('0.2 0.2 0.2 0.2', '0.3 0.3 0.3 0.3');
      assert.notEqual(changed, src, 'the LeakyReLU slope to change is in the .wat');
      const wat = path.join(dir, 'changed.wat');
      fs.writeFileSync(wat, changed);
      const { ts } = await build.assemble({ ...m, wat: path.relative(build.ROOT, wat) });
      assert.notEqual(ts.split('\n')[2], fs.readFileSync(path.join(build.ROOT, m.ts), 'utf8').split('\n')[2]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
