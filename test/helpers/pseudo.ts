/**
 * `n` seeded values in [0, 1) from a 32-bit linear congruential generator: plain JavaScript, so
 * the same numbers on every backend and runtime (tests that compare backends feed them to both).
 */
export function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s >>> 8) / 2 ** 24;
  }
  return out;
}
