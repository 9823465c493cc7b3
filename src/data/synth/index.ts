/**
 * Procedural portrait data: people-like subjects (head, hair with stringy edges, ears, face
 * features, neck, shoulders, torso, arms sometimes raised, hands) in varied skin tones and
 * clothes textures, composited on procedural rooms / outdoor scenes / textures or on given
 * background photos. Shapes are signed-distance functions rendered with analytic pixel
 * coverage, so image edges are anti-aliased and the mask is the exact coverage of the person
 * (soft only along the 1-px boundary; the loader thresholds it at 0.5 in binary mode).
 *
 * Hard cases on purpose: partial crops at the frame edges, person-coloured objects in the
 * background (not in the mask), objects in front of the person (cut from the mask), a
 * second person, blurred and sharp backgrounds, colour casts and sensor noise.
 *
 * One file per concept: canvas.ts (the canvas and painting a shape with analytic coverage),
 * geometry.ts (signed distance primitives), noise.ts, colour.ts (palettes, textures, shading),
 * backgrounds.ts (the procedural scenes and photo crops), person.ts (the person painter),
 * sample.ts (one portrait and the camera), dataset.ts (the folder writer).
 */
export { synthSample } from './sample';
export type { SynthOptions } from './sample';
export { proceduralBackground } from './backgrounds';
export { writeSynthDataset, coverage } from './dataset';
export type { WriteSynthOptions, SynthDatasetInfo } from './dataset';
