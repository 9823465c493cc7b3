import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const blurCommand: CommandModule = {
  command: 'blur',
  describe: 'blur or replace the background of images or videos',
  handler: notYet('blur', 6),
};
