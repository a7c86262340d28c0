/**
 * Cost checks that hold on a loaded machine: a large run is compared with small runs over the
 * same amount of data, measured in the same test in CPU time of this process (waiting for a core
 * does not count). Linear code spends about as much on both; a quadratic cost is as many times
 * more as the small runs are smaller.
 */
import assert from 'node:assert/strict';

/** Milliseconds of CPU this process spent running `run`. */
export async function cpuMs(run: () => unknown): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/**
 * Asserts that `large` (one run over all the data) costs at most `slack` times as much as
 * `smallBatch` (the same data in small pieces). The batch is warmed up once and measured three
 * times (the cheapest counts); the large run is tried again, at most twice, only when it is
 * near the budget, since a super-linear cost is far over it and would only take longer.
 *
 * @returns a line for the test's diagnostics.
 */
export async function assertLinearCost(options: {
  readonly smallBatch: () => unknown;
  readonly large: () => unknown;
  readonly slack: number;
  readonly what: string;
}): Promise<string> {
  const { smallBatch, large, slack, what } = options;
  await smallBatch();
  let smallMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) smallMs = Math.min(smallMs, await cpuMs(smallBatch));
  const budget = Math.max(smallMs, 1) * slack;
  let largeMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3 && largeMs > budget && (i === 0 || largeMs < budget * 3); i++) {
    largeMs = Math.min(largeMs, await cpuMs(large));
  }
  const line = `${what}: ${largeMs.toFixed(1)} ms of CPU at once, ${smallMs.toFixed(1)} ms in pieces (budget ${budget.toFixed(1)} ms)`;
  assert.ok(largeMs <= budget, line);
  return line;
}
