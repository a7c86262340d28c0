import type SQLite from 'better-sqlite3';
import {
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';

/** The most prepared statements kept per database; the least recently used is dropped first. */
export const STATEMENT_CACHE_SIZE = 512;

/**
 * Statements after which no prepared statement is trusted: they change the schema (or the
 * statistics the plans were made from). SQLite re-prepares a stale statement by itself, but a
 * statement's shape (whether it returns rows, its columns) is read when it is prepared, so the
 * cache is emptied rather than relied on.
 */
const SCHEMA_CHANGE = /^\s*(create|alter|drop|analyze|reindex|vacuum)\b/i;

/** What the statement cache has done, for tests and the bench. */
export interface StatementCacheStats {
  /** Statements prepared by SQLite (cache misses, schema changes, busy statements). */
  readonly prepared: number;
  /** Statements served from the cache. */
  readonly reused: number;
  /** Statements held now. */
  readonly size: number;
}

/** The database as Kysely's SQLite driver sees it, with its prepared statements kept. */
export interface CachingSqliteDatabase extends SqliteDatabase {
  stats(): StatementCacheStats;
  /** Drops every kept statement (after a schema change made outside Kysely). */
  clear(): void;
}

/**
 * Wraps a better-sqlite3 handle so that `prepare` returns a statement already prepared for the
 * same SQL text when there is one. Kysely's SQLite driver prepares every query afresh, which under
 * load cost more than running it; this keeps one bounded LRU of statements on the one connection,
 * for every caller at once. Kysely still decides by the statement's `reader` whether it reads rows
 * (`all`) or runs it (`run`), as before: the statement is the one SQLite prepared for that text.
 *
 * A statement that is still being iterated (a streamed query) is busy and is not handed out
 * again: the caller gets a fresh one, which is not kept. A schema change empties the cache.
 */
export function cachingDatabase(
  handle: SQLite.Database,
  capacity = STATEMENT_CACHE_SIZE,
): CachingSqliteDatabase {
  if (!Number.isSafeInteger(capacity) || capacity < 1)
    throw new Error(`statement cache size must be a positive whole number, not ${capacity}`);
  const statements = new Map<string, SQLite.Statement>();
  let prepared = 0;
  let reused = 0;

  function fresh(sql: string): SQLite.Statement {
    prepared += 1;
    return handle.prepare(sql);
  }

  return {
    prepare(sql: string): SqliteStatement {
      const kept = statements.get(sql);
      if (kept !== undefined) {
        if (kept.busy) return fresh(sql);
        // Most recently used last: a Map iterates in insertion order.
        statements.delete(sql);
        statements.set(sql, kept);
        reused += 1;
        return kept;
      }
      if (SCHEMA_CHANGE.test(sql)) {
        statements.clear();
        return fresh(sql);
      }
      const statement = fresh(sql);
      if (statements.size >= capacity) {
        const oldest = statements.keys().next();
        if (!oldest.done) statements.delete(oldest.value);
      }
      statements.set(sql, statement);
      return statement;
    },
    close() {
      statements.clear();
      handle.close();
    },
    stats: () => ({ prepared, reused, size: statements.size }),
    clear() {
      statements.clear();
    },
  };
}

/**
 * SQLite rolls a transaction back by itself when a statement fails for want of storage (FULL,
 * IOERR, BUSY, NOMEM). Kysely's ROLLBACK would then fail with "no transaction is active" and
 * replace the error that mattered, turning a full disk into an unexplained 500; this driver rolls
 * back only what is still open.
 */
class StoreSqliteDriver extends SqliteDriver {
  constructor(
    private readonly handle: SQLite.Database,
    database: SqliteDatabase,
  ) {
    super({ database });
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.handle.inTransaction) await super.rollbackTransaction(connection);
  }
}

/** The store's SQLite dialect: Kysely's, over {@link cachingDatabase}, with the rollback above. */
export class StoreSqliteDialect extends SqliteDialect {
  readonly statements: CachingSqliteDatabase;

  constructor(
    private readonly handle: SQLite.Database,
    capacity?: number,
  ) {
    const statements = cachingDatabase(handle, capacity);
    super({ database: statements });
    this.statements = statements;
  }

  override createDriver(): Driver {
    return new StoreSqliteDriver(this.handle, this.statements);
  }
}
