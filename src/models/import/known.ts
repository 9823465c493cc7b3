/**
 * Published graph models recognised by their signature (input and output names), with what
 * importing them needs that the file cannot say: values for the inputs other than the image and
 * the output to keep. The generic importer does the rest (graph_fold.ts, ir.ts); options given by
 * the user (--input-const, --output-node) override a preset's.
 *
 * Robust Video Matting (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance",
 * WACV 2022; PeterL1n/RobustVideoMatting, GPL-3.0: experiments and tests only, never shipped), the
 * MobileNetV3 tfjs conversion: inputs src [1,H,W,3] 0..1, recurrent states r1i..r4i, and
 * downsample_ratio; outputs pha (alpha), fgr, r1o..r4o. Imported as one frame with zero recurrent
 * states (a first frame) and downsample_ratio 1: the net then runs on src itself and RVM skips its
 * deep guided filter refiner (the refiner only runs when it downsamples), so `pha` is the decoder's
 * alpha, clamp(x, 0, 1), at the net's input size: a 'clip01' output. The refiner's role goes to
 * portraitseg's own mask filter (--mask-filter).
 */
import type { OutputKind } from './build';

export interface GraphPreset {
  /** For the log line. */
  name: string;
  inputs: string[];
  outputs: string[];
  constInputs: Record<string, number>;
  outputNode: string;
  output: OutputKind | null;
}

export const GRAPH_PRESETS: readonly GraphPreset[] = [
  {
    name: 'Robust Video Matting (one frame: zero recurrent states, downsample_ratio 1, alpha before the refiner)',
    inputs: ['downsample_ratio', 'r1i', 'r2i', 'r3i', 'r4i', 'src'],
    outputs: ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o'],
    constInputs: { r1i: 0, r2i: 0, r3i: 0, r4i: 0, downsample_ratio: 1 },
    outputNode: 'pha',
    output: 'clip01',
  },
];

/** The preset whose input and output names are exactly the graph's, or null. */
export function findPreset(sig: { inputs: string[]; outputs: string[] }): GraphPreset | null {
  const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);
  return GRAPH_PRESETS.find((p) => same(p.inputs, sig.inputs) && same(p.outputs, sig.outputs)) ?? null;
}
