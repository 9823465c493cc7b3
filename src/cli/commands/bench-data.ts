import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const benchDataCommand: CommandModule = {
  command: 'data',
  describe: 'decode + augment throughput',
  handler: notYet('bench data', 2),
};
