/** Area (box) resampling of host rasters: how a teacher's frames and targets reach the student's frame size. */

/** Per-axis weights of an area (box) resample from n to m pixels: for each output, [source index, weight] pairs summing to 1. */
function areaWeights(n: number, m: number): [number, number][][] {
  const scale = n / m;
  const out: [number, number][][] = [];
  for (let o = 0; o < m; o++) {
    const a = o * scale;
    const b = (o + 1) * scale;
    const ws: [number, number][] = [];
    for (let j = Math.floor(a); j < Math.min(n, Math.ceil(b)); j++) {
      const w = Math.min(b, j + 1) - Math.max(a, j);
      if (w > 1e-9) ws.push([j, w / scale]);
    }
    out.push(ws);
  }
  return out;
}

/**
 * Area resample of `rows` HWC rasters from [h, w] to [H, W] (each output pixel the mean of the
 * input area it covers; an exact mean of k x k blocks for integer factors). Deterministic, on the host.
 */
export function areaResize(data: Float32Array, rows: number, h: number, w: number, c: number, H: number, W: number): Float32Array {
  if (h === H && w === W) return data.slice();
  const wy = areaWeights(h, H);
  const wx = areaWeights(w, W);
  const out = new Float32Array(rows * H * W * c);
  const tmp = new Float32Array(h * W * c);
  for (let r = 0; r < rows; r++) {
    const src = r * h * w * c;
    tmp.fill(0);
    for (let y = 0; y < h; y++) {
      for (let X = 0; X < W; X++) {
        for (const [x, wgt] of wx[X]) {
          const si = src + (y * w + x) * c;
          const ti = (y * W + X) * c;
          for (let k = 0; k < c; k++) tmp[ti + k] += wgt * data[si + k];
        }
      }
    }
    const dst = r * H * W * c;
    for (let Y = 0; Y < H; Y++) {
      for (const [y, wgt] of wy[Y]) {
        for (let i = 0; i < W * c; i++) out[dst + Y * W * c + i] += wgt * tmp[y * W * c + i];
      }
    }
  }
  return out;
}
