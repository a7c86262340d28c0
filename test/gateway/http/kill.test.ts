/**
 * kill -9 under load loses no acknowledged decision, and nothing reaches an upstream before its
 * decision is committed: a real `steward up` in a process of its own (SQLite and PostgreSQL),
 * gateway calls from many clients at once, SIGKILL while they are in flight, then the database
 * opened again by this process and every call checked against it:
 * - every call the client got a 2xx for has its decision record (`x-steward-record`), and
 * - every request the upstream received has its decision record (by the request id Steward sends
 *   the upstream), including those whose answer the kill cut off.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { openStore, type Store } from '../../../src/store/index.js';
import { testDatabases, type TestStore } from '../../support/databases.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ADMIN_KEY = `kill-test-admin-${randomBytes(16).toString('hex')}`;
const UPSTREAM_KEY = `kill-test-upstream-${randomBytes(8).toString('hex')}`;
/** Clients calling at once, each with its own identity and token. */
const CLIENTS = 12;
/** Acknowledged calls to wait for before the kill, so that it lands under load. */
const BEFORE_KILL = 150;
const POLICIES = `
@id("orders-read")
permit(principal in Steward::Service::"kill-agent", action == Steward::Action::"http_request", resource in Steward::Upstream::"orders")
  when { context has method && context.method == "GET" };
`;

/** Every process this file started: one a failed assertion left running is ended after. */
const started: ChildProcess[] = [];

/** The environment without the developer's STEWARD_* settings. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('STEWARD_') && key !== 'DATABASE_URL') {
      env[key] = value;
    }
  }
  return env;
}

/** `steward up` as a process of its own; resolves with its URL once it listens. */
async function startSteward(
  database: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'up'], {
    cwd: ROOT,
    env: {
      ...cleanEnv(),
      STEWARD_CLI_ENTRY: '1',
      STEWARD_PORT: '0',
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_ADMIN_KEY: ADMIN_KEY,
      STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
      STEWARD_ISSUER: 'http://steward.kill-test',
      // Far above what this test sends: it measures durability, not the limits.
      STEWARD_RATE_PER_IDENTITY: '100000/100000',
      STEWARD_RATE_PER_IDENTITY_UPSTREAM: '100000/100000',
      STEWARD_RATE_PER_UPSTREAM: '100000/100000',
      ...database,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const seen = (chunk: string) => {
      output += chunk;
      const found = /Steward is up at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (found !== undefined) resolve(found);
    };
    child.stdout?.setEncoding('utf8').on('data', seen);
    child.stderr?.setEncoding('utf8').on('data', seen);
    child.once('exit', (code) =>
      reject(new Error(`steward up exited (${String(code)}): ${output}`)),
    );
  });
  return { child, url };
}

/** An HTTP API that remembers the request id of every call Steward forwarded to it. */
async function startUpstream(): Promise<{ url: string; received: string[]; server: Server }> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    if (req.headers['x-api-key'] !== UPSTREAM_KEY) {
      res.statusCode = 401;
      res.end();
      return;
    }
    received.push(String(req.headers['x-request-id']));
    res.setHeader('content-type', 'application/json');
    res.end('{"order":"ord_1","status":"shipped"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

async function call(
  url: string,
  init: { method?: 'GET' | 'POST' | 'PUT'; token?: string; body?: unknown; form?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const response = await request(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    ...(init.form === undefined ? {} : { body: init.form }),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: await response.body.text(),
  };
}

/** The admin setup an operator does: one HTTP upstream, a policy, one token per client. */
async function setUp(steward: string, upstream: string): Promise<string[]> {
  const admin = async (method: 'POST' | 'PUT', url: string, body: unknown) => {
    const answer = await call(`${steward}${url}`, { method, token: ADMIN_KEY, body });
    assert.ok(answer.status < 300, `${method} ${url}: ${answer.status} ${answer.body}`);
    return JSON.parse(answer.body === '' ? '{}' : answer.body) as Record<string, string>;
  };
  await admin('POST', '/v1/teams', {
    name: 'kill',
    contact: 'kill@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: 'kill-agent',
    team: 'kill',
    dataClassification: 'internal',
  });
  await admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'the test upstream' });
  await admin('POST', '/v1/secrets', { name: 'orders-key', value: UPSTREAM_KEY, team: 'kill' });
  await admin('POST', '/v1/upstreams', {
    name: 'orders',
    kind: 'http',
    url: upstream,
    team: 'kill',
    classification: 'internal',
    credential: { secret: 'orders-key', in: 'header', name: 'x-api-key', format: '{secret}' },
  });
  await admin('PUT', '/v1/policies', { policies: POLICIES, message: 'kill test' });
  const tokens: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const { id = '' } = await admin('POST', '/v1/identities', {
      service: 'kill-agent',
      environment: 'sandbox',
      agentPath: `worker-${i}`,
    });
    const { token: join = '' } = await admin('POST', `/v1/identities/${id}/join-tokens`, {
      ttlSeconds: 600,
    });
    const exchanged = await call(`${steward}/oauth2/token`, {
      method: 'POST',
      form: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: join,
        subject_token_type: 'urn:steward:token-type:join-token',
        audience: 'orders',
      }).toString(),
    });
    assert.equal(exchanged.status, 200, exchanged.body);
    tokens.push((JSON.parse(exchanged.body) as { access_token: string }).access_token);
  }
  return tokens;
}

