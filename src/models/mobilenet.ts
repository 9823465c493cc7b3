/**
 * Student family: MobileNetV2 inverted residuals (Sandler et al., CVPR 2018: 1x1 expand,
 * 3x3 depthwise, 1x1 linear projection, ReLU6, residual when shapes match) with a width
 * multiplier, a LR-ASPP-style context gate (MobileNetV3, Howard et al., ICCV 2019: a 1x1
 * branch multiplied by a sigmoid of globally pooled features) and a small decoder with two
 * skips (stride 8 and 4). Logits come out at stride 4 and are upsampled x4 bilinearly to
 * the input size (then to the frame size by the contract wrapper or the mask filter).
 *
 * The last encoder block's output is the layer named `features` ([B, h/16, w/16, C]).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from '../config/schema';
import { channels, checkContractArgs, concat, CONTRACT_ARGS, CONTRACT_DEFAULTS, convBn, dwBn, Init, logitsHead, makeDivisible, resolveArgs, SymbolicTensor, upsample } from './common';

export const MOBILENET_ARGS = z.strictObject({
  ...CONTRACT_ARGS,
  width: z.number().gt(0).max(4).describe('width multiplier on every encoder channel count'),
  expansion: z.number().min(1).max(16).describe('expansion ratio of the inverted residuals (6 in MobileNetV2, we default to 4)'),
  decoderChannels: channels().describe('channels of the decoder'),
});
export type MobileNetArgs = z.output<typeof MOBILENET_ARGS>;

export const MNV2_STRIDE = 16;

/** [expansion (null = args.expansion), channels, repeats, stride], MobileNetV2 truncated at stride 16. */
const BLOCKS: [number | null, number, number, number][] = [
  [1, 16, 1, 1], // stride 2
  [null, 24, 2, 2], // stride 4
  [null, 32, 3, 2], // stride 8
  [null, 64, 3, 2], // stride 16
  [null, 96, 2, 1], // stride 16
];

export const MNV2_XS_DEFAULTS: MobileNetArgs = { ...CONTRACT_DEFAULTS, width: 0.35, expansion: 3, decoderChannels: 16 };
export const MNV2_S_DEFAULTS: MobileNetArgs = { ...CONTRACT_DEFAULTS, width: 0.5, expansion: 4, decoderChannels: 24 };
export const MNV2_M_DEFAULTS: MobileNetArgs = { ...CONTRACT_DEFAULTS, width: 1.0, expansion: 6, decoderChannels: 48 };

function invertedResidual(x: SymbolicTensor, init: Init, name: string, cin: number, cout: number, expansion: number, stride: number): SymbolicTensor {
  let y = x;
  if (expansion !== 1) y = convBn(y, init, `${name}_expand`, makeDivisible(cin * expansion), { kernel: 1, activation: 'relu6' });
  y = dwBn(y, init, `${name}_depthwise`, { stride, activation: 'relu6' });
  y = convBn(y, init, `${name}_project`, cout, { kernel: 1, activation: 'none' });
  if (stride === 1 && cin === cout) y = tf.layers.add({ name: `${name}_add` }).apply([x, y]) as SymbolicTensor;
  return y;
}

/** Depthwise-separable conv: dw 3x3 -> BN -> ReLU6 -> 1x1 -> BN -> ReLU6. */
function sepConv(x: SymbolicTensor, init: Init, name: string, filters: number): SymbolicTensor {
  const y = dwBn(x, init, `${name}_dw`, { activation: 'relu6' });
  return convBn(y, init, `${name}_pw`, filters, { kernel: 1, activation: 'relu6' });
}

export function buildMobileNet(name: string, defaults: MobileNetArgs, given: Record<string, unknown> | undefined, seed: number | undefined) {
  const args = resolveArgs(name, MOBILENET_ARGS, defaults, given);
  checkContractArgs(args, MNV2_STRIDE);
  const init = new Init(seed);
  const [h, w] = args.inputSize;
  const dec = args.decoderChannels;

  const body = (x: SymbolicTensor): SymbolicTensor => {
    let cin = makeDivisible(32 * args.width);
    let y = convBn(x, init, 'stem', cin, { stride: 2, activation: 'relu6' });
    let stride = 2;
    const skips: Record<number, SymbolicTensor> = {};
    BLOCKS.forEach(([t, c, n, s], bi) => {
      const cout = makeDivisible(c * args.width);
      for (let r = 0; r < n; r++) {
        const st = r === 0 ? s : 1;
        y = invertedResidual(y, init, `block${bi}_${r}`, cin, cout, t ?? args.expansion, st);
        cin = cout;
        stride *= st;
      }
      skips[stride] = y; // last block output at each stride
    });
    const features = tf.layers.activation({ activation: 'linear', name: 'features' }).apply(y) as SymbolicTensor;
    // LR-ASPP context: 1x1 branch gated by sigmoid(1x1(global average))
    const bh = h / MNV2_STRIDE;
    const bw = w / MNV2_STRIDE;
    const branch = convBn(features, init, 'ctx_branch', dec * 2, { kernel: 1 });
    let gate = tf.layers.averagePooling2d({ poolSize: [bh, bw], strides: [bh, bw], padding: 'valid', name: 'ctx_pool' }).apply(features) as SymbolicTensor;
    gate = tf.layers
      .conv2d({ filters: dec * 2, kernelSize: 1, activation: 'sigmoid', kernelInitializer: init.glorot('ctx_gate'), name: 'ctx_gate' })
      .apply(gate) as SymbolicTensor;
    gate = upsample(gate, [bh, bw], 'ctx_gate_up', 'nearest');
    y = tf.layers.multiply({ name: 'ctx_mul' }).apply([branch, gate]) as SymbolicTensor;
    // decoder: stride 16 -> 8 -> 4
    y = upsample(y, 2, 'dec8_up');
    y = concat([y, skips[8]], 'dec8_concat');
    y = sepConv(y, init, 'dec8', dec);
    y = upsample(y, 2, 'dec4_up');
    y = concat([y, skips[4]], 'dec4_concat');
    y = sepConv(y, init, 'dec4', dec);
    y = logitsHead(y, init);
    return upsample(y, 4, 'head_up'); // [B, h, w, 1]
  };
  return { args, body, init, stride: MNV2_STRIDE };
}
