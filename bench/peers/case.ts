/** What a peers case is given and what it hands back: rows of Steward against its peer. */
import type { DatabaseKind } from '../harness/databases.js';
import type { LoadGenerator } from '../harness/load.js';
import type { TargetFigures, Timing } from './measure.js';

export interface PeerContext {
  readonly generator: LoadGenerator;
  readonly timing: Timing;
  /** The databases the token and gateway cases run Steward on: SQLite, and PostgreSQL when given. */
  readonly databases: readonly DatabaseKind[];
  /** The one database of the authorize case (`--db`, SQLite by default). */
  readonly primary: DatabaseKind;
  readonly log: (message: string) => void;
  /** A comparison for the table and the results file. */
  readonly record: (row: PeerRow) => void;
  /** A line for what was not measured, and why (printed and kept in the results file). */
  readonly skip: (line: string) => void;
  /** Facts about the setup worth keeping with the figures. */
  readonly detail: (key: string, value: string | number) => void;
}

export interface Side {
  readonly label: string;
  readonly figures: TargetFigures;
}

export interface PeerRow {
  /** `authorize`, `token`, `gateway`, `mcp`. */
  readonly case: string;
  /** What differs between the rows of a case: `1,000 rules`, `sqlite`… */
  readonly variant: string;
  readonly steward: Side;
  /** None where Steward runs alone (a size the peer is not run at). */
  readonly peer?: Side;
}

export interface PeerCase {
  readonly name: string;
  readonly summary: string;
  run(context: PeerContext): Promise<void>;
}
