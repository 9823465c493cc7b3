/** The command table. Listed explicitly (no registration by import side effect). */
import type { CommandModule } from 'yargs';
import { dataCommand } from './data';
import { augmentCommand } from './augment';
import { trainCommand } from './train';
import { distillCommand } from './distill';
import { evalCommand } from './eval';
import { exportCommand } from './export';
import { blurCommand } from './blur';
import { benchCommand } from './bench';
import { quickstartCommand } from './quickstart';
import { webCommand } from './web';
import { labelCommand } from './label';
import { importCommand } from './import';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  quickstartCommand,
  dataCommand,
  augmentCommand,
  trainCommand,
  distillCommand,
  labelCommand,
  evalCommand,
  exportCommand,
  blurCommand,
  benchCommand,
  importCommand,
  webCommand,
];
