/**
 * A saved model folder to break in tests (test/models/io.test.ts, model_files.test.ts): a small
 * mnv2_student_s saved once per describe block into a temp root, copies of it on demand, the root
 * removed after the block.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { saveModel } from '../../src/models/io';
import { createModel } from '../../src/models/registry';

export interface SavedModelFixture {
  /** The temp folder everything is written in. */
  readonly root: string;
  /** The intact saved model (never modify it: take a copyOf). */
  readonly good: string;
  /** A fresh copy of the good folder, named `name` inside root. */
  copyOf(name: string): string;
}

/** Call inside a describe(): registers before() (save, on the cpu backend) and after() (remove the root). */
export function savedModelFixture(prefix: string): SavedModelFixture {
  const fx = {
    root: '',
    good: '',
    copyOf(name: string): string {
      const d = path.join(fx.root, name);
      fs.cpSync(fx.good, d, { recursive: true });
      return d;
    },
  };
  before(async () => {
    await tf.setBackend('cpu');
    fx.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fx.good = path.join(fx.root, 'good');
    const { model, meta } = createModel('mnv2_student_s', { inputSize: [32, 32] }, { seed: 1 });
    await saveModel(fx.good, model, meta);
    model.dispose();
  });
  after(() => {
    if (fx.root) fs.rmSync(fx.root, { recursive: true, force: true });
  });
  return fx;
}
