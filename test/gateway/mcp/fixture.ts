/**
 * Steward with its MCP gateway over real HTTP on loopback, in front of a real MCP server: one or
 * more replicas (apps with their own core) on one store, as several `steward up` processes on
 * one database would be. Set-up goes through the admin API, as an operator's would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { buildHttpApp } from '../../../src/http/index.js';
import type { CoreOptions } from '../../../src/server/core.js';
import { createCore, createLogger, type Core } from '../../../src/server/index.js';
import { ManualClock } from '../../support/clock.js';
import type { TestDatabase, TestStore } from '../../support/databases.js';
import { startMcpUpstream, UPSTREAM_KEY, type TestMcpUpstream } from './upstream-server.js';
import { adminCall, workloadToken } from '../../support/inject.js';

export const ISSUER = 'http://steward.test';
export const UPSTREAM = 'orders';
const TEAM = 'payments';
const SERVICE = 'refund-agent';

/** Who may do what: the listing, `lookup_order`, one resource and one prompt; never `refund`. */
export const POLICIES = `
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"list_tools", resource == Steward::Upstream::"${UPSTREAM}");
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"${UPSTREAM}/lookup_order");
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"read_resource", resource == Steward::Resource::"${UPSTREAM}/orders://recent");
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"get_prompt", resource == Steward::Prompt::"${UPSTREAM}/summarise");
`;

export interface Replica {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly core: Core;
}

export interface TestGateway {
  readonly replicas: readonly Replica[];
  readonly upstream: TestMcpUpstream;
  readonly identity: string;
  /** An admin API call on the first replica; asserts the status. */
  admin<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    status?: number,
  ): Promise<T>;
  /**
   * A fresh session's access token for an upstream (default: `UPSTREAM`), as `identity` (default:
   * the fixture's): a new join token, exchanged.
   */
  token(options?: { task?: string; audience?: string; identity?: string }): Promise<string>;
  /** Another workload identity of the same service, so under the same policies. */
  addIdentity(agentPath: string): Promise<string>;
  /**
   * Registers another MCP upstream in front of a new test server (closed with the gateway), with
   * its own secret `<name>-key` (value `UPSTREAM_KEY`), and lets the service call its
   * `lookup_order` and `sleep`.
   */
  addUpstream(name: string, options?: { timeoutMs?: number }): Promise<TestMcpUpstream>;
  close(): Promise<void>;
}

export async function startGateway(
  database: TestDatabase,
  replicas = 1,
  coreOptions: Partial<Pick<CoreOptions, 'resolveHost'>> = {},
): Promise<TestGateway> {
  const store: TestStore = await database.open();
  const clock = new ManualClock(Date.now());
  const masterKey = randomBytes(32);
  const logger = createLogger(process.env['STEWARD_TEST_LOG'] ?? 'silent');
  const started: Replica[] = [];
  for (let i = 0; i < replicas; i += 1) {
    const core = createCore({
      store,
      clock,
      trustDomain: 'example.test',
      issuer: ISSUER,
      masterKey,
      ...coreOptions,
    });
    await core.start({ jobs: false });
    const { app } = await buildHttpApp({ core, logger });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    started.push({ url, app, core });
  }
  const [first] = started;
  assert.ok(first);
  const firstApp = first.app;
  const { key } = await first.core.apiKeys.create(
    { actor: SYSTEM_ACTOR },
    { name: 'mcp gateway tests', role: 'admin' },
  );

  const admin = <T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    status?: number,
  ): Promise<T> => adminCall<T>(firstApp, key, method, url, body, status);

  const upstream = await startMcpUpstream();
  const extraUpstreams: TestMcpUpstream[] = [];
  let policies = POLICIES;
  await admin('POST', '/v1/teams', {
    name: TEAM,
    contact: 'payments@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: SERVICE,
    team: TEAM,
    dataClassification: 'confidential',
  });
  const { id: identity } = await admin<{ id: string }>('POST', '/v1/identities', {
    service: SERVICE,
    environment: 'sandbox',
    agentPath: 'planner',
  });
  await admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'test upstreams' });
  await admin('POST', '/v1/secrets', { name: 'orders-key', value: UPSTREAM_KEY, team: TEAM });
  await admin('POST', '/v1/upstreams', {
    name: UPSTREAM,
    kind: 'mcp',
    url: upstream.url,
    team: TEAM,
    classification: 'confidential',
    credential: { secret: 'orders-key', in: 'header', name: 'x-api-key', format: '{secret}' },
    sensitive: ['refund'],
    timeoutMs: 5_000,
  });
  await admin('PUT', '/v1/policies', { policies: POLICIES, message: 'mcp gateway tests' });
  // Every replica sees the policy now, not at its next poll.
  for (const replica of started) await replica.core.policies.reload();

  return {
    replicas: started,
    upstream,
    identity,
    admin,
    token: (options = {}) =>
      workloadToken(first.app, key, options.identity ?? identity, {
        audience: options.audience ?? UPSTREAM,
        task: options.task,
      }),
    async addIdentity(agentPath) {
      const created = await admin<{ id: string }>('POST', '/v1/identities', {
        service: SERVICE,
        environment: 'sandbox',
        agentPath,
      });
      return created.id;
    },
    async addUpstream(name, options = {}) {
      const server = await startMcpUpstream();
      extraUpstreams.push(server);
      await admin('POST', '/v1/secrets', { name: `${name}-key`, value: UPSTREAM_KEY, team: TEAM });
      await admin('POST', '/v1/upstreams', {
        name,
        kind: 'mcp',
        url: server.url,
        team: TEAM,
        classification: 'confidential',
        credential: { secret: `${name}-key`, in: 'header', name: 'x-api-key', format: '{secret}' },
        timeoutMs: options.timeoutMs ?? 5_000,
      });
      policies += ['lookup_order', 'sleep']
        .map(
          (tool) =>
            `permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"${name}/${tool}");\n`,
        )
        .join('');
      await admin('PUT', '/v1/policies', { policies, message: `mcp gateway tests: ${name}` });
      for (const replica of started) await replica.core.policies.reload();
      return server;
    },
    async close() {
      for (const replica of started) {
        await replica.app.close();
        await replica.core.stop();
      }
      await upstream.close();
      for (const server of extraUpstreams) await server.close();
      await store.dispose();
    },
  };
}

/**
 * The official MCP client, connected to the gateway's endpoint for `upstream` with `token`.
 * `fetch` may route each request to another replica.
 */
export async function connect(
  url: string,
  token: string,
  fetchFn?: typeof fetch,
  upstream = UPSTREAM,
): Promise<Client> {
  const client = new Client({ name: 'gateway-test-agent', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/gw/mcp/${upstream}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      ...(fetchFn !== undefined ? { fetch: fetchFn } : {}),
    }),
  );
  return client;
}

/** The JSON-RPC error a call was refused with. */
export async function refusal(
  pending: Promise<unknown>,
): Promise<{ code: number; data: Record<string, unknown> | undefined; message: string }> {
  try {
    await pending;
  } catch (error) {
    const { code, data, message } = error as {
      code: number;
      data?: Record<string, unknown>;
      message: string;
    };
    return { code, data, message };
  }
  assert.fail('the call was not refused');
}
