import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const dataCommand: CommandModule = {
  command: 'data',
  describe: 'inspect or synthesize datasets',
  handler: notYet('data', 2),
};
