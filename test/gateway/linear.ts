/**
 * A timing check for code that reads attacker-controlled input: the time for an input `factor`
 * times larger must stay within `factor × slack` of a small one's. A linear path passes with
 * room to spare on a loaded machine; a quadratic one takes about `factor²` as long and fails.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';

function timed(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

export function assertLinear<T>(
  label: string,
  make: (size: number) => T,
  work: (input: T) => void,
  options: { readonly small: number; readonly factor?: number; readonly slack?: number },
): void {
  const factor = options.factor ?? 16;
  const slack = options.slack ?? 3;
  const small = make(options.small);
  const large = make(options.small * factor);
  work(small); // warm up: the first run pays for compilation
  const base = Math.max(
    0.5,
    Math.min(
      timed(() => work(small)),
      timed(() => work(small)),
    ),
  );
  const budget = base * factor * slack + 20;
  // A second try for the large input only when the first was over budget (a busy machine).
  let spent = timed(() => work(large));
  if (spent > budget)
    spent = Math.min(
      spent,
      timed(() => work(large)),
    );
  assert.ok(
    spent <= budget,
    `${label}: ${spent.toFixed(1)} ms for ${factor}× the input that took ${base.toFixed(1)} ms (budget ${budget.toFixed(1)} ms)`,
  );
}
