/**
 * Compositing for background blur and replacement, in tf ops (runs on whatever backend is
 * active: cpu/wasm in Node, wasm/webgl in the browser). Every function is pure on tensors
 * and leaves no intermediate tensors behind (tf.tidy).
 *
 * Background blur is a mask-weighted ("normalised convolution") blur:
 *   bg = blur(frame * (1 - m)) / blur(1 - m)
 * so person colours do not bleed into the blurred background as a halo around the
 * silhouette (Knutsson & Westin, "Normalized and differential convolution", CVPR 1993;
 * the same trick as Google Meet's background blur write-up). The blur itself is three box
 * passes (close to a Gaussian, Wells 1986) run on a copy downscaled so that each box stays
 * a few pixels wide, then upsampled bilinearly: its cost barely depends on `strength`.
 */
import * as tf from '@tensorflow/tfjs';

export interface BlurOptions {
  /** Blur radius in pixels of the frame (about the Gaussian sigma * 2). 0 = no blur. Default 12. */
  strength?: number;
  /** Feathering of the mask edge, in pixels (box radius). 0 = the model's mask as is. Default 2. */
  edgeFeather?: number;
}

export const DEFAULT_STRENGTH = 12;
export const DEFAULT_FEATHER = 2;

/** Mean over a (2r+1)^2 window, valid pixels only. x: [1,H,W,C]. */
export function boxBlur(x: tf.Tensor4D, r: number): tf.Tensor4D {
  if (r < 1) return x.clone();
  return tf.tidy(() => {
    const k = 2 * r + 1;
    // separable: tfjs avgPool with 'same' averages over the valid pixels only (TF semantics)
    const h = tf.avgPool(x, [1, k], 1, 'same');
    return tf.avgPool(h, [k, 1], 1, 'same') as tf.Tensor4D;
  });
}

/** Softens the mask edge. mask: [1,H,W,1] in 0..1. */
export function featherMask(mask: tf.Tensor4D, edgeFeather: number): tf.Tensor4D {
  const r = Math.max(0, Math.round(edgeFeather));
  return r < 1 ? mask.clone() : boxBlur(mask, r);
}

/**
 * Approximately Gaussian blur of radius `strength` px: downscale, three box passes, upscale.
 * x: [1,H,W,C] float.
 */
export function fastBlur(x: tf.Tensor4D, strength: number): tf.Tensor4D {
  if (strength < 0.5) return x.clone();
  return tf.tidy(() => {
    const [, H, W] = x.shape;
    const down = Math.max(1, Math.floor(strength / 3));
    const h = Math.max(1, Math.round(H / down));
    const w = Math.max(1, Math.round(W / down));
    let y = down > 1 ? tf.image.resizeBilinear(x, [h, w], false, true) : x;
    const r = Math.max(1, Math.round(strength / down / 2));
    for (let i = 0; i < 3; i++) y = boxBlur(y, r);
    return (down > 1 ? tf.image.resizeBilinear(y, [H, W], false, true) : y) as tf.Tensor4D;
  });
}

/**
 * Blurred background composite. frame: [1,H,W,3] 0..1, mask: [1,H,W,1] P(person) 0..1.
 * Returns [1,H,W,3] 0..1.
 */
export function blurComposite(frame: tf.Tensor4D, mask: tf.Tensor4D, opts: BlurOptions = {}): tf.Tensor4D {
  const strength = opts.strength ?? DEFAULT_STRENGTH;
  const feather = opts.edgeFeather ?? DEFAULT_FEATHER;
  return tf.tidy(() => {
    const m = featherMask(mask, feather);
    const inv = tf.sub(1, m) as tf.Tensor4D;
    // blur [frame * (1-m), (1-m)] together: one pass over 4 channels
    const both = fastBlur(tf.concat([frame.mul(inv), inv], 3) as tf.Tensor4D, strength);
    const [num, den] = tf.split(both, [3, 1], 3);
    // where den ~ 0 the whole neighbourhood is person, and so is the pixel (inv ~ 0): bg is unused there
    const bg = num.div(den.maximum(1e-3));
    return frame.mul(m).add(bg.mul(inv)).clipByValue(0, 1) as tf.Tensor4D;
  });
}

/** Replacement composite: background [1,h,w,3] 0..1 of any size is stretched to the frame's. */
export function replaceComposite(frame: tf.Tensor4D, mask: tf.Tensor4D, background: tf.Tensor4D, edgeFeather = DEFAULT_FEATHER): tf.Tensor4D {
  return tf.tidy(() => {
    const [, H, W] = frame.shape;
    const bg = background.shape[1] === H && background.shape[2] === W ? background : tf.image.resizeBilinear(background, [H, W], false, true);
    const m = featherMask(mask, edgeFeather);
    return frame.mul(m).add(bg.mul(tf.sub(1, m))).clipByValue(0, 1) as tf.Tensor4D;
  });
}
