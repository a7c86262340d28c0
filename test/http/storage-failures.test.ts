/**
 * Storage failures, on both databases, with the real drivers failing for real: a database that
 * refuses writes (SQLite `query_only`, PostgreSQL `default_transaction_read_only`), one that is
 * full (SQLite `max_page_count`) and one that is down (PostgreSQL refusing connections, its
 * backends terminated). Every route answers 503 with a stable code and `Retry-After`, never a
 * 500, never with SQL or the driver's words; the OAuth endpoints answer RFC 6749
 * `temporarily_unavailable`; `/readyz` turns not-ready when writes fail and ready again when
 * they succeed; the full error is logged once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { WRITE_PROBE_INTERVAL_MS } from '../../src/server/readiness.js';
import { isStoreUnavailable, StoreUnavailableError } from '../../src/store/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { closedPortUrl } from '../support/cli.js';
import { POSTGRES_ADMIN_URL, testDatabases, type TestStore } from '../support/databases.js';
import { fixtureFor, makeIdentity, OWNER_TEAM, routeKey } from './fixtures.js';
import { loggedApp } from './logged-app.js';

/** What no storage failure may show a client: SQL, driver names, driver messages. */
const DRIVER_TEXT =
  /sqlite|postgres|kysely|readonly|read-only|insert|update|select|SQLSTATE|disk|terminat|connection|transaction|\b(25006|57P01|55000)\b/i;

async function postgresAdmin(statement: string, parameters: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement, parameters);
  } finally {
    await client.end();
  }
}

function databaseName(store: TestStore): string {
  assert.equal(store.location.kind, 'postgres');
  return new URL(store.location.url).pathname.slice(1);
}

/** Ends every session of the database, so that the pool's next ones see its new settings. */
async function terminateBackends(name: string): Promise<void> {
  await postgresAdmin(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [name],
  );
}

/** The database stops taking writes (reads still work); `undo` gives them back. */
async function refuseWrites(store: TestStore): Promise<{ undo(): Promise<void> }> {
  if (store.dialect === 'sqlite') {
    await sql`pragma query_only = 1`.execute(store.db);
    return {
      async undo() {
        await sql`pragma query_only = 0`.execute(store.db);
      },
    };
  }
  const name = databaseName(store);
  await postgresAdmin(`alter database ${name} set default_transaction_read_only = on`);
  await terminateBackends(name);
  return {
    async undo() {
      await postgresAdmin(`alter database ${name} reset default_transaction_read_only`);
      await terminateBackends(name);
    },
  };
}

function assertUnavailable(response: LightMyRequestResponse, what: string): void {
  const where = `${what} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  assert.equal(response.statusCode, 503, where);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, where);
  assert.equal(response.headers['retry-after'], '5', where);
  const body = response.json<Record<string, unknown>>();
  assert.equal(body['code'], 'storage_unavailable', where);
  assert.equal(body['status'], 503, where);
  assert.match(String(body['detail']), /store is unavailable/, where);
  assert.doesNotMatch(response.body, DRIVER_TEXT, `driver detail leaked: ${where}`);
  assert.equal(body['requestId'], response.headers['x-request-id'], where);
}

function assertOAuthUnavailable(response: LightMyRequestResponse, what: string): void {
  const where = `${what} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  assert.equal(response.statusCode, 503, where);
  assert.match(String(response.headers['content-type']), /^application\/json/, where);
  assert.equal(response.headers['retry-after'], '5', where);
  const body = response.json<Record<string, unknown>>();
  assert.equal(body['error'], 'temporarily_unavailable', where);
  assert.doesNotMatch(response.body, DRIVER_TEXT, `driver detail leaked: ${where}`);
}

async function readyz(t: TestApp): Promise<LightMyRequestResponse> {
  return t.call(null, { url: '/readyz' });
}

function assertReady(response: LightMyRequestResponse): void {
  assert.equal(response.statusCode, 200, response.body);
  assert.equal(response.json<{ status: string }>().status, 'ready');
}

