/**
 * Fresh databases for a scenario: a SQLite file in a temporary directory, or a new PostgreSQL
 * database created on the server and dropped afterwards, so that a run never touches real data
 * and never measures leftovers of an earlier run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';

export const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The server to create bench databases on; its own database is only used to create and drop. */
export function postgresAdminUrl(): string {
  return process.env['STEWARD_BENCH_DATABASE_URL'] ?? DEFAULT_POSTGRES_URL;
}

/** Opens fresh, migrated stores and removes every one of them at the end of a scenario. */
export interface StoreFactory {
  open(): Promise<Store>;
  /** The engine's version, for the results file (`sqlite 3.x`, `postgres 16.x`). */
  version(store: Store): Promise<string>;
  disposeAll(): Promise<void>;
}

export function storeFactory(kind: DatabaseKind): StoreFactory {
  const disposers: (() => Promise<void>)[] = [];
  return {
    async open() {
      const { store, dispose } = kind === 'sqlite' ? await openSqlite() : await openPostgres();
      disposers.push(dispose);
      await store.migrate();
      return store;
    },
    async version(store) {
      const query =
        store.dialect === 'sqlite'
          ? sql<{ v: string }>`select sqlite_version() as v`
          : sql<{ v: string }>`select current_setting('server_version') as v`;
      const { rows } = await query.execute(store.db);
      return `${store.dialect} ${rows[0]?.v ?? 'unknown'}`;
    },
    async disposeAll() {
      // Every store is removed even when one removal fails; the first failure is reported.
      const results = await Promise.allSettled(disposers.splice(0).map((dispose) => dispose()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

/**
 * The URL of a PostgreSQL store's database, for a scenario that starts real servers on the fresh
 * database the harness made (`steward up` takes a `DATABASE_URL`, not a store). The harness
 * still drops the database at the end, closing any connection left to it.
 */
export async function postgresUrlOf(store: Store): Promise<string> {
  if (store.dialect !== 'postgres') throw new Error('postgresUrlOf needs a PostgreSQL store');
  const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(store.db);
  const name = rows[0]?.name;
  if (name === undefined) throw new Error('the database did not say its name');
  const url = new URL(postgresAdminUrl());
  url.pathname = `/${name}`;
  return url.href;
}

async function openSqlite(): Promise<{ store: Store; dispose: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-bench-'));
  const store = await openStore({ kind: 'sqlite', file: path.join(dir, 'steward.db') });
  return {
    store,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<{ store: Store; dispose: () => Promise<void> }> {
  const adminUrl = postgresAdminUrl();
  const name = `steward_bench_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await withAdmin(adminUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  // A few connections: scenarios run one operation at a time, and a transaction holds one.
  const store = await openStore({ kind: 'postgres', url: url.href, poolSize: 4 });
  return {
    store,
    async dispose() {
      await store.close();
      await withAdmin(adminUrl, (client) =>
        client.query(`drop database if exists ${name} with (force)`),
      );
    },
  };
}

async function withAdmin(
  url: string,
  work: (client: pg.Client) => Promise<unknown>,
): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    // The URL may hold a password: name only the host in the message.
    const { hostname, port } = new URL(url);
    throw new Error(
      `PostgreSQL is not reachable at ${hostname}:${port || '5432'} (set STEWARD_BENCH_DATABASE_URL): ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}
