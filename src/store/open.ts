import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Dialect } from './dialect.js';
import { postgresAuditAppender, sqliteAuditAppender, type AuditEventRow } from './append.js';
import { migrationProvider } from './migrations/index.js';
import { localNotifications, postgresNotifications, type Notifications } from './notifications.js';
import type { Database } from './schema.js';

/** A connected database with its migrations. Built by {@link openStore}; closed by its owner. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Runs every pending migration; safe to call from several replicas at once on PostgreSQL. */
  migrate(): Promise<void>;
  /** True when every known migration has run (the `/readyz` check). */
  migrationsCurrent(): Promise<boolean>;
  /** A round trip to the database; throws when it is unreachable. */
  ping(): Promise<void>;
  /** Change notifications to and from the other processes on this database. */
  readonly notifications: Notifications;
  /**
   * Appends audit events in one transaction of their own, by the fastest path the database has
   * (the gateway's group commit). Resolves once they are committed; all or nothing.
   */
  appendAuditEvents(rows: readonly AuditEventRow[]): Promise<void>;
  /** Runs `work` in a transaction holding a named lock, so that one replica at a time does it. */
  exclusive<T>(name: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type StoreOptions =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize?: number };

/** The data dir is held by another process; `steward up` explains and exits. */
export class DataDirLockedError extends Error {
  constructor(readonly file: string) {
    super(
      `The database ${file} is in use by another Steward process. ` +
        'Stop it first, or give this one its own STEWARD_DATA_DIR.',
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * Opens a store. For SQLite this takes an exclusive lock on the database file that lasts as long
 * as the process holds it open, so a second `steward up` on the same data dir fails at once with
 * {@link DataDirLockedError} instead of interleaving writes; the operating system drops the lock
 * if the process dies.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  return options.kind === 'sqlite' ? openSqlite(options.file) : openPostgres(options);
}

function openSqlite(file: string): Store {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = new SQLite(file, { timeout: 0 });
  try {
    handle.pragma('locking_mode = EXCLUSIVE');
    handle.pragma('journal_mode = WAL');
    handle.pragma('foreign_keys = ON');
    handle.pragma('synchronous = NORMAL');
    // Take the write lock now, and keep it (EXCLUSIVE locking mode never releases it).
    handle.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (error) {
    handle.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirLockedError(file);
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
  return storeFor(db, 'sqlite', localNotifications(), sqliteAuditAppender(db, handle));
}

/** PostgreSQL `timestamptz` and `int8` come back as ISO strings and numbers, like SQLite's. */
const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(value).toISOString();
    if (oid === INT8_OID) return (value: string) => Number(value);
    const builtIn = pg.types.getTypeParser as (
      oid: number,
      format?: string,
    ) => (value: string) => unknown;
    return builtIn(oid, format);
  },
};

function openPostgres(options: { url: string; poolSize?: number }): Store {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    types: pgTypes,
    connectionTimeoutMillis: 5_000,
    // Every statement is bounded; nothing an API call does should take this long.
    statement_timeout: 30_000,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return storeFor(
    db,
    'postgres',
    postgresNotifications(options.url, pool),
    postgresAuditAppender(db),
  );
}

function storeFor(
  db: Kysely<Database>,
  dialect: Dialect,
  notifications: Notifications,
  appendAuditEvents: Store['appendAuditEvents'],
): Store {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  return {
    db,
    dialect,
    async migrate() {
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        throw new Error(`migration ${failed} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
    async migrationsCurrent() {
      const migrations = await migrator.getMigrations();
      return migrations.every((m) => m.executedAt !== undefined);
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    notifications,
    appendAuditEvents,
    exclusive(name, work) {
      return db.transaction().execute(async (trx) => {
        // SQLite: the process holds the database exclusively already.
        if (dialect === 'postgres')
          await sql`select pg_advisory_xact_lock(hashtext(${`steward.${name}`}))`.execute(trx);
        return work(trx);
      });
    },
    async close() {
      await notifications.close();
      await db.destroy();
    },
  };
}
