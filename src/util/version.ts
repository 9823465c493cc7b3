/** This package's version, as written into every ModelMeta (`version`) and model manifest. */
let cached: string | null = null;

/** package.json's `version` (read at run time: package.json is outside rootDir, the same two levels up from src/util and dist/util). */
export function packageVersion(): string {
  if (cached === null) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = String(require('../../package.json').version);
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}
