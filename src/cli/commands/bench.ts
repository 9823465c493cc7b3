import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const benchCommand: CommandModule = {
  command: 'bench',
  describe: 'benchmarks: data, train, infer',
  handler: notYet('bench', 3),
};