function assertNotReady(response: LightMyRequestResponse, detail: RegExp): void {
  assert.equal(response.statusCode, 503, response.body);
  const body = response.json<Record<string, unknown>>();
  assert.equal(body['code'], 'not_ready');
  assert.match(String(body['detail']), detail);
  assert.equal(response.headers['retry-after'], '5');
}

/** A valid request for every route that needs a key, built while the database still works. */
async function everyKeyedRoute(t: TestApp): Promise<[string, InjectOptions][]> {
  const requests: [string, InjectOptions][] = [];
  for (const route of t.routeRoles.filter((r) => r.roles !== undefined)) {
    const request = await fixtureFor(route).build({ t, role: 'admin', team: OWNER_TEAM });
    requests.push([routeKey(route), request]);
  }
  return requests;
}

/** A join token of a fresh identity, and the form that exchanges it. */
async function exchangeForm(t: TestApp): Promise<InjectOptions> {
  const identity = await makeIdentity(t, OWNER_TEAM);
  const join = await t.call('admin', {
    method: 'POST',
    url: `/v1/identities/${identity.id}/join-tokens`,
    payload: { ttlSeconds: 600 },
  });
  assert.equal(join.statusCode, 201, join.body);
  return {
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: join.json<{ token: string }>().token,
      subject_token_type: 'urn:steward:token-type:join-token',
    }).toString(),
  };
}

const databases = await testDatabases();

