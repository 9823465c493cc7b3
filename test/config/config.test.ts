import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultConfig } from '../../src/config/config';
import { CONFIG_MAX_BYTES, resolveConfig, saveConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/schema';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pseg-config-'));
}

describe('config', () => {
  it('defaults validate and round-trip through resolveConfig', () => {
    assert.deepEqual(resolveConfig({}), defaultConfig());
  });

  it('layers file < --set < flags, with extends', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'base.json'), JSON.stringify({ train: { lr: 0.01, batchSize: 4 }, seed: 1 }));
    fs.writeFileSync(path.join(dir, 'child.json'), JSON.stringify({ extends: './base.json', train: { batchSize: 16 } }));
    const cfg = resolveConfig({ file: path.join(dir, 'child.json'), set: ['train.lr=0.5', 'data.frameSize=256,192'], flags: { seed: 7, 'data.path': 'x' } });
    assert.equal(cfg.train.batchSize, 16);
    assert.equal(cfg.train.lr, 0.5);
    assert.equal(cfg.seed, 7);
    assert.deepEqual(cfg.data.frameSize, [256, 192]);
    assert.equal(cfg.data.path, 'x');
    assert.equal(cfg.train.optimizer, defaultConfig().train.optimizer);
  });

  it('unknown keys are errors naming the dotted path with a suggestion', () => {
    assert.throws(() => resolveConfig({ set: ['train.lrr=1'] }), (e: Error) => e instanceof ConfigError && /train\.lrr: unknown config key \(did you mean "lr"\?\)/.test(e.message));
    const dir = tmpdir();
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, JSON.stringify({ data: { frameSiz: [1, 2] } }));
    assert.throws(() => resolveConfig({ file: f }), /bad\.json: data\.frameSiz: unknown config key \(did you mean "frameSize"\?\)/);
  });

  it('wrong types and ranges name the key', () => {
    assert.throws(() => resolveConfig({ set: ['train.lr=fast'] }), /train\.lr: expected a number, got "fast"/);
    assert.throws(() => resolveConfig({ flags: { 'train.batchSize': 0 } }), /train\.batchSize: must be >= 1, got 0/);
    assert.throws(() => resolveConfig({ flags: { backend: 'gpu' } }), /backend: expected one of auto\|tensorflow-gpu\|tensorflow\|wasm\|cpu, got "gpu"/);
    assert.throws(() => resolveConfig({ flags: { 'data.frameSize': [1, 2, 3] } }), /data\.frameSize: expected an array of 2 numbers, got \[1,2,3\]/);
    assert.throws(() => resolveConfig({ flags: { 'train.batchSize': 2.5 } }), /train\.batchSize: expected an integer, got 2\.5/);
    assert.throws(() => resolveConfig({ set: ['data.frameSize=100000,256'] }), /data\.frameSize\[0\]: must be <= 8192, got 100000/);
  });

  it('non-finite numbers are rejected naming the key: --set, JSON files, flags, arrays', () => {
    assert.throws(() => resolveConfig({ set: ['train.lr=1e400'] }), (e: Error) => e instanceof ConfigError && /^train\.lr: expected a finite number, got Infinity$/.test(e.message));
    assert.throws(() => resolveConfig({ set: ['train.lr=-Infinity'] }), /train\.lr: expected a finite number, got -Infinity/);
    assert.throws(() => resolveConfig({ set: ['train.microBatch=1e999'] }), /train\.microBatch: expected a finite number, got Infinity/);
    assert.throws(() => resolveConfig({ set: ['data.frameSize=1e400,256'] }), /data\.frameSize\[0\]: expected a finite number, got Infinity/);
    assert.throws(() => resolveConfig({ flags: { 'train.lr': Number('1e309') } }), /train\.lr: expected a finite number/);
    const dir = tmpdir();
    const f = path.join(dir, 'huge.json');
    // JSON.parse reads 1e400 as Infinity
    fs.writeFileSync(f, '{ "train": { "lr": 1e400 } }');
    assert.throws(() => resolveConfig({ file: f }), /huge\.json: train\.lr: expected a finite number, got Infinity/);
  });

  it('cross-field rules are checked at start', () => {
    assert.throws(() => resolveConfig({ flags: { 'train.batchSize': 4, 'train.microBatch': 8 } }), /train\.microBatch \(8\) must not exceed train\.batchSize \(4\)/);
  });

  it('bad files: missing, invalid JSON, extends cycle', () => {
    const dir = tmpdir();
    assert.throws(() => resolveConfig({ file: path.join(dir, 'nope.json') }), /config file not found: .*nope\.json/);
    fs.writeFileSync(path.join(dir, 'broken.json'), '{ "seed": ');
    assert.throws(() => resolveConfig({ file: path.join(dir, 'broken.json') }), /broken\.json: not valid JSON/);
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ extends: './b.json' }));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ extends: './a.json' }));
    assert.throws(() => resolveConfig({ file: path.join(dir, 'a.json') }), /"extends" cycle/);
  });

  it('__proto__, constructor and prototype are refused on every path: --set, JSON files, flags (no prototype pollution)', () => {
    const probe = () => ({} as Record<string, unknown>).x;
    for (const key of ['model.args.__proto__.x', '__proto__.x', 'train.__proto__.x', 'model.args.constructor.prototype.x', 'augment.train.prototype']) {
      assert.throws(
        () => resolveConfig({ set: [`${key}=1`] }),
        (e: Error) => e instanceof ConfigError && /: unknown config key \("__proto__", "constructor", "prototype" are refused on every path\)$/.test(e.message),
        key,
      );
      assert.equal(probe(), undefined, `--set ${key}=1 reached Object.prototype`);
    }
    // a JSON value given to --set cannot carry one either
    assert.throws(() => resolveConfig({ set: ['model.args={"__proto__":{"x":1}}'] }), /^ConfigError: model\.args\.__proto__: unknown config key/);
    assert.throws(() => resolveConfig({ flags: { 'model.args.__proto__.x': 1 } }), /model\.args\.__proto__: unknown config key/);
    assert.equal(probe(), undefined);
    const dir = tmpdir();
    const cases: [string, RegExp][] = [
      ['{"__proto__": {"seed": 3}}', /proto\.json: __proto__: unknown config key/],
      ['{"train": {"__proto__": {"lr": 1}}}', /proto\.json: train\.__proto__: unknown config key/],
      ['{"model": {"args": {"__proto__": {"x": 1}}}}', /proto\.json: model\.args\.__proto__: unknown config key/],
      ['{"augment": {"train": [{"name": "flip", "constructor": 1}]}}', /proto\.json: augment\.train\[0\]\.constructor: unknown config key/],
    ];
    for (const [text, re] of cases) {
      const f = path.join(dir, 'proto.json');
      fs.writeFileSync(f, text);
      assert.throws(() => resolveConfig({ file: f }), (e: Error) => e instanceof ConfigError && re.test(e.message), text);
      // the base of a resumed run goes through the same check
      assert.throws(() => resolveConfig({ base: JSON.parse(text) }), /unknown config key/, text);
    }
    assert.equal(probe(), undefined);
  });

  it('config files and "extends" targets must be regular files under the size cap', () => {
    const dir = tmpdir();
    assert.throws(() => resolveConfig({ file: dir }), (e: Error) => e instanceof ConfigError && e.message === `${dir}: not a regular file (a config is a JSON file)`);
    // a device file used to read forever
    assert.throws(() => resolveConfig({ file: '/dev/zero' }), /^ConfigError: \/dev\/zero: not a regular file/);
    const big = path.join(dir, 'big.json');
    fs.writeFileSync(big, `{"description": "${'x'.repeat(CONFIG_MAX_BYTES)}"}`);
    assert.throws(() => resolveConfig({ file: big }), /big\.json: \d+ bytes, larger than the 1048576 bytes a config may have/);
    const child = path.join(dir, 'child.json');
    fs.writeFileSync(child, JSON.stringify({ extends: '/dev/zero' }));
    assert.throws(() => resolveConfig({ file: child }), /^ConfigError: \/dev\/zero: not a regular file/);
    fs.writeFileSync(child, JSON.stringify({ extends: './' }));
    assert.throws(() => resolveConfig({ file: child }), /not a regular file/);
    if (process.platform !== 'win32') {
      const fifo = path.join(dir, 'fifo.json');
      execFileSync('mkfifo', [fifo]);
      assert.throws(() => resolveConfig({ file: fifo }), /fifo\.json: not a regular file/);
    }
  });

  it('a config with a UTF-8 byte-order mark is read', () => {
    const dir = tmpdir();
    const f = path.join(dir, 'bom.json');
    fs.writeFileSync(f, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ train: { lr: 0.02 } }))]));
    assert.equal(resolveConfig({ file: f }).train.lr, 0.02);
    const child = path.join(dir, 'child.json');
    fs.writeFileSync(child, '\ufeff' + JSON.stringify({ extends: './bom.json', seed: 5 }));
    const cfg = resolveConfig({ file: child });
    assert.equal(cfg.seed, 5);
    assert.equal(cfg.train.lr, 0.02);
  });

  it('saveConfig writes the resolved config atomically and it reloads identically', () => {
    const dir = tmpdir();
    const cfg = resolveConfig({ set: ['train.lr=0.002'] });
    const file = saveConfig(cfg, dir);
    assert.deepEqual(fs.readdirSync(dir), ['config.json']);
    assert.deepEqual(resolveConfig({ file }), cfg);
  });

  it('every shipped configs/*.json validates', () => {
    const files = fs.readdirSync(path.join(__dirname, '../../configs')).filter((f) => f.endsWith('.json'));
    assert.ok(files.length > 0, 'expected at least one config in configs/');
    for (const f of files) resolveConfig({ file: path.join(__dirname, '../../configs', f) });
  });
});
