import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const distillCommand: CommandModule = {
  command: 'distill',
  describe: 'distill a student from a teacher',
  handler: notYet('distill', 5),
};
