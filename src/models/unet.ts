/**
 * Teacher family: a U-Net (Ronneberger et al., MICCAI 2015) with a pyramid-pooling
 * context block at the bottleneck (PSPNet's PPM, Zhao et al., CVPR 2017), built from
 * the layers that are fast on the wasm backend: 3x3 convs (stride 1/2, 'same'), BN, ReLU,
 * average pooling, bilinear/nearest upsampling, concatenation. No dilated convs.
 *
 * Encoder: 5 stages (stride 1, 2, 4, 8, 16): one conv-BN-ReLU at full resolution, then two
 * per stage (the first one strided).
 * Context: the stride-16 map plus pooled branches (global, 2x2 and 4x4 bins where the map
 * size allows), 1x1-reduced, upsampled back, concatenated, fused by a 1x1 conv: the layer
 * named `features` ([B, h/16, w/16, widths[4]]), used by feature distillation.
 * Decoder: 4 times (upsample x2 bilinear, concat the encoder skip, conv-BN-ReLU, narrower
 * than the encoder: the decoder dominated the FLOPs), then a
 * 1x1 logits head at full input resolution.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from '../config/schema';
import { channels, checkContractArgs, concat, CONTRACT_ARGS, CONTRACT_DEFAULTS, convBn, MAX_CHANNELS, Init, logitsHead, resolveArgs, SymbolicTensor, upsample } from './common';

export const UNET_ARGS = z.strictObject({
  ...CONTRACT_ARGS,
  widths: z.tuple([channels(), channels(), channels(), channels(), channels()]).describe('channels of the 5 encoder stages (stride 1, 2, 4, 8, 16)'),
  decoderWidths: z.tuple([channels(), channels(), channels(), channels()]).describe('channels of the 4 decoder stages (stride 1, 2, 4, 8)'),
  contextChannels: z.int().min(0).max(MAX_CHANNELS).describe('channels of each pooled branch of the context block; 0 disables the block'),
});
export type UnetArgs = z.output<typeof UNET_ARGS>;

export const UNET_STRIDE = 16;

export const UNET_S_DEFAULTS: UnetArgs = {
  ...CONTRACT_DEFAULTS,
  widths: [16, 32, 64, 96, 128],
  decoderWidths: [16, 24, 48, 64],
  contextChannels: 32,
};

export const UNET_M_DEFAULTS: UnetArgs = {
  ...CONTRACT_DEFAULTS,
  widths: [24, 48, 96, 160, 256],
  decoderWidths: [24, 48, 96, 160],
  contextChannels: 64,
};

/** Pool sizes of the context branches for a bottleneck of [bh, bw]: global, then 1/2 and 1/4 of it when integral. */
function contextPools(bh: number, bw: number): [number, number][] {
  const pools: [number, number][] = [[bh, bw]];
  for (const div of [2, 4]) {
    if (bh % div === 0 && bw % div === 0 && bh / div >= 1 && bw / div >= 1 && (bh / div > 1 || bw / div > 1)) {
      pools.push([bh / div, bw / div]);
    }
  }
  return pools;
}

export function buildUnet(name: string, defaults: UnetArgs, given: Record<string, unknown> | undefined, seed: number | undefined) {
  const args = resolveArgs(name, UNET_ARGS, defaults, given);
  checkContractArgs(args, UNET_STRIDE);
  const init = new Init(seed);
  const [h, w] = args.inputSize;
  const widths = args.widths;

  const body = (x: SymbolicTensor): SymbolicTensor => {
    // encoder; skips[i] is at stride 2^i
    const skips: SymbolicTensor[] = [];
    let y = x;
    for (let i = 0; i < 5; i++) {
      y = convBn(y, init, `enc${i}_a`, widths[i], { stride: i === 0 ? 1 : 2 });
      // full resolution is the costliest stage: one conv there, two elsewhere
      if (i > 0) y = convBn(y, init, `enc${i}_b`, widths[i]);
      skips.push(y);
    }
    // context block at stride 16
    const bh = h / UNET_STRIDE;
    const bw = w / UNET_STRIDE;
    if (args.contextChannels > 0) {
      const branches: SymbolicTensor[] = [y];
      contextPools(bh, bw).forEach(([ph, pw], k) => {
        let b = tf.layers.averagePooling2d({ poolSize: [ph, pw], strides: [ph, pw], padding: 'valid', name: `ctx${k}_pool` }).apply(y) as SymbolicTensor;
        b = convBn(b, init, `ctx${k}`, args.contextChannels, { kernel: 1 });
        b = upsample(b, [ph, pw], `ctx${k}_up`, k === 0 ? 'nearest' : 'bilinear');
        branches.push(b);
      });
      y = concat(branches, 'ctx_concat');
      y = convBn(y, init, 'ctx_fuse', widths[4], { kernel: 1 });
    }
    y = tf.layers.activation({ activation: 'linear', name: 'features' }).apply(y) as SymbolicTensor;
    // decoder
    for (let i = 3; i >= 0; i--) {
      y = upsample(y, 2, `dec${i}_up`);
      y = concat([y, skips[i]], `dec${i}_concat`);
      y = convBn(y, init, `dec${i}`, args.decoderWidths[i]);
    }
    return logitsHead(y, init);
  };
  return { args, body, init, stride: UNET_STRIDE };
}
