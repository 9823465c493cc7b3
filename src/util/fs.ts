/** File-system helpers shared by every layer. */
import * as fs from 'fs';

/**
 * Writes `file` whole or not at all: the data goes to `file.tmp-PID` first and is renamed into
 * place, so a reader (or a crash) never sees half a file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
