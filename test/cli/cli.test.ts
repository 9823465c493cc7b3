import { strict as assert } from 'assert';
import { cli } from '../helpers/cli';

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

  it('--help lists every planned command', () => {
    const r = cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['quickstart', 'data', 'augment', 'train', 'distill', 'eval', 'export', 'blur', 'bench']) assert.match(r.stdout, new RegExp(`portraitseg ${c}`));
  });
});
