/** Process entry: `node dist/cli/main.js ...` (the bin) or `tsx src/cli/main.ts ...` (from source). */
import { run } from './index';

void run(process.argv.slice(2));
