/**
 * The real `steward up`: configuration from the environment, a listening port, the bootstrap key
 * printed once, a restart that keeps everything, a second process on the same SQLite data dir
 * refused, and replicas starting together on one PostgreSQL database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { DataDirLockedError } from '../../src/store/index.js';
import { POSTGRES_ADMIN_URL, testDatabases } from '../support/databases.js';

const KEY = /stw_key_[0-9A-Za-z]{38}/g;

function announcer(): { lines: string[]; announce: (text: string) => void; keys(): string[] } {
  const lines: string[] = [];
  return {
    lines,
    announce: (text) => lines.push(text),
    keys: () => lines.flatMap((line) => line.match(KEY) ?? []),
  };
}

async function call(
  running: RunningSteward,
  key: string,
  url: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${running.url}${url}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

const baseEnv = { STEWARD_PORT: '0', STEWARD_LOG_LEVEL: 'silent' };
// Asked before any test runs: a SQLite start blocks the event loop long enough to time it out.
const withPostgres = (await testDatabases()).some((database) => database.name === 'postgres');

describe('steward up on SQLite', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'steward-up-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('prints a bootstrap key once; a restart keeps the data; a second process is refused', async () => {
    const config = loadConfig({ ...baseEnv, STEWARD_DATA_DIR: dataDir() });
    const first = announcer();
    const running = await up(config, { interactive: true, announce: first.announce });
    let key: string;
    try {
      assert.equal(first.keys().length, 1, 'exactly one key printed');
      key = first.keys()[0] ?? '';
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);

      const whoami = await call(running, key, '/v1/whoami');
      assert.equal(whoami.status, 200);
      assert.equal(whoami.body['role'], 'admin');
      const created = await call(running, key, '/v1/teams', {
        method: 'POST',
        body: { name: 'payments', contact: 'pay@example.com', escalation: '+1-555-0100' },
      });
      assert.equal(created.status, 201);
      assert.equal((await call(running, 'stw_key_nope', '/v1/whoami')).status, 401);

      const second = announcer();
      await assert.rejects(
        up(config, { interactive: true, announce: second.announce }),
        (error: unknown) => {
          assert.ok(error instanceof DataDirLockedError, String(error));
          assert.match(error.message, /in use by another Steward process/);
          return true;
        },
      );
      assert.deepEqual(second.keys(), []);
      // The refused start did not disturb the running one.
      assert.equal((await call(running, key, '/v1/teams/payments')).status, 200);
    } finally {
      await running.close();
    }

    const again = announcer();
    const restarted = await up(config, { interactive: true, announce: again.announce });
    try {
      assert.deepEqual(again.keys(), [], 'no new key on restart');
      assert.equal((await call(restarted, key, '/v1/whoami')).status, 200);
      const team = await call(restarted, key, '/v1/teams/payments');
      assert.equal(team.status, 200);
      assert.equal(team.body['contact'], 'pay@example.com');
      const audit = await call(restarted, key, '/v1/audit?order=asc');
      const types = (audit.body['items'] as { type: string }[]).map((e) => e.type);
      assert.deepEqual(
        types.filter((type) => type === 'apikey.created' || type === 'team.created'),
        ['apikey.created', 'team.created'],
      );
    } finally {
      await restarted.close();
    }
  });

  it('uses STEWARD_ADMIN_KEY and prints no key', async () => {
    const adminKey = 'automation-admin-key-0123456789abcdef';
    const config = loadConfig({
      ...baseEnv,
      STEWARD_DATA_DIR: dataDir(),
      STEWARD_ADMIN_KEY: adminKey,
    });
    const out = announcer();
    const running = await up(config, { interactive: true, announce: out.announce });
    try {
      assert.deepEqual(out.keys(), []);
      assert.ok(out.lines.every((line) => !line.includes(adminKey)));
      const whoami = await call(running, adminKey, '/v1/whoami');
      assert.equal(whoami.status, 200);
      assert.equal(whoami.body['role'], 'admin');
    } finally {
      await running.close();
    }
  });
});

describe('steward up on PostgreSQL', { skip: !withPostgres && 'PostgreSQL not reachable' }, () => {
  const name = `steward_up_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  after(async () => admin(`drop database if exists ${name} with (force)`));

  it('two replicas started together both come up, migrate once and make one bootstrap key', async () => {
    await admin(`create database ${name}`);
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    const config = loadConfig({
      ...baseEnv,
      DATABASE_URL: url.href,
      STEWARD_MASTER_KEY: 'a'.repeat(64),
    });
    const a = announcer();
    const b = announcer();
    const replicas = await Promise.all([
      up(config, { interactive: true, announce: a.announce }),
      up(config, { interactive: true, announce: b.announce }),
    ]);
    try {
      const keys = [...a.keys(), ...b.keys()];
      assert.equal(keys.length, 1, 'exactly one bootstrap key between the two');
      const key = keys[0] ?? '';
      for (const replica of replicas) {
        assert.equal((await call(replica, key, '/v1/whoami')).status, 200);
      }
      const [first, second] = replicas;
      assert.ok(first && second);
      const created = await call(first, key, '/v1/teams', {
        method: 'POST',
        body: { name: 'shared', contact: 'c', escalation: 'e' },
      });
      assert.equal(created.status, 201);
      assert.equal((await call(second, key, '/v1/teams/shared')).status, 200);

      const db = first.core.store.db;
      const bootstrap = await sql<{ n: number }>`select count(*)::int as n from api_keys`.execute(
        db,
      );
      assert.equal(bootstrap.rows[0]?.n, 1);
      const migrations = await sql<{ name: string; n: number }>`
        select name, count(*)::int as n from kysely_migration group by name`.execute(db);
      assert.ok(migrations.rows.length >= 1);
      assert.ok(
        migrations.rows.every((row) => row.n === 1),
        JSON.stringify(migrations.rows),
      );
      assert.equal(await first.core.store.migrationsCurrent(), true);
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
});
