import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const augmentCommand: CommandModule = {
  command: 'augment',
  describe: 'preview augmentation',
  handler: notYet('augment', 2),
};
