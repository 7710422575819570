/** Random choices that can be made reproducible with a seed. */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * A seeded generator (mulberry32: small, fast, good enough for picking
 * intervals and like counts; not for secrets). Without a seed, Math.random.
 */
export function createRandom(seed?: number): Random {
  if (seed === undefined) return Math.random;
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max], both included. */
export function randomInt(random: Random, min: number, max: number): number {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) {
    throw new RangeError(`Cannot pick an integer: need integers min <= max, got ${min} and ${max}`);
  }
  return min + Math.floor(random() * (max - min + 1));
}

/** A child's seed derived from the parent's, so each child differs but all are reproducible. */
export function deriveSeed(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}