/**
 * Calls the gateway from every client in a loop, kills Steward with SIGKILL once `BEFORE_KILL`
 * calls were acknowledged, and returns the record ids of every acknowledged call.
 */
async function loadAndKill(steward: { child: ChildProcess; url: string }, tokens: string[]) {
  const acknowledged: string[] = [];
  let failures = 0;
  let killed = false;
  const gone = new Promise<NodeJS.Signals | null>((resolve) =>
    steward.child.once('exit', (_code, signal) => resolve(signal)),
  );
  const kill = () => {
    if (killed) return;
    killed = true;
    steward.child.kill('SIGKILL');
  };
  const client = async (token: string) => {
    while (!killed) {
      try {
        const answer = await call(`${steward.url}/gw/http/orders/orders/ord_1`, { token });
        if (answer.status >= 200 && answer.status < 300) {
          const record = answer.headers['x-steward-record'];
          assert.equal(typeof record, 'string', 'a 2xx names its decision record');
          acknowledged.push(String(record));
          if (acknowledged.length >= BEFORE_KILL) kill();
        } else {
          failures += 1;
        }
      } catch {
        // The connection the kill cut: not acknowledged, so not counted.
        if (!killed) failures += 1;
      }
    }
  };
  // Not every answer is a 200 before the policy and the upstream are loaded: bounded by time.
  const deadline = setTimeout(kill, 60_000);
  await Promise.all(tokens.map(client));
  clearTimeout(deadline);
  assert.equal(await gone, 'SIGKILL');
  return { acknowledged, failures };
}

/** Decision records by record id and by request id, as the reopened database holds them. */
async function decisions(store: Store): Promise<{ byRecord: Set<string>; byRequest: Set<string> }> {
  const rows = await store.db
    .selectFrom('audit_events')
    .select(['target_id', 'request_id'])
    .where('type', '=', 'decision.allow')
    .execute();
  return {
    byRecord: new Set(rows.map((row) => row.target_id)),
    byRequest: new Set(rows.flatMap((row) => (row.request_id === null ? [] : [row.request_id]))),
  };
}

// Asked before any test runs, as test/server does.
const databases = await testDatabases();

describe('kill -9 under gateway load', () => {
  const dirs: string[] = [];
  const stores: TestStore[] = [];
  after(async () => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const store of stores) await store.dispose();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function run(
    database: Record<string, string>,
    reopen: () => Promise<{ store: Store; close(): Promise<void> }>,
  ): Promise<void> {
    const upstream = await startUpstream();
    try {
      const steward = await startSteward(database);
      const tokens = await setUp(steward.url, upstream.url);
      const { acknowledged, failures } = await loadAndKill(steward, tokens);
      assert.ok(acknowledged.length >= BEFORE_KILL, `${acknowledged.length} calls acknowledged`);
      assert.ok(upstream.received.length >= acknowledged.length, 'every 2xx was forwarded');

      const reopened = await reopen();
      try {
        const { byRecord, byRequest } = await decisions(reopened.store);
        const lost = acknowledged.filter((record) => !byRecord.has(record));
        assert.deepEqual(
          lost,
          [],
          `acknowledged calls without their decision record (${failures} failed calls)`,
        );
        const unrecorded = upstream.received.filter((requestId) => !byRequest.has(requestId));
        assert.deepEqual(unrecorded, [], 'calls forwarded without a committed decision record');
      } finally {
        await reopened.close();
      }
    } finally {
      upstream.server.closeAllConnections();
      await new Promise<void>((resolve) => upstream.server.close(() => resolve()));
    }
  }

  for (const database of databases) {
    it(`${database.name}: every acknowledged and every forwarded call has its decision record`, async () => {
      if (database.name === 'sqlite') {
        const dir = mkdtempSync(path.join(tmpdir(), 'steward-kill-'));
        dirs.push(dir);
        await run({ STEWARD_DATA_DIR: dir }, async () => {
          // The killed process's lock died with it: this open would fail while it held it.
          const store = await openStore({ kind: 'sqlite', file: path.join(dir, 'steward.db') });
          return { store, close: () => store.close() };
        });
        return;
      }
      const store = await database.open();
      stores.push(store);
      assert.equal(store.location.kind, 'postgres');
      await run({ DATABASE_URL: store.location.url }, async () => ({
        store,
        close: async () => {},
      }));
    });
  }
});
