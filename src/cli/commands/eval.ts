import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const evalCommand: CommandModule = {
  command: 'eval',
  describe: 'evaluate a model on a labeled set',
  handler: notYet('eval', 4),
};
