/** The sample record that flows files -> samples -> augmented batches. */
import type { GrayImage, RgbImage } from '../util/image';

export interface Sample {
  /** Stable id (file stem or path relative to the dataset root); used for splits, caches and reports. */
  id: string;
  image: RgbImage;
  /** Person mask (0..255, soft allowed). null for unlabeled images. */
  mask: GrayImage | null;
}

/** A sample that has not been decoded yet. */
export interface SampleRef {
  id: string;
  imagePath: string;
  /** Mask file; null for unlabeled images. When `maskFromAlpha`, the mask is the image's alpha channel. */
  maskPath: string | null;
  maskFromAlpha?: boolean;
}

/** A batch ready for the model, on the host (the trainer makes tensors from it). */
export interface HostBatch {
  size: number;
  height: number;
  width: number;
  /** [size, height, width, 3] RGB in 0..1 */
  images: Float32Array;
  /** [size, height, width, 1] person probability in 0..1; rows of unlabeled samples are zero. */
  masks: Float32Array;
  /** 1 where the sample has a mask, 0 for unlabeled samples. */
  hasMask: Uint8Array;
  ids: string[];
}
