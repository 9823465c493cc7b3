/**
 * Seeded random numbers. Every random choice in portraitseg goes through an injected
 * Rng (never Math.random), so runs are reproducible and tests can pin outcomes.
 */
import seedrandom from 'seedrandom';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer uniform in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: T[]): T[];
  /** An independent generator derived from this one's seed and a label (stable, order-independent). */
  fork(label: string | number): Rng;
  /** The seed this generator was made from. */
  readonly seed: string;
}

export function makeRng(seed: string | number): Rng {
  const seedStr = String(seed);
  const gen = seedrandom.alea(seedStr);
  const rng: Rng = {
    seed: seedStr,
    next: () => gen(),
    uniform: (lo, hi) => lo + (hi - lo) * gen(),
    int: (lo, hi) => lo + Math.floor(gen() * (hi - lo + 1)),
    normal: () => {
      const u = Math.max(gen(), 1e-12);
      const v = gen();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => gen() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('Rng.pick: empty list');
      return items[Math.floor(gen() * items.length)];
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(gen() * (i + 1));
        [items[i], items[j]] = [items[j], items[i]];
      }
      return items;
    },
    fork: (label) => makeRng(`${seedStr}/${label}`),
  };
  return rng;
}
