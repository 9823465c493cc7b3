import { strict as assert } from 'assert';
import { cli } from '../helpers/cli';
import { checkStudentArgs, parseSize } from '../../src/cli/commands/distill';

describe('distill/cli', () => {
  it('distill student needs a teacher and data, with an example (exit 2)', () => {
    // the from-scratch recipe names no teacher (the pretrained default, configs/distill-finetune.json, does);
    // any existing folder serves as --data here, but not '.': the default run folder runs/... would be inside it
    const r = cli(['distill', 'student', '--config', 'configs/distill.json', '--data', 'docs']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--teacher RUN_DIR\|model\.json is required \(e\.g\. portraitseg distill student --teacher/);
  });

  it('a missing teacher path is a one-line usage error (exit 2)', () => {
    const a = cli(['distill', 'student', '--teacher', '/nonexistent/t', '--data', '/nonexistent/d']);
    assert.equal(a.code, 2);
    assert.equal(a.stderr.trim(), 'portraitseg: error: --teacher /nonexistent/t: not found');
  });

  it('flag checks: --resume with --student, --input-size format', () => {
    assert.throws(() => checkStudentArgs({ resume: 'runs/x', student: 'mnv2_student_s' }), /--resume continues a run with its own saved config/);
    assert.throws(() => checkStudentArgs({ teacher: 't' }), /--data DIR is required/);
    assert.equal(checkStudentArgs({ data: 'd' }), true, 'labels-only runs need no teacher; distillStudent asks for one when a term needs it');
    assert.equal(checkStudentArgs({ teacher: 't', data: 'd' }), true);
    assert.equal(checkStudentArgs({ resume: 'runs/x' }), true);
    assert.deepEqual(parseSize('--input-size', '256x144'), [144, 256]);
    assert.throws(() => parseSize('--input-size', '256'), /--input-size 256: expected WIDTHxHEIGHT/);
  });

  it('--help documents the flags and their config keys', () => {
    const r = cli(['distill', 'student', '--help']);
    assert.equal(r.code, 0);
    for (const k of ['distill.teacher', 'data.unlabeled', 'model.name', 'train.images', 'external.inputSize']) assert.ok(r.stdout.includes(k), k);
  });
});
