/**
 * The largest side of a model's input (`model.args.inputSize`, an imported file's input, `import
 * --input-size`): 4096 px. Its frame (inputSize x model.args.filterScale with the mask filter) may
 * reach MAX_FRAME_SIDE. Beyond these a single forward pass needs gigabytes; portrait models run at
 * 128..512.
 */
export const MAX_MODEL_SIDE = 4096;
export const MAX_FRAME_SIDE = 8192;

/**
 * The one WIDTHxHEIGHT parser (flags like `--size 256x144`, `--input-size`, `inputSize=` options):
 * "256x144" -> [height, width], the config's order (`data.frameSize`, `model.args.inputSize`).
 * Returns why it is not one, for the caller's own error type and flag name.
 */
export function parseWidthHeight(raw: string, bounds: { min?: number; max?: number } = {}): [number, number] | { error: 'syntax' | 'bounds'; min: number; max: number } {
  const min = bounds.min ?? 1;
  const max = bounds.max ?? 16384;
  const m = /^\s*(\d+)x(\d+)\s*$/i.exec(String(raw));
  if (!m) return { error: 'syntax', min, max };
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w < min || h < min || w > max || h > max) return { error: 'bounds', min, max };
  return [h, w];
}

/** The message for a value parseWidthHeight refused, naming the flag (or option) and the value. */
export function sizeErrorMessage(what: string, raw: string, r: { error: 'syntax' | 'bounds'; min: number; max: number }, example = '256x256', sep = ' '): string {
  return r.error === 'syntax' ? `${what}${sep}${raw}: expected WIDTHxHEIGHT, e.g. ${what}${sep}${example}` : `${what}${sep}${raw}: width and height must be ${r.min}..${r.max}`;
}
