/**
 * A real Steward for the SDK's tests: `up()` on a temporary SQLite data dir and an ephemeral
 * port, sharing a manual clock with the agents so renewal and session expiry are reached by
 * moving time, never by sleeping. Set-up goes through the admin API, as an operator's would.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { ManualClock } from '../support/clock.js';

export const ADMIN_KEY = 'sdk-test-admin-key-0123456789abcdefghij';

export interface Identity {
  readonly id: string;
  readonly spiffeId: string;
}

export interface TestSteward {
  readonly url: string;
  readonly config: Config;
  readonly clock: ManualClock;
  admin<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<T>;
  /** RFC 7662 introspection with the admin key. */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** A new service and sandbox identity of it. */
  identity(options?: { maxSessionSeconds?: number }): Promise<Identity>;
  joinToken(identity: string): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

export async function startSteward(): Promise<TestSteward> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'steward-sdk-'));
  const config = loadConfig({
    STEWARD_PORT: '0',
    STEWARD_DATA_DIR: dataDir,
    STEWARD_ADMIN_KEY: ADMIN_KEY,
    STEWARD_LOG_LEVEL: 'silent',
  });
  const clock = new ManualClock(Date.now());
  let running: RunningSteward;
  try {
    running = await up(config, { announce: () => {}, clock });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const url = running.url;

  async function admin<T>(method: string, route: string, body?: unknown): Promise<T> {
    const response = await fetch(url + route, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${route} answered ${response.status}: ${text}`);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  const team = 'sdk-team';
  await admin('POST', '/v1/teams', {
    name: team,
    contact: 'sdk@example.com',
    escalation: '+1-555-0100',
  });

  return {
    url,
    config,
    clock,
    admin,
    async introspect(token) {
      const response = await fetch(`${url}/oauth2/introspect`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }),
      });
      assert.equal(response.status, 200);
      return (await response.json()) as Record<string, unknown>;
    },
    async identity(options = {}) {
      counter += 1;
      const service = `sdk-agent-${counter}`;
      await admin('POST', '/v1/services', {
        name: service,
        team,
        dataClassification: 'internal',
      });
      return admin<Identity>('POST', '/v1/identities', {
        service,
        environment: 'sandbox',
        agentPath: 'worker',
        ...options,
      });
    },
    async joinToken(identity) {
      const created = await admin<{ token: string }>(
        'POST',
        `/v1/identities/${identity}/join-tokens`,
        {},
      );
      return created.token;
    },
    async close() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A `fetch` that records every token exchange's form, to count and inspect exchanges. */
export function recordingFetch(): { fetch: typeof fetch; exchanges: URLSearchParams[] } {
  const exchanges: URLSearchParams[] = [];
  const wrapped: typeof fetch = (input, init) => {
    const target = input instanceof Request ? input.url : input.toString();
    if (target.endsWith('/oauth2/token') && init?.body instanceof URLSearchParams) {
      exchanges.push(new URLSearchParams(init.body));
    }
    return fetch(input, init);
  };
  return { fetch: wrapped, exchanges };
}

/** A JWT's payload, read without verification (the test only inspects what Steward issued). */
export function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}
