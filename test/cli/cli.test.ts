import { strict as assert } from 'assert';
import { cli } from '../helpers/cli';
import { commands } from '../../src/cli/commands';

describe('cli', () => {
  it('unknown commands are errors with a did-you-mean', () => {
    const r = cli(['trian']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "trian"\. Did you mean train\?/);
  });

  it('unknown flags are errors', () => {
    const r = cli(['data', 'inspect', '--dat', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown argument/);
  });

  it('--help lists every planned command, and the command table holds exactly those', () => {
    const planned = ['quickstart', 'data', 'augment', 'train', 'distill', 'label', 'eval', 'export', 'blur', 'bench', 'import', 'web'];
    const r = cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of planned) assert.match(r.stdout, new RegExp(`^\\s*portraitseg ${c}\\b`, 'm'), c);
    // a command added to the table but not here (or gone from it) fails this test
    const table = commands.map((c) => String(c.command).split(' ')[0]);
    assert.deepEqual([...table].sort(), [...planned].sort());
  });
});
