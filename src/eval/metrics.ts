/**
 * Segmentation metrics, accumulated image by image at the image's own resolution.
 *
 * - mIoU: mean of person IoU and background IoU, where each IoU sums intersections and unions
 *   over the whole set (dataset-level, as in PaddleSeg / mmsegmentation), not a mean of per-image IoUs.
 * - boundary F-score (Perazzi et al., CVPR 2016, DAVIS "F"): boundary pixels of the thresholded
 *   prediction and of the ground truth are matched within `tolerance` px (Euclidean);
 *   F = 2PR / (P + R) per image, averaged over images (1 when both have no boundary).
 * - MAE: mean absolute error between the soft prediction and the (soft) ground truth, per pixel over the set.
 */

export interface MetricOptions {
  threshold: number;
  /** Boundary match tolerance in pixels. */
  boundaryTolerance: number;
  /** How many worst images (by person IoU) to keep. */
  worst: number;
}

export interface ImageMetrics {
  id: string;
  /** Person IoU of this image (1 when prediction and truth are both empty). */
  iou: number;
  boundaryF: number;
  mae: number;
}

export interface EvalMetrics {
  miou: number;
  personIou: number;
  backgroundIou: number;
  boundaryF: number;
  mae: number;
  count: number;
  worst: ImageMetrics[];
}

/** Inner boundary: foreground pixels with a 4-neighbour (inside the frame) in the background. */
export function boundaryMap(bin: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!bin[i]) continue;
      if ((x > 0 && !bin[i - 1]) || (x < w - 1 && !bin[i + 1]) || (y > 0 && !bin[i - w]) || (y < h - 1 && !bin[i + w])) out[i] = 1;
    }
  }
  return out;
}

function diskOffsets(r: number): [number, number][] {
  const out: [number, number][] = [];
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) out.push([dx, dy]);
  return out;
}

/** Fraction of boundary pixels of `a` that have a boundary pixel of `b` within the disk offsets. */
function matched(a: Uint8Array, b: Uint8Array, w: number, h: number, offs: [number, number][]): { hit: number; total: number } {
  let hit = 0;
  let total = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!a[y * w + x]) continue;
      total++;
      for (const [dx, dy] of offs) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < w && yy < h && b[yy * w + xx]) {
          hit++;
          break;
        }
      }
    }
  }
  return { hit, total };
}

/** Boundary F-score of two binary masks (1 = person) with a pixel tolerance. */
export function boundaryFScore(pred: Uint8Array, gt: Uint8Array, w: number, h: number, tolerance: number): number {
  const bp = boundaryMap(pred, w, h);
  const bg = boundaryMap(gt, w, h);
  const offs = diskOffsets(tolerance);
  const p = matched(bp, bg, w, h, offs);
  const r = matched(bg, bp, w, h, offs);
  if (p.total === 0 && r.total === 0) return 1;
  if (p.total === 0 || r.total === 0) return 0;
  const P = p.hit / p.total;
  const R = r.hit / r.total;
  return P + R > 0 ? (2 * P * R) / (P + R) : 0;
}

/** Ground truth as probabilities 0..1: Uint8Array is 0..255, Float32Array is 0..1. */
function gtProb(gt: Uint8Array | Float32Array, i: number): number {
  return gt instanceof Uint8Array ? gt[i] / 255 : gt[i];
}

export class MetricsAccumulator {
  private interP = 0;
  private unionP = 0;
  private interB = 0;
  private unionB = 0;
  private absErr = 0;
  private pixels = 0;
  private fSum = 0;
  private images: ImageMetrics[] = [];

  constructor(readonly opts: MetricOptions) {}

  /** Adds one image: `prob` = P(person) in 0..1, `gt` the mask (Uint8 0..255 or Float32 0..1), both h*w. */
  add(id: string, prob: Float32Array, gt: Uint8Array | Float32Array, w: number, h: number): ImageMetrics {
    const n = w * h;
    if (prob.length !== n || gt.length !== n) throw new Error(`metrics ${id}: prediction has ${prob.length} pixels, mask ${gt.length}, image ${w}x${h}`);
    const t = this.opts.threshold;
    const pb = new Uint8Array(n);
    const gb = new Uint8Array(n);
    let iP = 0;
    let uP = 0;
    let iB = 0;
    let uB = 0;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const g = gtProb(gt, i);
      const p = prob[i] > t ? 1 : 0;
      const q = g >= 0.5 ? 1 : 0;
      pb[i] = p;
      gb[i] = q;
      if (p & q) iP++;
      if (p | q) uP++;
      if (!p && !q) iB++;
      if (!p || !q) uB++;
      err += Math.abs(prob[i] - g);
    }
    this.interP += iP;
    this.unionP += uP;
    this.interB += iB;
    this.unionB += uB;
    this.absErr += err;
    this.pixels += n;
    const f = boundaryFScore(pb, gb, w, h, this.opts.boundaryTolerance);
    this.fSum += f;
    const m: ImageMetrics = { id, iou: uP === 0 ? 1 : iP / uP, boundaryF: f, mae: err / n };
    this.images.push(m);
    return m;
  }

  get count(): number {
    return this.images.length;
  }

  result(): EvalMetrics {
    const personIou = this.unionP === 0 ? 1 : this.interP / this.unionP;
    const backgroundIou = this.unionB === 0 ? 1 : this.interB / this.unionB;
    const worst = [...this.images].sort((a, b) => a.iou - b.iou || a.id.localeCompare(b.id)).slice(0, this.opts.worst);
    return {
      miou: (personIou + backgroundIou) / 2,
      personIou,
      backgroundIou,
      boundaryF: this.images.length ? this.fSum / this.images.length : 0,
      mae: this.pixels ? this.absErr / this.pixels : 0,
      count: this.images.length,
      worst,
    };
  }
}
