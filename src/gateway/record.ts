import type { Insertable, Kysely } from 'kysely';
import { createGroupCommit } from '../store/index.js';
import type { Database } from '../store/index.js';
import type { AuditEventTable } from '../store/schema.js';

/** Writes gateway audit events with group commit: concurrent calls share one transaction. */
export interface CallRecorder {
  /** Resolves once every row is committed; rejects when the write failed (nothing is durable). */
  write(rows: readonly Insertable<AuditEventTable>[]): Promise<void>;
  drain(): Promise<void>;
}

/** 13 parameters a row: 256 rows stay far below PostgreSQL's 65,535 parameters per statement. */
const MAX_BATCH = 256;

export function createCallRecorder(deps: { db: Kysely<Database> }): CallRecorder {
  const { db } = deps;
  const commits = createGroupCommit<Insertable<AuditEventTable>>({
    maxBatch: MAX_BATCH,
    write: (rows) =>
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto('audit_events')
          .values([...rows])
          .execute();
      }),
  });
  return {
    async write(rows) {
      // Rows of one call may straddle two batches; each batch is all or nothing, and the call
      // waits for all of its rows, so "resolved" still means "all durable".
      await Promise.all(rows.map((row) => commits.submit(row)));
    },
    drain: () => commits.drain(),
  };
}
