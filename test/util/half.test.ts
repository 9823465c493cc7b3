import { strict as assert } from 'assert';
import { halfToFloat, toHalf } from '../../src/util/half';

describe('util/half: float16 bits both ways (tfjs/TFLite export and TFLite import)', () => {
  it('golden values, subnormals, infinities and NaN', () => {
    for (const [v, bits] of [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [0.5, 0x3800]] as const) {
      assert.equal(toHalf(v), bits, `toHalf(${v})`);
      assert.equal(halfToFloat(bits), v, `halfToFloat(0x${bits.toString(16)})`);
    }
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.equal(halfToFloat(0xfc00), -Infinity);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
    assert.equal(toHalf(1e6), 0x7c00, 'overflow rounds to infinity');
  });

  it('every half value survives half -> float -> half', () => {
    let n = 0;
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaNs: payloads are not kept
      assert.equal(toHalf(halfToFloat(h)), h === 0x8000 ? 0x8000 : h);
      n++;
    }
    assert.ok(n > 63000);
  });
});
