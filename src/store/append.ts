import type SQLite from 'better-sqlite3';
import type { Insertable, Kysely } from 'kysely';
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

/** The PostgreSQL type of each column as `json_to_recordset` reads it. */
const RECORD_TYPES = COLUMNS.map(
  (column) => `${column} ${column === 'occurred_at' ? 'timestamptz' : 'text'}`,
).join(', ');

/** The one statement of every batch, prepared once per connection under {@link APPEND_NAME}. */
const APPEND_TEXT =
  `insert into audit_events (${COLUMNS.join(', ')}) ` +
  `select ${COLUMNS.map((column) => `r.${column}`).join(', ')} ` +
  `from json_to_recordset($1::json) as r(${RECORD_TYPES})`;
const APPEND_NAME = 'steward_audit_append';

/** A connection of the pool, as the PostgreSQL appender uses it. */
export interface PostgresAppendClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<unknown>;
  release(error?: Error | boolean): void;
}

/**
 * The batch as one JSON text. `JSON.stringify` escapes a lone UTF-16 surrogate as `\udXXX`,
 * which PostgreSQL refuses to turn into text, failing the whole batch, where node-pg's UTF-8
 * encoding of a plain parameter stored U+FFFD: such values are made well-formed first, so the
 * same rows are written as before. Only a text that may hold such an escape takes that path.
 */
function batchJson(rows: readonly AuditEventRow[]): string {
  const text = JSON.stringify(rows.map(pick));
  if (!text.includes('\\ud')) return text;
  return JSON.stringify(
    rows.map((row) => {
      const picked = pick(row);
      for (const column of COLUMNS) {
        const cell = picked[column];
        if (typeof cell === 'string') picked[column] = wellFormed(cell);
      }
      return picked;
    }),
  );
}

/** Lone UTF-16 surrogates, which UTF-8 cannot encode. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `text` with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder writes it. */
const wellFormed = (text: string): string => text.replace(LONE_SURROGATE, '\ufffd');

/** The row's columns only, nulls explicit: a column a caller left out is null. */
function pick(row: AuditEventRow): Record<Column, string | null> {
  return {
    id: value(row, 'id'),
    occurred_at: value(row, 'occurred_at'),
    type: value(row, 'type'),
    actor: value(row, 'actor'),
    actor_role: value(row, 'actor_role'),
    request_id: value(row, 'request_id'),
    client_request_id: value(row, 'client_request_id'),
    target_kind: value(row, 'target_kind'),
    target_id: value(row, 'target_id'),
    team: value(row, 'team'),
    service: value(row, 'service'),
    identity_id: value(row, 'identity_id'),
    before: value(row, 'before'),
    after: value(row, 'after'),
  };
}

/**
 * On PostgreSQL: one statement whatever the batch size, the rows passed as one JSON text and
 * expanded by `json_to_recordset`, so that the text (and so the server's plan) never changes and
 * one parameter carries any number of rows. It is a named statement, parsed once per connection,
 * and the parameter is built by `JSON.stringify` alone: no array literal escaped element by
 * element (node-pg's `escapeElement` over 14 arrays cost more than the rest of the batch).
 */
export function postgresAuditAppender(
  connect: () => Promise<PostgresAppendClient>,
): (rows: readonly AuditEventRow[]) => Promise<void> {
  return async (rows) => {
    if (rows.length === 0) return;
    const values = [batchJson(rows)];
    const client = await connect();
    try {
      await client.query({ name: APPEND_NAME, text: APPEND_TEXT, values });
    } catch (error) {
      // As node-pg's own pool.query does: a connection that failed a query is not reused.
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    client.release();
  };
}
