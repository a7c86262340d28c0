/**
 * A timing check for code that reads attacker-controlled input: one input `factor` times larger
 * must cost about what `factor` runs on the small input cost (the same number of bytes). A
 * linear path does, give or take a collection on a loaded machine (`slack`); a quadratic one
 * costs about `factor` times more and fails. Measuring the same amount of work on both sides
 * keeps the check robust where absolute budgets are not.
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
  const slack = options.slack ?? 4;
  const small = make(options.small);
  const large = make(options.small * factor);
  const repeated = (): void => {
    for (let i = 0; i < factor; i++) work(small);
  };
  // Warm up: the first runs pay for compilation, and for growing the heap.
  repeated();
  // Up to five trials, each measuring both sides afresh: a busy machine or a collection can
  // spoil one trial, but a quadratic path is over budget in every one.
  let base = 0;
  let spent = Infinity;
  let budget = 0;
  for (let trial = 0; trial < 5 && spent > budget; trial++) {
    base = timed(repeated);
    budget = base * slack + 5;
    spent = timed(() => work(large));
  }
  assert.ok(
    spent <= budget,
    `${label}: ${spent.toFixed(1)} ms for one input ${factor}× larger, ${base.toFixed(1)} ms for ${factor} small ones (budget ${budget.toFixed(1)} ms)`,
  );
}
