import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const quickstartCommand: CommandModule = {
  command: 'quickstart',
  describe: 'run the whole pipeline on the embedded synthetic default',
  handler: notYet('quickstart', 2),
};
