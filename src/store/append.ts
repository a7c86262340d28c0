import type SQLite from 'better-sqlite3';
import { sql, type Insertable, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { AuditEventTable } from './schema.js';

/** One row of the audit trail, as {@link Store.appendAuditEvents} takes it. */
export type AuditEventRow = Insertable<AuditEventTable>;

/** Every column a caller writes; `seq` is the database's. */
const COLUMNS = [
  'id',
  'occurred_at',
  'type',
  'actor',
  'actor_role',
  'request_id',
  'client_request_id',
  'target_kind',
  'target_id',
  'team',
  'service',
  'identity_id',
  'before',
  'after',
] as const satisfies readonly (keyof AuditEventRow)[];

type Column = (typeof COLUMNS)[number];

const value = (row: AuditEventRow, column: Column): string | null => row[column] ?? null;

/**
 * The audit trail's hot path on SQLite: one prepared statement, run once per row inside one
 * transaction. Kysely would build, compile and prepare a new multi-row statement for every batch
 * (its SQLite driver prepares each query afresh), which under gateway load cost more than the
 * inserts themselves. The statement runs while holding Kysely's single connection, so it never
 * lands inside somebody else's open transaction.
 */
export function sqliteAuditAppender(
  db: Kysely<Database>,
  handle: SQLite.Database,
): (rows: readonly AuditEventRow[]) => Promise<void> {
  // Prepared on first use: the store opens before its migrations have made the table.
  let insertAll: ((rows: readonly AuditEventRow[]) => void) | undefined;
  const prepare = () => {
    const insert = handle.prepare(
      `insert into audit_events (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`,
    );
    return handle.transaction((rows: readonly AuditEventRow[]) => {
      for (const row of rows) insert.run(COLUMNS.map((column) => value(row, column)));
    });
  };
  return (rows) =>
    db.connection().execute(async () => {
      insertAll ??= prepare();
      insertAll(rows);
    });
}

/**
 * On PostgreSQL: one statement whatever the batch size, the rows passed as one array per column
 * and expanded by `unnest`, so that the text (and so the server's plan) never changes and 14
 * parameters carry any number of rows.
 */
export function postgresAuditAppender(
  db: Kysely<Database>,
): (rows: readonly AuditEventRow[]) => Promise<void> {
  return async (rows) => {
    if (rows.length === 0) return;
    const column = (name: Column) => rows.map((row) => value(row, name));
    await sql`
      insert into audit_events (${sql.join(COLUMNS.map((c) => sql.ref(c)))})
      select * from unnest(
        ${column('id')}::text[], ${column('occurred_at')}::timestamptz[], ${column('type')}::text[],
        ${column('actor')}::text[], ${column('actor_role')}::text[], ${column('request_id')}::text[],
        ${column('client_request_id')}::text[], ${column('target_kind')}::text[], ${column('target_id')}::text[], ${column('team')}::text[],
        ${column('service')}::text[], ${column('identity_id')}::text[], ${column('before')}::text[],
        ${column('after')}::text[]
      )`.execute(db);
  };
}
