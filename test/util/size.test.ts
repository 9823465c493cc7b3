import { strict as assert } from 'assert';
import { parseWidthHeight, sizeErrorMessage } from '../../src/util/size';
import { parseWxH, UsageError } from '../../src/cli/common';

describe('util/size: the one WIDTHxHEIGHT parser', () => {
  it('"WxH" -> [height, width] (config order), case and spaces tolerated', () => {
    assert.deepEqual(parseWidthHeight('256x144'), [144, 256]);
    assert.deepEqual(parseWidthHeight(' 640X360 '), [360, 640]);
  });

  it('says why a value is refused: syntax, or a side outside the bounds', () => {
    assert.deepEqual(parseWidthHeight('256'), { error: 'syntax', min: 1, max: 16384 });
    assert.deepEqual(parseWidthHeight('64by48'), { error: 'syntax', min: 1, max: 16384 });
    assert.deepEqual(parseWidthHeight('0x48'), { error: 'bounds', min: 1, max: 16384 });
    assert.deepEqual(parseWidthHeight('4x4', { min: 8, max: 4096 }), { error: 'bounds', min: 8, max: 4096 });
    assert.deepEqual(parseWidthHeight('8x4096', { min: 8, max: 4096 }), [4096, 8]);
    assert.equal(sizeErrorMessage('inputSize=', 'big', { error: 'syntax', min: 1, max: 9 }, '256x256', ''), 'inputSize=big: expected WIDTHxHEIGHT, e.g. inputSize=256x256');
  });

  it('the CLI form names the flag and the value in a UsageError', () => {
    assert.deepEqual(parseWxH('--size', '128x96'), [96, 128]);
    assert.throws(() => parseWxH('--size', '128'), (e: Error) => e instanceof UsageError && e.message === '--size 128: expected WIDTHxHEIGHT, e.g. --size 256x256');
    assert.throws(() => parseWxH('--size', '5000x10', { min: 16, max: 4096 }), (e: Error) => e instanceof UsageError && e.message === '--size 5000x10: width and height must be 16..4096');
  });
});
