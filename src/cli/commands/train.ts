import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const trainCommand: CommandModule = {
  command: 'train',
  describe: 'train a teacher model',
  handler: notYet('train', 4),
};
