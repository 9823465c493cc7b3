import type { CommandModule } from 'yargs';
import { notYet } from '../common';

export const exportCommand: CommandModule = {
  command: 'export',
  describe: 'export a model for the browser (tfjs) or mobile (onnx)',
  handler: notYet('export', 6),
};
