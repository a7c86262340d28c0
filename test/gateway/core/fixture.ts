/**
 * Steward listening on loopback with both gateways over a store the test controls: an HTTP
 * upstream and an MCP upstream behind it (each counting what reaches it), registered through the
 * admin API, and a workload allowed to call both. The store can be paused for real (PostgreSQL
 * behind a TCP relay that stops relaying; SQLite with its one connection held by a transaction)
 * while the trail stays readable beside it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { buildHttpApp } from '../../../src/http/index.js';
import type { CoreOptions } from '../../../src/server/core.js';
import { createCore, createLogger, type Core } from '../../../src/server/index.js';
import { openStore, type Database, type Store } from '../../../src/store/index.js';
import { ManualClock } from '../../support/clock.js';
import type { TestDatabase, TestStore } from '../../support/databases.js';
import { adminCall, workloadToken } from '../../support/inject.js';
import { startUpstream, type TestUpstream } from '../http/fixture.js';
import { startMcpUpstream, UPSTREAM_KEY, type TestMcpUpstream } from '../mcp/upstream-server.js';
import { startPausableProxy, type PausableProxy } from './pausable-proxy.js';

export const ISSUER = 'http://steward.test';
export const HTTP_UPSTREAM = 'billing';
export const MCP_UPSTREAM = 'orders';
const SERVICE = 'agent';

const POLICIES = `
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"http_request", resource in Steward::Upstream::"${HTTP_UPSTREAM}");
permit(principal in Steward::Service::"${SERVICE}", action in [Steward::Action::"list_tools", Steward::Action::"invoke_tool"], resource in Steward::Upstream::"${MCP_UPSTREAM}");
`;

export type GatewayOptions = Partial<
  Pick<CoreOptions, 'gatewayStoreTimeoutMs' | 'gatewayRefusalWindowMs' | 'rateLimits'>
> & {
  /** Wraps the store the core writes through (a stall of the synchronous driver). */
  readonly wrapStore?: (store: Store) => Store;
};

export interface CoreGateway {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly core: Core;
  readonly clock: ManualClock;
  readonly http: TestUpstream;
  readonly mcp: TestMcpUpstream;
  /** The trail, read beside the paused path (PostgreSQL: a direct connection). */
  readonly trail: Kysely<Database>;
  /** Stops the store answering the gateway, for real; `resume` lets what was held through. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** A fresh access token of the workload for `audience` (an upstream's name). */
  token(audience: string): Promise<string>;
  close(): Promise<void>;
}

/** The real store of `database`, and how to pause it. */
async function pausableStore(database: TestDatabase): Promise<{
  base: TestStore;
  store: Store;
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}> {
  const base = await database.open();
  if (base.location.kind === 'postgres') {
    const url = new URL(base.location.url);
    const proxy: PausableProxy = await startPausableProxy({
      host: url.hostname,
      port: Number(url.port || 5432),
    });
    const store = await openStore({ kind: 'postgres', url: proxy.via(url.href), poolSize: 5 });
    return {
      base,
      store,
      pause: async () => proxy.pause(),
      resume: async () => proxy.resume(),
      async close() {
        proxy.resume();
        await store.close();
        await proxy.close();
      },
    };
  }
  // SQLite has one connection: a transaction that holds it makes every other statement wait.
  let release: (() => void) | undefined;
  let holding: Promise<void> | undefined;
  return {
    base,
    store: base,
    async pause() {
      await new Promise<void>((taken) => {
        holding = base.db.transaction().execute(async () => {
          taken();
          await new Promise<void>((resolve) => (release = resolve));
        });
      });
    },
    async resume() {
      release?.();
      await holding;
    },
    async close() {
      release?.();
      await holding;
    },
  };
}

export async function startCoreGateway(
  database: TestDatabase,
  options: GatewayOptions = {},
): Promise<CoreGateway> {
  const paused = await pausableStore(database);
  const clock = new ManualClock(Date.now());
  const { wrapStore, ...coreOptions } = options;
  const core = createCore({
    store: wrapStore ? wrapStore(paused.store) : paused.store,
    clock,
    trustDomain: 'example.test',
    issuer: ISSUER,
    masterKey: randomBytes(32),
    ...coreOptions,
  });
  await core.start({ jobs: false });
  const logger = createLogger(process.env['STEWARD_TEST_LOG'] ?? 'silent');
  const { app } = await buildHttpApp({ core, logger });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const { key } = await core.apiKeys.create(
    { actor: SYSTEM_ACTOR },
    { name: 'core gateway tests', role: 'admin' },
  );
  const admin = (method: 'POST' | 'PUT', path: string, body: unknown): Promise<unknown> =>
    adminCall(app, key, method, path, body);
  const http = await startUpstream();
  const mcp = await startMcpUpstream();
  await admin('POST', '/v1/teams', {
    name: 'ops',
    contact: 'ops@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: SERVICE,
    team: 'ops',
    dataClassification: 'internal',
  });
  const { id: identity } = (await admin('POST', '/v1/identities', {
    service: SERVICE,
    environment: 'sandbox',
    agentPath: 'worker',
  })) as { id: string };
  await admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'test upstreams' });
  await admin('POST', '/v1/secrets', { name: 'upstream-key', value: UPSTREAM_KEY, team: 'ops' });
  const credential = {
    secret: 'upstream-key',
    in: 'header',
    name: 'x-api-key',
    format: '{secret}',
  };
  for (const [name, kind, target] of [
    [HTTP_UPSTREAM, 'http', http.url],
    [MCP_UPSTREAM, 'mcp', mcp.url],
  ] as const) {
    await admin('POST', '/v1/upstreams', {
      name,
      kind,
      url: target,
      team: 'ops',
      classification: 'internal',
      credential,
      timeoutMs: 5_000,
    });
  }
  await admin('PUT', '/v1/policies', { policies: POLICIES, message: 'core gateway tests' });
  await core.policies.reload();

  return {
    url,
    app,
    core,
    clock,
    http,
    mcp,
    trail: paused.base.db,
    pause: () => paused.pause(),
    resume: () => paused.resume(),
    token: (audience) => workloadToken(app, key, identity, { audience }),
    async close() {
      await paused.resume();
      // Clients that hung up mid-request can stay on Node's list of active connections (their
      // socket gone) until its headers timeout, a minute later; nothing is left to wait for.
      app.server.closeAllConnections();
      await app.close();
      await core.stop();
      await http.close();
      await mcp.close();
      await paused.close();
      await paused.base.dispose();
    },
  };
}

/** Gateway audit events of `type` in the trail, oldest first, `after` parsed. */
export async function trailEvents(
  gateway: CoreGateway,
  type: string,
): Promise<{ targetId: string; after: Record<string, unknown> }[]> {
  await gateway.core.gateway.drain();
  const rows = await gateway.trail
    .selectFrom('audit_events')
    .select(['target_id', 'after'])
    .where('type', '=', type)
    .orderBy('seq')
    .execute();
  return rows.map((row) => ({
    targetId: row.target_id,
    after: JSON.parse(row.after ?? '{}') as Record<string, unknown>,
  }));
}
