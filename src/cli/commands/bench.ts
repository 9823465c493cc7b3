/** `portraitseg bench <data|train|infer>`: each subcommand is owned by its area. */
import type { CommandModule } from 'yargs';
import { benchDataCommand } from './bench-data';
import { benchTrainCommand } from './bench-train';
import { benchInferCommand } from './bench-infer';

export const benchCommand: CommandModule = {
  command: 'bench <what>',
  describe: 'benchmarks: data loading, training speed, inference speed',
  builder: (y) => y.command(benchDataCommand).command(benchTrainCommand).command(benchInferCommand).demandCommand(1),
  handler: () => {},
};
