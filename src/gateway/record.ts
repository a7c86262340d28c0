import { createGroupCommit, type AuditEventRow, type Store } from '../store/index.js';

/** Writes gateway audit events with group commit: concurrent calls share one transaction. */
export interface CallRecorder {
  /**
   * Resolves once every row is committed; rejects when the write failed (nothing is durable).
   * Aborting `signal` withdraws the rows that still wait for a batch (a caller that gave up);
   * rows already in a batch may still commit.
   */
  write(rows: readonly AuditEventRow[], signal?: AbortSignal): Promise<void>;
  /**
   * For rows no call waits on (outcomes): they ride with the next `write`'s transaction, or are
   * written on their own within a few milliseconds; the promise settles when they are.
   */
  writeLater(rows: readonly AuditEventRow[]): Promise<void>;
  drain(): Promise<void>;
}

/**
 * A bound on one transaction's size (in calls, each a few rows), so that one slow batch does not
 * hold many callers.
 */
const MAX_BATCH = 256;
/**
 * A bound on calls waiting for a batch while the database is slow: beyond it calls are refused at
 * once (503) instead of queueing behind a stall.
 */
const MAX_QUEUED = 10_000;

export function createCallRecorder(deps: { append: Store['appendAuditEvents'] }): CallRecorder {
  // One item per call, its rows together: they commit in one transaction (all or nothing), and a
  // call costs one promise and one abort listener however many rows it writes.
  const commits = createGroupCommit<readonly AuditEventRow[]>({
    maxBatch: MAX_BATCH,
    maxQueued: MAX_QUEUED,
    write: (calls) => deps.append(calls.length === 1 ? (calls[0] ?? []) : calls.flat()),
  });
  return {
    write: (rows, signal) => (rows.length === 0 ? Promise.resolve() : commits.submit(rows, signal)),
    writeLater: (rows) => (rows.length === 0 ? Promise.resolve() : commits.submitLater(rows)),
    drain: () => commits.drain(),
  };
}
