import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const benchInferCommand: CommandModule = {
  command: 'infer',
  describe: 'ms per frame per backend',
  handler: notYet('bench infer', 6),
};
