/**
 * A small seeded generator (mulberry32), so that a scenario's random choices (page positions,
 * request mixes) are the same on every run and two runs measure the same work.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in [0, bound) from `random`. */
export function randomInt(random: () => number, bound: number): number {
  return Math.floor(random() * bound);
}
