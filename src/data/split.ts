/** Deterministic train/val split that is stable when files are added or removed. */

/** FNV-1a 32-bit hash of a string, with murmur3's finaliser so the high bits are uniform too. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Each ref goes to val when hash(seed/id) / 2^32 < valFraction, so a ref's side depends
 * only on its own id and the seed: adding files never moves the others. The val share is
 * therefore close to, not exactly, valFraction. With valFraction > 0 and at least two refs,
 * val gets at least one ref (the one with the smallest hash). Input order is kept.
 */
export function splitRefs<T extends { id: string }>(refs: readonly T[], valFraction: number, seed: number | string): { train: T[]; val: T[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`splitRefs: valFraction must be in [0, 1), got ${valFraction}`);
  const u = refs.map((r) => hash32(`${seed}/${r.id}`) / 4294967296);
  const isVal = u.map((x) => x < valFraction);
  if (valFraction > 0 && refs.length >= 2 && !isVal.includes(true)) {
    let best = 0;
    for (let i = 1; i < u.length; i++) if (u[i] < u[best]) best = i;
    isVal[best] = true;
  }
  return { train: refs.filter((_, i) => !isVal[i]), val: refs.filter((_, i) => isVal[i]) };
}
