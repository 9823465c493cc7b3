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
import { z } from '../config/schema';

const finite = () => z.number();
const pair = () => z.tuple([z.int().min(1), z.int().min(1)]).meta({ expected: '[height, width] positive integers' });

export const MODEL_META = z.looseObject({
  name: z.string().min(1).meta({ expected: 'a model name' }).describe("registry name, e.g. 'unet_teacher_s'"),
  args: z.record(z.string(), z.unknown()).meta({ expected: 'an object' }).describe('resolved builder arguments (enough to rebuild the same architecture)'),
  family: z.enum(['teacher', 'student']).meta({ expected: '"teacher" or "student"' }),
  inputSize: pair().describe('[height, width] the CNN runs at'),
  frameSize: pair().describe('frame size used in training: inputSize * filterScale when the mask filter is on'),
  mean: z.tuple([finite(), finite(), finite()]).meta({ expected: 'three numbers' }).describe('channel mean applied inside the model to 0..1 input'),
  std: z.tuple([finite().gt(0), finite().gt(0), finite().gt(0)]).meta({ expected: 'three positive numbers' }).describe('channel std applied inside the model'),
  output: z.literal('logits').meta({ expected: '"logits"' }).describe("what the output means: always 'logits' for our models (sigmoid gives P(person))"),
  stride: z.int().min(1).meta({ expected: 'a positive integer' }).describe('total downsampling of the encoder; inputSize must be divisible by it'),
  maskFilter: z
    .strictObject({ enabled: z.boolean(), radius: finite(), eps: finite(), scale: finite(), space: z.enum(['prob', 'logits']).optional() })
    .nullable()
    .default(null)
    .meta({ expected: 'null or {enabled, radius, eps, scale, space?}' })
    .describe("the mask filter: radius and eps at the net's resolution, frames `scale` x larger, what it filters (absent in models saved before 'prob')"),
  params: finite().min(0).meta({ expected: 'a parameter count' }),
  version: z.string().default('unknown').meta({ expected: 'a version string' }),
});
export type ModelMeta = z.output<typeof MODEL_META>;
