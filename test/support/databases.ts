/**
 * The databases every store test runs against: a fresh SQLite file and, when reachable, a fresh
 * PostgreSQL database (created per call, dropped by `close`). Without PostgreSQL the suite says so
 * in one clear line; under CI=true a missing PostgreSQL fails the run instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';

export const POSTGRES_ADMIN_URL =
  process.env['STEWARD_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly name: 'sqlite' | 'postgres';
  /** A new, empty, migrated store. */
  open(): Promise<TestStore>;
}

export interface TestStore extends Store {
  /** The connection settings, for starting a real `steward up` on the same database. */
  readonly location: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  /** Closes and deletes the database. */
  dispose(): Promise<void>;
}

let postgresAvailable: Promise<boolean> | undefined;

async function canReachPostgres(): Promise<boolean> {
  const client = new pg.Client({
    connectionString: POSTGRES_ADMIN_URL,
    connectionTimeoutMillis: 3000,
  });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    if (process.env['CI'] === 'true') {
      throw new Error(
        `CI=true but PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    console.log(
      `# PostgreSQL not reachable at ${POSTGRES_ADMIN_URL}: PostgreSQL tests are skipped (set STEWARD_TEST_DATABASE_URL)`,
    );
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export const sqlite: TestDatabase = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(path.join(tmpdir(), 'steward-test-'));
    const file = path.join(dir, 'steward.db');
    const store = await openStore({ kind: 'sqlite', file });
    await store.migrate();
    return {
      ...store,
      location: { kind: 'sqlite', file },
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgres: TestDatabase = {
  name: 'postgres',
  async open() {
    const name = `steward_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    const store = await openStore({ kind: 'postgres', url: url.href, poolSize: 5 });
    await store.migrate();
    return {
      ...store,
      location: { kind: 'postgres', url: url.href },
      async dispose() {
        await store.close();
        const cleanup = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
        await cleanup.connect();
        try {
          await cleanup.query(`drop database if exists ${name} with (force)`);
        } finally {
          await cleanup.end();
        }
      },
    };
  },
};

/** SQLite always; PostgreSQL when reachable (and required under CI=true). */
export async function testDatabases(): Promise<TestDatabase[]> {
  postgresAvailable ??= canReachPostgres();
  return (await postgresAvailable) ? [sqlite, postgres] : [sqlite];
}
