import type { Store } from '../../src/store/index.js';
import type { DatabaseKind } from './databases.js';
import type { Measured } from './measure.js';

/** A named benchmark: `npm run bench <name>`. One file per scenario under `bench/scenarios/`. */
export interface Scenario {
  readonly name: string;
  /** One line for `--list` and the results file. */
  readonly summary: string;
  /** Whether `--db` applies; a scenario without a database writes `<name>.json`. */
  readonly usesDatabase: boolean;
  /**
   * The engines the scenario can run on, when not every one (replicas that share a database need
   * PostgreSQL). On another `--db` the runner prints a line saying so and skips it.
   */
  readonly databases?: readonly DatabaseKind[];
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}

export interface ScenarioContext {
  readonly database: DatabaseKind;
  /** A fresh, migrated store, removed by the harness when the scenario ends (even on failure). */
  openStore(): Promise<Store>;
  /**
   * The scenario's main iteration count: its default, or `--iterations` when given. Scenarios
   * derive their other counts (warm-up, slower contrasts) from it.
   */
  iterations(defaultCount: number): number;
  /** A progress line on stderr; the table and the results file stay clean. */
  log(message: string): void;
}

/** What a ratio is computed on; each comparison reports all three, a goal names one. */
export type Metric = 'median' | 'p99' | 'throughput';

/** A target for one ratio subject/baseline, e.g. p99 at most 1.5 times the baseline's. */
export interface Goal {
  readonly metric: Metric;
  readonly atMost?: number;
  readonly atLeast?: number;
  /** In words, for the table and the results file. */
  readonly text: string;
}

/** Compare the measurement labelled `subject` with the one labelled `baseline`. */
export interface ComparisonSpec {
  readonly subject: string;
  readonly baseline: string;
  readonly goal?: Goal;
}

/**
 * An absolute target for one measurement, where no baseline fits: a revocation must reach the
 * other replica within a second, whatever anything else costs.
 */
export interface Limit {
  readonly measurement: string;
  readonly metric: 'median' | 'p99';
  readonly atMostMs: number;
  /** In words, for the table and the results file. */
  readonly text: string;
}

export interface ScenarioOutcome {
  readonly measurements: readonly Measured[];
  readonly comparisons: readonly ComparisonSpec[];
  readonly limits?: readonly Limit[];
  /** Facts about the setup worth keeping with the figures (table sizes, build times). */
  readonly details?: Readonly<Record<string, string | number>>;
}
