import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type LogEvent,
  type PostgresPool,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { Dialect } from './dialect.js';
import { postgresAuditAppender, sqliteAuditAppender, type AuditEventRow } from './append.js';
import { isStoreUnavailable, StoreUnavailableError } from './errors.js';
import { migrationProvider } from './migrations/index.js';
import { localNotifications, postgresNotifications, type Notifications } from './notifications.js';
import type { Database } from './schema.js';
import { StoreSqliteDialect } from './sqlite-driver.js';

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
  /**
   * One small committed write to a row of its own (`meta.write_probe`), the cheapest proof that
   * the database takes writes now; throws when it does not. `value` is what is written (a time).
   */
  probeWrite(value: string): Promise<void>;
  /**
   * True when the latest write this process attempted (a change, a trail append, a probe) failed
   * because of the storage (see {@link isStoreUnavailable}), false once one succeeds again.
   */
  writesFailing(): boolean;
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
  if (file !== ':memory:') {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Created owner-only before SQLite opens it: SQLite gives its WAL and journal files the
    // database file's mode, so they are owner-only from the start too.
    closeSync(openSync(file, 'a', 0o600));
  }
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
  const health = writeHealth();
  // Every query's prepared statement is kept (a bounded LRU on the one connection).
  const dialect = new StoreSqliteDialect(handle);
  const db = new Kysely<Database>({ dialect, log: health.observe });
  return storeFor(db, 'sqlite', health, localNotifications(), sqliteAuditAppender(db, handle), () =>
    dialect.statements.clear(),
  );
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
  const health = writeHealth();
  // Whatever stops a connection from being made (refused, timed out, a database that no longer
  // accepts connections, a role that may no longer log in) is the storage's failure, not the
  // request's, whichever code the server chose for it.
  const connect = async () => {
    try {
      return await pool.connect();
    } catch (error) {
      health.failed();
      throw new StoreUnavailableError('could not connect to PostgreSQL', { cause: error });
    }
  };
  const guarded: PostgresPool = { connect, end: () => pool.end() };
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: guarded }),
    log: health.observe,
  });
  return storeFor(
    db,
    'postgres',
    health,
    postgresNotifications(options.url, pool),
    postgresAuditAppender(connect),
  );
}

/** Statements that change the database, by their first word (Kysely's and our raw SQL). */
const WRITE_STATEMENT = /^\s*(insert|update|delete|merge|commit)\b/i;

/**
 * The outcome of the latest write, kept from Kysely's query log (every statement and every
 * transaction's COMMIT pass through it) and from the trail's own append path. Only failures of
 * the storage count: a constraint violation is the database working.
 */
function writeHealth() {
  let failing = false;
  return {
    failing: () => failing,
    failed() {
      failing = true;
    },
    settle(error: unknown) {
      if (error === undefined) failing = false;
      else if (isStoreUnavailable(error)) failing = true;
    },
    observe: (event: LogEvent) => {
      if (!WRITE_STATEMENT.test(event.query.sql)) return;
      if (event.level === 'query') failing = false;
      else if (isStoreUnavailable(event.error)) failing = true;
    },
  };
}

function storeFor(
  db: Kysely<Database>,
  dialect: Dialect,
  health: ReturnType<typeof writeHealth>,
  notifications: Notifications,
  append: Store['appendAuditEvents'],
  /** Runs after migrations: a schema that changed invalidates whatever was prepared against it. */
  migrated: () => void = () => {},
): Store {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  return {
    db,
    dialect,
    async migrate() {
      const { error, results } = await migrator.migrateToLatest().finally(migrated);
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
    async probeWrite(value) {
      await db
        .insertInto('meta')
        .values({ key: 'write_probe', value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    },
    writesFailing: health.failing,
    notifications,
    async appendAuditEvents(rows) {
      // SQLite's append path runs its own prepared statement, outside the query log.
      try {
        await append(rows);
      } catch (error) {
        health.settle(error);
        throw error;
      }
      health.settle(undefined);
    },
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
