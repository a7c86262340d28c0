import { summarize, type Stats } from './stats.js';

/** One thing to time: an operation run once per call, given its own call number (0, 1, 2, …). */
export interface Case {
  readonly label: string;
  readonly run: (call: number) => Promise<unknown>;
  /**
   * Measured calls for this case; defaults to the measurement's `iterations`. A slower case (a
   * contrast that takes milliseconds) may take fewer samples and is then spread evenly over the
   * rounds, so it still sees the same conditions as the others.
   */
  readonly iterations?: number;
  /** Unrecorded calls for this case; defaults to the measurement's `warmup`. */
  readonly warmup?: number;
}

export interface Measured {
  readonly label: string;
  readonly warmup: number;
  readonly stats: Stats;
}

export interface MeasureOptions {
  /** Unrecorded calls per case first: JIT, statement caches, connection pool, page cache. */
  readonly warmup: number;
  /** Recorded calls per case (unless the case says otherwise). */
  readonly iterations: number;
  /** Called at every tenth of the rounds with the share done, for a progress line. */
  readonly onProgress?: (done: number) => void;
}

/**
 * Times each case one call at a time, interleaved round by round: round r runs every due case
 * once, starting from case r mod k, so with two cases the order is AB BA AB BA…. On a noisy shared
 * machine a burst of load, a GC pause or a checkpoint then lands on all cases alike instead of on
 * whichever happened to run during it, and the ratio between them stays meaningful.
 *
 * Each call is timed alone with the monotonic high-resolution clock (`process.hrtime.bigint`).
 */
export async function measureInterleaved(
  cases: readonly Case[],
  options: MeasureOptions,
): Promise<Measured[]> {
  const counts = cases.map((c) => c.iterations ?? options.iterations);
  const warmups = cases.map((c) => c.warmup ?? options.warmup);
  const rounds = Math.max(...counts);
  const samples = counts.map((count) => new Float64Array(count));
  const calls = cases.map(() => 0);
  const recorded = cases.map(() => 0);

  const call = async (index: number): Promise<bigint> => {
    const target = cases[index];
    if (target === undefined) throw new RangeError(`no case ${index}`);
    const number = calls[index] ?? 0;
    calls[index] = number + 1;
    const start = process.hrtime.bigint();
    await target.run(number);
    return process.hrtime.bigint() - start;
  };

  for (let round = 0; round < Math.max(...warmups); round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (round + k) % cases.length;
      if (round < (warmups[index] ?? 0)) await call(index);
    }
  }

  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (round + k) % cases.length;
      const count = counts[index] ?? 0;
      const done = recorded[index] ?? 0;
      // Due when this case is behind its even share of the rounds so far.
      if (done >= count || done * rounds > round * count) continue;
      const elapsed = await call(index);
      const target = samples[index];
      if (target !== undefined) target[done] = Number(elapsed);
      recorded[index] = done + 1;
    }
    if (options.onProgress && round > 0 && round % Math.ceil(rounds / 10) === 0) {
      options.onProgress(round / rounds);
    }
  }

  return cases.map((c, index) => ({
    label: c.label,
    warmup: warmups[index] ?? 0,
    stats: summarize(samples[index] ?? new Float64Array()),
  }));
}
