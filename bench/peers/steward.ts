/**
 * A real Steward server (`up()`, as `steward up` runs it) for the peers bench, on a fresh SQLite
 * data directory or a fresh PostgreSQL database, with silent logs and the rate limits raised
 * (the defaults would measure the limiter's refusals instead of the work; it still runs).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { postgresUrlOf, storeFactory, type DatabaseKind } from '../harness/databases.js';
import type { AdminCall } from './steward-setup.js';

const UNLIMITED = '1000000/1000000';

export interface BenchSteward {
  readonly database: DatabaseKind;
  readonly server: RunningSteward;
  readonly url: string;
  /** An admin API call through `inject` (setup only, never measured). */
  readonly admin: AdminCall;
  /** The admin key, for setup code that calls the admin API itself. */
  readonly adminKey: string;
  /** The engine and its version, e.g. `sqlite 3.50.4`. */
  readonly engine: string;
  close(): Promise<void>;
}

export async function startSteward(database: DatabaseKind): Promise<BenchSteward> {
  const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
  const stores = storeFactory(database);
  let dataDir = '';
  let server: RunningSteward | undefined;
  const cleanUp = async () => {
    await server?.close();
    await stores.disposeAll();
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // A fresh database made by the harness (dropped at the end); the server opens its own
    // connections to it. On SQLite the server owns its data directory (and its lock).
    const store = await stores.open();
    const engine = await stores.version(store);
    let where: Record<string, string>;
    if (database === 'postgres') {
      where = { DATABASE_URL: await postgresUrlOf(store) };
    } else {
      dataDir = mkdtempSync(path.join(tmpdir(), 'steward-bench-peers-'));
      where = { STEWARD_DATA_DIR: dataDir };
    }
    server = await up(
      loadConfig({
        STEWARD_PORT: '0',
        STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
        STEWARD_ADMIN_KEY: adminKey,
        STEWARD_LOG_LEVEL: 'silent',
        STEWARD_ISSUER: 'http://steward.bench',
        STEWARD_RATE_PER_IDENTITY: UNLIMITED,
        STEWARD_RATE_PER_IDENTITY_UPSTREAM: UNLIMITED,
        STEWARD_RATE_PER_UPSTREAM: UNLIMITED,
        ...where,
      }),
      { announce: () => {} },
    );
    const running = server;
    const admin: AdminCall = async <T>(method: 'POST' | 'PUT', url: string, body: unknown) => {
      const response = await running.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${adminKey}` },
        payload: body as Record<string, unknown>,
      });
      if (response.statusCode >= 300) {
        throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
      }
      return (response.body === '' ? {} : response.json()) as T;
    };
    return { database, server, url: server.url, admin, adminKey, engine, close: cleanUp };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