describe('isStoreUnavailable classifies what the drivers really raise', () => {
  it('SQLite: read-only, full and busy are the storage; constraints and bad SQL are not', () => {
    const handle = new SQLite(':memory:');
    const raised = (statement: string): unknown => {
      try {
        handle.exec(statement);
      } catch (error) {
        return error;
      }
      assert.fail(`${statement} did not fail`);
    };
    try {
      handle.exec('create table t (id integer primary key, v text unique)');
      handle.exec("insert into t (v) values ('a')");
      assert.equal(isStoreUnavailable(raised("insert into t (v) values ('a')")), false);
      assert.equal(isStoreUnavailable(raised('selec nothing')), false);
      assert.equal(isStoreUnavailable(raised('select * from missing')), false);
      handle.pragma('query_only = 1');
      const readOnly = raised("insert into t (v) values ('b')");
      assert.match(String((readOnly as { code?: string }).code), /^SQLITE_READONLY/);
      assert.equal(isStoreUnavailable(readOnly), true);
      handle.pragma('query_only = 0');
      handle.pragma(`max_page_count = ${String(handle.pragma('page_count', { simple: true }))}`);
      const full = raised(
        `insert into t (v) select hex(randomblob(900)) from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 100) select i from n)`,
      );
      assert.equal((full as { code?: string }).code, 'SQLITE_FULL');
      assert.equal(isStoreUnavailable(full), true);
    } finally {
      handle.close();
    }
    // Codes the suite cannot provoke on a private file, by their documented names.
    for (const code of [
      'SQLITE_BUSY',
      'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_IOERR_WRITE',
      'SQLITE_CANTOPEN',
    ]) {
      assert.equal(isStoreUnavailable(Object.assign(new Error('x'), { code })), true, code);
    }
    assert.equal(
      isStoreUnavailable(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_NOTNULL' })),
      false,
    );
  });

  it('the network: a refused connection, and causes wrapped by the store', async () => {
    const url = new URL(await closedPortUrl());
    const client = new pg.Client({ host: url.hostname, port: Number(url.port), user: 'x' });
    const refused = await client.connect().then(
      () => assert.fail('connected to a closed port'),
      (error: unknown) => error,
    );
    assert.equal(isStoreUnavailable(refused), true);
    assert.equal(
      isStoreUnavailable(new StoreUnavailableError('down', { cause: new Error('x') })),
      true,
    );
    assert.equal(isStoreUnavailable(new Error('outer', { cause: refused })), true);
    assert.equal(isStoreUnavailable(new Error('a bug')), false);
    assert.equal(isStoreUnavailable('not an error'), false);
    assert.equal(isStoreUnavailable(Object.assign(new Error('x'), { code: 'EPIPE' })), true);
  });

  it(
    'PostgreSQL: read-only, terminated and revoked are the storage; constraints are not',
    {
      skip: !databases.some((d) => d.name === 'postgres') && 'PostgreSQL not reachable',
    },
    async () => {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      const raised = (statement: string) =>
        client.query(statement).then(
          () => assert.fail(`${statement} did not fail`),
          (error: unknown) => error as { code?: string },
        );
      try {
        await client.query('create temporary table t (v text unique)');
        await client.query("insert into t values ('a')");
        const unique = await raised("insert into t values ('a')");
        assert.equal(unique.code, '23505');
        assert.equal(isStoreUnavailable(unique), false);
        const syntax = await raised('selec 1');
        assert.equal(syntax.code, '42601');
        assert.equal(isStoreUnavailable(syntax), false);
        await client.query('begin read only');
        const readOnly = await raised('create table never_made (v text)');
        await client.query('rollback');
        assert.equal(readOnly.code, '25006');
        assert.equal(isStoreUnavailable(readOnly), true);
        await client.query("set statement_timeout = '10ms'");
        const timedOut = await raised('select pg_sleep(1)');
        assert.equal(timedOut.code, '57014');
        assert.equal(isStoreUnavailable(timedOut), true);
      } finally {
        await client.end();
      }
      for (const code of ['08006', '53100', '57P01', '42501', '40001', '58030']) {
        assert.equal(isStoreUnavailable(Object.assign(new Error('x'), { code })), true, code);
      }
    },
  );
});

for (const database of databases) {
  describe(`storage failures on ${database.name}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(database);
      // The admin key's first use is bookkeeping (lastUsedAt), a write of its own: done now.
      assert.equal((await t.call('admin', { url: '/v1/whoami' })).statusCode, 200);
    });
    after(async () => t.close());

    it('while writes are refused: every keyed route answers its success or 503 storage_unavailable, never anything else', async () => {
      const requests = await everyKeyedRoute(t);
      const exchange = await exchangeForm(t);
      assertReady(await readyz(t));
      const refusal = await refuseWrites(t.store);
      try {
        const unavailable: string[] = [];
        for (const [key, request] of requests) {
          const response = await t.call('admin', request);
          if (response.statusCode === 503) {
            if (key.includes(' /oauth2/')) assertOAuthUnavailable(response, key);
            else assertUnavailable(response, key);
            unavailable.push(key);
          } else {
            assert.ok(
              response.statusCode >= 200 && response.statusCode < 300,
              `${key} → ${response.statusCode} ${response.body.slice(0, 300)}`,
            );
          }
        }
        // Every change is refused; the reads that change nothing still answer.
        for (const key of ['POST /v1/teams', 'PATCH /v1/teams/:name', 'POST /v1/api-keys'])
          assert.ok(unavailable.includes(key), `${key} was not refused`);
        assert.ok(!unavailable.includes('GET /v1/teams'), 'a read was refused');
        assertOAuthUnavailable(await t.call(null, exchange), 'token exchange');
        // A write failed just now: not ready, without waiting for a probe.
        assertNotReady(await readyz(t), /does not accept writes/);
      } finally {
        await refusal.undo();
      }
      // Still not ready until a write succeeds: the next probe, when it is due.
      assertNotReady(await readyz(t), /does not accept writes/);
      t.clock.advance(WRITE_PROBE_INTERVAL_MS);
      assertReady(await readyz(t));
      const created = await t.call('admin', {
        method: 'POST',
        url: '/v1/teams',
        payload: { name: 'after-recovery', contact: 'c@example.com', escalation: 'e' },
      });
      assert.equal(created.statusCode, 201, created.body);
    });

    it('/readyz finds refused writes by its own probe, at most once per interval, with no traffic', async () => {
      t.clock.advance(WRITE_PROBE_INTERVAL_MS);
      assertReady(await readyz(t));
      const refusal = await refuseWrites(t.store);
      try {
        // The probe ran a moment ago; the next is not due, and nothing else wrote.
        assertReady(await readyz(t));
        t.clock.advance(WRITE_PROBE_INTERVAL_MS);
        assertNotReady(await readyz(t), /does not accept writes/);
        // Many checks at once share one probe; none of them is a 500.
        const burst = await Promise.all(Array.from({ length: 20 }, () => readyz(t)));
        for (const response of burst) assertNotReady(response, /does not accept writes/);
      } finally {
        await refusal.undo();
      }
      t.clock.advance(WRITE_PROBE_INTERVAL_MS);
      assertReady(await readyz(t));
    });

    it('logs the driver error once, in full, and tells the client only that the store is unavailable', async () => {
      const { app, lines } = await loggedApp(t.core);
      const refusal = await refuseWrites(t.store);
      try {
        const response = await app.inject({
          method: 'POST',
          url: '/v1/teams',
          headers: { authorization: `Bearer ${t.keys.admin}` },
          payload: { name: 'never-written', contact: 'c@example.com', escalation: 'e' },
        });
        assertUnavailable(response, 'POST /v1/teams');
        const errors = lines.filter((line) => line['level'] === 50);
        assert.equal(errors.length, 1, JSON.stringify(errors));
        const logged = errors[0] ?? {};
        assert.equal(logged['msg'], 'storage_unavailable');
        assert.equal(logged['reqId'], response.headers['x-request-id']);
        const err = logged['err'] as { message?: string; stack?: string } | undefined;
        assert.match(String(err?.message), /read-?only/i);
        assert.ok(err?.stack, 'the stack is logged');
      } finally {
        await refusal.undo();
        await app.close();
      }
    });

    if (database.name === 'sqlite') {
      it('a full database: 503 on the write that does not fit, not ready, and back once there is room', async () => {
        const pages = Number(
          (await sql<{ page_count: number }>`pragma page_count`.execute(t.store.db)).rows[0]
            ?.page_count,
        );
        await sql.raw(`pragma max_page_count = ${pages}`).execute(t.store.db);
        let refused: LightMyRequestResponse | undefined;
        try {
          for (let i = 0; i < 500 && refused === undefined; i++) {
            const response = await t.call('admin', {
              method: 'POST',
              url: '/v1/teams',
              payload: {
                name: `fill-${i}`,
                contact: 'c@example.com',
                escalation: 'e',
                description: 'x'.repeat(400),
              },
            });
            if (response.statusCode !== 201) refused = response;
          }
          assert.ok(refused, 'the database never filled up');
          assertUnavailable(refused, 'POST /v1/teams on a full database');
          assertNotReady(await readyz(t), /does not accept writes/);
        } finally {
          await sql.raw('pragma max_page_count = 1073741823').execute(t.store.db);
        }
        t.clock.advance(WRITE_PROBE_INTERVAL_MS);
        assertReady(await readyz(t));
      });
    }

    if (database.name === 'postgres') {
      it('a database that is down: every keyed route and the OAuth endpoints answer 503; back when it is', async () => {
        const requests = await everyKeyedRoute(t);
        const exchange = await exchangeForm(t);
        const name = databaseName(t.store);
        await postgresAdmin(`alter database ${name} with allow_connections false`);
        await terminateBackends(name);
        try {
          for (const [key, request] of requests) {
            const response = await t.call('admin', request);
            if (key.includes(' /oauth2/')) assertOAuthUnavailable(response, key);
            else assertUnavailable(response, key);
          }
          assertOAuthUnavailable(await t.call(null, exchange), 'token exchange');
          assertNotReady(await readyz(t), /not reachable/);
          assert.equal((await t.call(null, { url: '/healthz' })).statusCode, 200);
        } finally {
          await postgresAdmin(`alter database ${name} with allow_connections true`);
        }
        t.clock.advance(WRITE_PROBE_INTERVAL_MS);
        assertReady(await readyz(t));
        assert.equal((await t.call('admin', { url: '/v1/teams' })).statusCode, 200);
      });
    }
  });
}
