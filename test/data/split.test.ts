import { strict as assert } from 'assert';
import { splitRefs } from '../../src/data';

const refs = (n: number, prefix = 'img') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}` }));

describe('data/split', () => {
  it('is deterministic and partitions the refs in input order', () => {
    const r = refs(500);
    const a = splitRefs(r, 0.2, 7);
    const b = splitRefs(r, 0.2, 7);
    assert.deepEqual(a, b);
    assert.equal(a.train.length + a.val.length, 500);
    assert.ok(a.val.length > 70 && a.val.length < 130, `val ${a.val.length} of 500 at 0.2`);
    const ids = new Set(a.val.map((x) => x.id));
    assert.ok(a.train.every((x) => !ids.has(x.id)));
    assert.deepEqual(a.train.map((x) => x.id), r.filter((x) => !ids.has(x.id)).map((x) => x.id));
  });

  it('adding files does not move the existing ones', () => {
    const a = splitRefs(refs(300), 0.1, 3);
    const b = splitRefs([...refs(300), ...refs(50, 'new')], 0.1, 3);
    const valA = a.val.map((x) => x.id);
    assert.deepEqual(b.val.filter((x) => !x.id.startsWith('new')).map((x) => x.id), valA);
  });

  it('another seed gives another split; tiny sets still get one val sample', () => {
    const a = splitRefs(refs(200), 0.2, 1).val.map((x) => x.id);
    const b = splitRefs(refs(200), 0.2, 2).val.map((x) => x.id);
    assert.notDeepEqual(a, b);
    const t = splitRefs(refs(3), 0.1, 1);
    assert.equal(t.val.length, 1);
    assert.equal(t.train.length, 2);
    assert.equal(splitRefs(refs(3), 0, 1).val.length, 0);
    assert.throws(() => splitRefs(refs(3), 1, 1), /valFraction/);
  });
});
