import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const benchTrainCommand: CommandModule = {
  command: 'train',
  describe: 'training img/s per backend',
  handler: notYet('bench train', 3),
};
