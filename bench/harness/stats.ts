/**
 * Summary statistics over latency samples in nanoseconds.
 *
 * Percentiles interpolate linearly between the two closest ranks of the sorted samples (the R-7
 * definition, numpy's and Excel's PERCENTILE.INC default), so the median of an even count is the
 * mean of the two middle samples and p99 of 10,000 samples sits between the 9,900th and 9,901st.
 */

export interface Stats {
  readonly count: number;
  readonly medianNs: number;
  readonly p99Ns: number;
  readonly meanNs: number;
  readonly minNs: number;
  readonly maxNs: number;
  /**
   * Operations per second of time spent in the operation itself: count / sum of latencies. For a
   * closed loop of one operation at a time this is what one caller can sustain; it excludes the
   * time the interleaved cases spent running, which the wall clock would wrongly include.
   */
  readonly opsPerSec: number;
}

/** The `p`-th percentile (0–100) of samples sorted ascending. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower] ?? Number.NaN;
  const high = sorted[upper] ?? Number.NaN;
  return low + (high - low) * (rank - lower);
}

export function summarize(samplesNs: Float64Array): Stats {
  const sorted = Float64Array.from(samplesNs).sort();
  let total = 0;
  for (const sample of sorted) total += sample;
  return {
    count: sorted.length,
    medianNs: percentile(sorted, 50),
    p99Ns: percentile(sorted, 99),
    meanNs: total / sorted.length,
    minNs: sorted[0] ?? Number.NaN,
    maxNs: sorted[sorted.length - 1] ?? Number.NaN,
    opsPerSec: sorted.length / (total / 1e9),
  };
}
