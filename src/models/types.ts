/**
 * The model contract shared by training, distillation, eval, export and the runtime.
 *
 * Every portraitseg model is a tf.LayersModel that takes RGB frames in 0..1,
 * [batch, H, W, 3] float32, and returns person *logits* [batch, H, W, 1] at the same H, W.
 * Normalisation (mean/std) is a layer inside the model, so callers only ever feed 0..1.
 * The network itself runs at `inputSize`; models without a mask filter are trained on
 * frames of exactly `inputSize`. Models with a mask filter take frames `filterScale` times
 * larger (the full-resolution guide), run the CNN on a downsampled copy, and the guided
 * filter layer brings the mask back to the frame's resolution.
 */
export interface ModelMeta {
  /** Registry name, e.g. 'unet_teacher_s'. */
  name: string;
  /** Resolved builder arguments (enough to rebuild the same architecture). */
  args: Record<string, unknown>;
  family: 'teacher' | 'student';
  /** [height, width] the CNN runs at. */
  inputSize: [number, number];
  /** Frame size used in training: inputSize * filterScale when the mask filter is on. */
  frameSize: [number, number];
  /** Channel mean/std applied inside the model to 0..1 input. */
  mean: [number, number, number];
  std: [number, number, number];
  /** What the output means. Always 'logits' for our models (sigmoid gives P(person)). */
  output: 'logits';
  /** Total downsampling of the encoder; inputSize must be divisible by it. */
  stride: number;
  /** The mask filter: radius and eps at the net's resolution, frames `scale` x larger, what it filters (absent in models saved before 'prob'). */
  maskFilter: { enabled: boolean; radius: number; eps: number; scale: number; space?: 'prob' | 'logits' } | null;
  params: number;
  version: string;
}
