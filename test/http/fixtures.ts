/**
 * A valid request for every admin API route, and a dump of the whole database.
 *
 * The role-matrix and fuzz suites iterate the app's own route list and look each route up here:
 * a `/v1` route without an entry fails them, so a new route cannot escape its tests.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { SYSTEM_ACTOR, type Role } from '../../src/actors/index.js';
import type { Identity } from '../../src/registry/index.js';
import { fingerprint } from '../../src/toolpins/index.js';
import { OWNER_TEAM, type TestApp } from '../support/app.js';

export { OWNER_TEAM };

/** A second team, which the owner key may read but not change. */
export const OTHER_TEAM = 'other-team';

const system = { actor: SYSTEM_ACTOR, requestId: 'fixture' };

let counter = 0;
/** A name no earlier fixture used: fixtures run many times against one database. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Makes sure `team` exists. */
export async function ensureTeam(t: TestApp, team: string): Promise<void> {
  const existing = await t.core.teams.list({ limit: 500 });
  if (existing.items.some((item) => item.name === team)) return;
  await t.core.teams.create(system, { name: team, contact: 'c@example.com', escalation: 'e' });
}

export async function makeService(t: TestApp, team: string): Promise<string> {
  const name = unique('svc');
  await t.core.services.create(system, { name, team, dataClassification: 'internal' });
  return name;
}

export async function makeIdentity(
  t: TestApp,
  team: string,
  status: 'active' | 'disabled' = 'active',
): Promise<Identity> {
  const identity = await t.core.identities.create(system, {
    service: await makeService(t, team),
    environment: 'sandbox',
    agentPath: unique('agent'),
  });
  return status === 'disabled'
    ? t.core.identities.changeStatus(system, identity.id, 'disable', 'fixture')
    : identity;
}

/** A public key for trust rules; its private half is never needed by these fixtures. */
const FEDERATION_JWK = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
  format: 'jwk',
});

export async function makeTrust(t: TestApp, team: string): Promise<string> {
  const name = unique('trust');
  await t.core.federation.create(system, {
    name,
    issuer: 'https://issuer.example.com',
    jwks: { keys: [FEDERATION_JWK] },
    audience: 'steward',
    conditions: { sub: 'ci' },
    identity: (await makeIdentity(t, team)).id,
  });
  return name;
}

export async function makeTask(t: TestApp, team: string): Promise<string> {
  const task = await t.core.tasks.open(system, {
    identity: (await makeIdentity(t, team)).id,
    deadlineSeconds: 600,
  });
  return task.id;
}

export async function makePerson(t: TestApp, team: string): Promise<string> {
  const person = await t.core.people.create(system, {
    name: 'Ada',
    email: `${unique('ada')}@example.com`,
    team,
  });
  return person.id;
}

export interface FixtureContext {
  readonly t: TestApp;
  /** The caller's role; an owner's requests act on `team`. */
  readonly role: Role;
  /** The team whose resources the request acts on. */
  readonly team: string;
}

export interface RouteFixture {
  /** Builds a request that succeeds for every allowed role (creating what it needs). */
  build(context: FixtureContext): Promise<InjectOptions>;
  /** The route changes one team's resources: an owner of another team must get 403. */
  readonly teamScoped?: true;
  /** The route's own body limit, when it is not the API's 64 KiB (policy text). */
  readonly bodyLimit?: number;
}

/** Valid policies for the policy routes' fixtures. */
export const FIXTURE_POLICIES = `@id("tools-in-sandbox")
permit(principal, action == Steward::Action::"invoke_tool", resource)
when { context.environment == "sandbox" };

@id("no-sensitive") @approval("security")
forbid(principal, action == Steward::Action::"invoke_tool", resource)
when { resource.sensitive };
`;

/** A policy version that exists, for routes that name one. */
export async function makePolicyVersion(t: TestApp): Promise<number> {
  const written = await t.core.policies.put(system, {
    policies: FIXTURE_POLICIES,
    message: unique('fixture'),
  });
  return written.version;
}

/** A secret of `team`; its value is never needed by the fixtures. */
export async function makeSecret(t: TestApp, team: string): Promise<string> {
  const name = unique('secret');
  await t.core.secrets.create(system, { name, team, value: `value-of-${name}` });
  return name;
}

/**
 * A public documentation address (RFC 5737 TEST-NET-3): the egress guard passes it without a
 * name lookup, and nothing ever connects to it.
 */
export const FIXTURE_UPSTREAM_URL = 'https://203.0.113.10/mcp';

export async function makeUpstream(t: TestApp, team: string): Promise<string> {
  const name = unique('upstream');
  await t.core.upstreams.create(system, {
    name,
    kind: 'mcp',
    url: FIXTURE_UPSTREAM_URL,
    team,
    classification: 'internal',
    credential: { secret: await makeSecret(t, team), in: 'bearer' },
    operations: [{ name: 'lookup' }, { name: 'refund', sensitive: true }],
  });
  return name;
}

/**
 * An MCP upstream whose tool `lookup` was pinned at its first listing and has changed since: the
 * hash of its current definition is what an accept names.
 */
export async function makeChangedTool(
  t: TestApp,
  team: string,
): Promise<{ upstream: string; hash: string }> {
  const upstream = await t.core.upstreams.get(await makeUpstream(t, team));
  const definition = (description: string) => {
    const print = fingerprint({ name: 'lookup', description, inputSchema: { type: 'object' } });
    assert.ok(print);
    return print;
  };
  const seen = (description: string) => ({
    tools: new Map([['lookup', definition(description)]]),
    complete: true,
  });
  await t.core.toolPins.observe(upstream, seen('Look up an order.'));
  await t.core.toolPins.observe(upstream, seen('Look up an order, and more.'));
  return { upstream: upstream.name, hash: definition('Look up an order, and more.').hash };
}

/** A tool the registry does not know yet, described in the request. */
export const FIXTURE_TOOL = {
  type: 'Tool',
  id: 'crm/lookup',
  attrs: { name: 'lookup', upstream: 'crm', sensitive: false },
  parents: [{ type: 'Upstream', id: 'crm' }],
};

const POLICY_BODY_LIMIT = 1024 * 1024;

const json = (
  method: 'POST' | 'PUT' | 'PATCH',
  url: string,
  payload: Record<string, unknown>,
): InjectOptions => ({ method, url, payload });

/** Keyed by `METHOD /url/:template`, exactly as the app registers the route. */
export const ROUTE_FIXTURES: Readonly<Record<string, RouteFixture>> = {
  'POST /v1/teams': {
    build: async () =>
      json('POST', '/v1/teams', {
        name: unique('team'),
        contact: 'team@example.com',
        escalation: '+1-555-0100',
        onCall: 'pagerduty:P123',
        description: 'A team',
      }),
  },
  'GET /v1/teams': { build: async () => ({ method: 'GET', url: '/v1/teams?limit=2' }) },
  'GET /v1/teams/:name': {
    build: async ({ team }) => ({ method: 'GET', url: `/v1/teams/${team}` }),
  },
  'PATCH /v1/teams/:name': {
    teamScoped: true,
    build: async ({ team }) =>
      json('PATCH', `/v1/teams/${team}`, { contact: unique('contact'), onCall: 'rota-1' }),
  },
  'DELETE /v1/teams/:name': {
    build: async ({ t }) => {
      const name = unique('empty');
      await ensureTeam(t, name);
      return { method: 'DELETE', url: `/v1/teams/${name}` };
    },
  },

  'POST /v1/people': {
    teamScoped: true,
    build: async ({ team }) =>
      json('POST', '/v1/people', {
        name: 'Grace Hopper',
        email: `${unique('grace')}@example.com`,
        team,
        role: 'lead',
      }),
  },
  'GET /v1/people': {
    build: async ({ team }) => ({ method: 'GET', url: `/v1/people?team=${team}&limit=5` }),
  },
  'GET /v1/people/:id': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/people/${await makePerson(t, team)}`,
    }),
  },
  'PATCH /v1/people/:id': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('PATCH', `/v1/people/${await makePerson(t, team)}`, { role: 'on-call', active: false }),
  },

  'POST /v1/services': {
    teamScoped: true,
    build: async ({ team }) =>
      json('POST', '/v1/services', {
        name: unique('service'),
        team,
        dataClassification: 'confidential',
        runbookUrl: 'https://runbooks.example.com/refunds',
        rollbackPlan: 'Redeploy the previous image.',
      }),
  },
  'GET /v1/services': {
    build: async ({ team }) => ({ method: 'GET', url: `/v1/services?team=${team}` }),
  },
  'GET /v1/services/:name': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/services/${await makeService(t, team)}`,
    }),
  },
  'PATCH /v1/services/:name': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('PATCH', `/v1/services/${await makeService(t, team)}`, {
        description: 'Refunds',
        dataClassification: 'restricted',
      }),
  },
  'PUT /v1/services/:name/admitted-environments': {
    build: async ({ t, team }) =>
      json('PUT', `/v1/services/${await makeService(t, team)}/admitted-environments`, {
        environments: ['pilot'],
        reason: 'CAB-1 approved',
      }),
  },

  'POST /v1/identities': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', '/v1/identities', {
        service: await makeService(t, team),
        environment: 'sandbox',
        agentPath: 'planner/search',
        description: 'Plans refunds',
        maxTokenTtlSeconds: 600,
      }),
  },
  'GET /v1/identities': {
    build: async ({ team }) => ({
      method: 'GET',
      url: `/v1/identities?team=${team}&environment=sandbox&status=active`,
    }),
  },
  'GET /v1/identities/:id': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/identities/${(await makeIdentity(t, team)).id}`,
    }),
  },
  'PATCH /v1/identities/:id': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('PATCH', `/v1/identities/${(await makeIdentity(t, team)).id}`, {
        description: 'updated',
        maxTokenTtlSeconds: 300,
      }),
  },
  'POST /v1/identities/:id/disable': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', `/v1/identities/${(await makeIdentity(t, team)).id}/disable`, {
        reason: 'suspicious traffic',
      }),
  },
  'POST /v1/identities/:id/enable': {
    build: async ({ t, team }) =>
      json('POST', `/v1/identities/${(await makeIdentity(t, team, 'disabled')).id}/enable`, {
        reason: 'cleared',
      }),
  },
  'POST /v1/identities/:id/decommission': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', `/v1/identities/${(await makeIdentity(t, team)).id}/decommission`, {
        reason: 'retired',
      }),
  },

  'POST /v1/api-keys': {
    build: async () =>
      json('POST', '/v1/api-keys', { name: 'ci reader', role: 'auditor', ttlSeconds: 3600 }),
  },
  'GET /v1/api-keys': {
    build: async () => ({ method: 'GET', url: '/v1/api-keys?includeRevoked=true&limit=3' }),
  },
  'GET /v1/api-keys/:id': {
    build: async ({ t }) => {
      const key = await t.core.apiKeys.create(system, { name: unique('k'), role: 'auditor' });
      return { method: 'GET', url: `/v1/api-keys/${key.id}` };
    },
  },
  'DELETE /v1/api-keys/:id': {
    build: async ({ t }) => {
      const key = await t.core.apiKeys.create(system, { name: unique('k'), role: 'auditor' });
      return { method: 'DELETE', url: `/v1/api-keys/${key.id}` };
    },
  },
  'GET /v1/whoami': { build: async () => ({ method: 'GET', url: '/v1/whoami' }) },

  'POST /v1/identities/:id/join-tokens': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', `/v1/identities/${(await makeIdentity(t, team)).id}/join-tokens`, {
        ttlSeconds: 300,
      }),
  },
  'POST /v1/federation/trusts': {
    build: async ({ t, team }) =>
      json('POST', '/v1/federation/trusts', {
        name: unique('trust'),
        issuer: 'https://issuer.example.com',
        jwks: { keys: [FEDERATION_JWK] },
        audience: 'steward',
        conditions: { sub: 'system:serviceaccount:payments:refund-agent' },
        identity: (await makeIdentity(t, team)).id,
      }),
  },
  'GET /v1/federation/trusts': {
    build: async () => ({ method: 'GET', url: '/v1/federation/trusts' }),
  },
  'GET /v1/federation/trusts/:name': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/federation/trusts/${await makeTrust(t, team)}`,
    }),
  },
  'DELETE /v1/federation/trusts/:name': {
    build: async ({ t, team }) => ({
      method: 'DELETE',
      url: `/v1/federation/trusts/${await makeTrust(t, team)}`,
    }),
  },
  'GET /v1/keys': { build: async () => ({ method: 'GET', url: '/v1/keys' }) },
  'POST /v1/keys/:kid/withdraw': {
    build: async ({ t }) => {
      const key = await t.core.keyring.rotate(system, { immediate: false });
      return json('POST', `/v1/keys/${key.kid}/withdraw`, { reason: 'compromised in a test' });
    },
  },
  'POST /v1/keys/rotate': {
    build: async () => json('POST', '/v1/keys/rotate', { immediate: false }),
  },

  'POST /v1/tasks': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', '/v1/tasks', {
        identity: (await makeIdentity(t, team)).id,
        deadlineSeconds: 600,
        description: 'refund #42',
      }),
  },
  'GET /v1/tasks': { build: async () => ({ method: 'GET', url: '/v1/tasks?status=open&limit=3' }) },
  'GET /v1/tasks/:id': {
    build: async ({ t, team }) => ({ method: 'GET', url: `/v1/tasks/${await makeTask(t, team)}` }),
  },
  'POST /v1/tasks/:id/complete': {
    teamScoped: true,
    build: async ({ t, team }) => ({
      method: 'POST',
      url: `/v1/tasks/${await makeTask(t, team)}/complete`,
    }),
  },
  'GET /v1/tokens': { build: async () => ({ method: 'GET', url: '/v1/tokens?limit=3' }) },
  'POST /v1/revocations': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', '/v1/revocations', {
        kind: 'identity',
        identity: (await makeIdentity(t, team)).id,
        reason: 'incident 7',
      }),
  },
  'POST /oauth2/introspect': {
    build: async () => ({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=not-a-token',
    }),
  },
  'GET /v1/policy/schema': {
    build: async () => ({ method: 'GET', url: '/v1/policy/schema?format=json' }),
  },
  'GET /v1/policies': { build: async () => ({ method: 'GET', url: '/v1/policies' }) },
  'PUT /v1/policies': {
    bodyLimit: POLICY_BODY_LIMIT,
    build: async () =>
      json('PUT', '/v1/policies', { policies: FIXTURE_POLICIES, message: unique('change') }),
  },
  'GET /v1/policy/versions': {
    build: async () => ({ method: 'GET', url: '/v1/policy/versions?limit=3' }),
  },
  'GET /v1/policy/versions/:version': {
    build: async ({ t }) => ({
      method: 'GET',
      url: `/v1/policy/versions/${await makePolicyVersion(t)}`,
    }),
  },
  'POST /v1/policy/rollback': {
    build: async ({ t }) =>
      json('POST', '/v1/policy/rollback', {
        version: await makePolicyVersion(t),
        message: 'back to the reviewed set',
      }),
  },
  'POST /v1/policy/validate': {
    bodyLimit: POLICY_BODY_LIMIT,
    build: async () => json('POST', '/v1/policy/validate', { policies: FIXTURE_POLICIES }),
  },
  'POST /v1/authorize': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', '/v1/authorize', {
        principal: { identity: (await makeIdentity(t, team)).id },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
        context: { method: 'POST', clientAddress: '10.0.0.7', arguments: { customer: 42 } },
      }),
  },
  'POST /v1/policy/simulate': {
    bodyLimit: POLICY_BODY_LIMIT,
    build: async () =>
      json('POST', '/v1/policy/simulate', {
        policies: FIXTURE_POLICIES,
        since: '2020-01-01T00:00:00Z',
        limit: 50,
      }),
  },
  'GET /v1/policy/findings': {
    build: async () => ({ method: 'GET', url: '/v1/policy/findings' }),
  },
  'POST /v1/secrets': {
    teamScoped: true,
    build: async ({ team }) =>
      json('POST', '/v1/secrets', {
        name: unique('secret'),
        value: 'sk-fixture-value',
        team,
        rotationPeriodSeconds: 86_400,
        description: 'A fixture credential',
      }),
  },
  'GET /v1/secrets': {
    build: async ({ t, team }) => {
      await makeSecret(t, team);
      return { method: 'GET', url: `/v1/secrets?team=${team}&limit=5` };
    },
  },
  'GET /v1/secrets/:name': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/secrets/${await makeSecret(t, team)}`,
    }),
  },
  'POST /v1/secrets/:name/rotate': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', `/v1/secrets/${await makeSecret(t, team)}/rotate`, {
        value: 'sk-fixture-rotated',
      }),
  },
  'DELETE /v1/secrets/:name': {
    teamScoped: true,
    build: async ({ t, team }) => ({
      method: 'DELETE',
      url: `/v1/secrets/${await makeSecret(t, team)}`,
    }),
  },

  'POST /v1/upstreams': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('POST', '/v1/upstreams', {
        name: unique('upstream'),
        kind: 'http',
        url: 'https://203.0.113.20/api',
        team,
        classification: 'confidential',
        credential: {
          secret: await makeSecret(t, team),
          in: 'header',
          name: 'x-api-key',
          format: 'Key {secret}',
        },
        operations: [
          { name: 'get-refund', method: 'GET', path: '/refunds/:id' },
          { name: 'refund', method: 'POST', path: '/refunds', description: 'Pays money back' },
        ],
        sensitive: ['refund'],
        timeoutMs: 5_000,
        maxRequestBytes: 65_536,
        maxResponseBytes: 1_048_576,
        recordContent: false,
        rateLimit: { perSecond: 10, burst: 20 },
      }),
  },
  'GET /v1/upstreams': {
    build: async ({ team }) => ({
      method: 'GET',
      url: `/v1/upstreams?team=${team}&kind=mcp&limit=5`,
    }),
  },
  'GET /v1/upstreams/:name': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/upstreams/${await makeUpstream(t, team)}`,
    }),
  },
  'PATCH /v1/upstreams/:name': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('PATCH', `/v1/upstreams/${await makeUpstream(t, team)}`, {
        classification: 'restricted',
        timeoutMs: 10_000,
        sensitive: ['lookup', 'refund'],
        rateLimit: { perSecond: 5, burst: 5 },
      }),
  },
  'DELETE /v1/upstreams/:name': {
    teamScoped: true,
    build: async ({ t, team }) => ({
      method: 'DELETE',
      url: `/v1/upstreams/${await makeUpstream(t, team)}`,
    }),
  },
  'GET /v1/upstreams/:name/tools': {
    build: async ({ t, team }) => ({
      method: 'GET',
      url: `/v1/upstreams/${(await makeChangedTool(t, team)).upstream}/tools`,
    }),
  },
  'PATCH /v1/upstreams/:name/tools': {
    teamScoped: true,
    build: async ({ t, team }) =>
      json('PATCH', `/v1/upstreams/${await makeUpstream(t, team)}/tools`, { onChange: 'warn' }),
  },
  'POST /v1/upstreams/:name/tools/:tool/accept': {
    teamScoped: true,
    build: async ({ t, team }) => {
      const { upstream, hash } = await makeChangedTool(t, team);
      return json('POST', `/v1/upstreams/${upstream}/tools/lookup/accept`, { hash });
    },
  },
  'POST /v1/egress/allow': {
    build: async () => {
      counter += 1;
      return json('POST', '/v1/egress/allow', {
        address: `10.${Math.floor(counter / 256) % 256}.${counter % 256}.0/24`,
        reason: 'the CRM runs in the private network',
      });
    },
  },
  'GET /v1/egress/allow': {
    build: async () => ({ method: 'GET', url: '/v1/egress/allow' }),
  },
  'DELETE /v1/egress/allow/:id': {
    build: async ({ t }) => {
      counter += 1;
      const entry = await t.core.egress.allow(system, {
        address: `fd00::${counter.toString(16)}`,
        reason: 'fixture',
      });
      return { method: 'DELETE', url: `/v1/egress/allow/${entry.id}` };
    },
  },

  'GET /v1/audit': {
    build: async () => ({
      method: 'GET',
      url: '/v1/audit?type=team.&since=2020-01-01T00:00:00Z&order=asc&limit=3',
    }),
  },
};

/** Routes anyone may call: liveness, readiness, metrics, the API description. */
export const PUBLIC_ROUTES: readonly string[] = [
  'POST /oauth2/token',
  'POST /oauth2/revoke',
  'GET /.well-known/jwks.json',
  'GET /.well-known/oauth-authorization-server',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  // The HTTP gateway: no API key; the enforcement core verifies the agent's access token.
  ...['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].flatMap((method) => [
    `${method} /gw/http/:upstream`,
    `${method} /gw/http/:upstream/*`,
  ]),
  // The MCP gateway (Streamable HTTP) and its RFC 9728 metadata: the same, for MCP clients.
  'GET /gw/mcp/:upstream',
  'POST /gw/mcp/:upstream',
  'DELETE /gw/mcp/:upstream',
  'GET /.well-known/oauth-protected-resource/gw/mcp/:upstream',
];

export function routeKey(route: { method: string; url: string }): string {
  return `${route.method} ${route.url}`;
}

/** The fixture of a route; fails the test when a `/v1` route has none. */
export function fixtureFor(route: { method: string; url: string }): RouteFixture {
  const fixture = ROUTE_FIXTURES[routeKey(route)];
  assert.ok(
    fixture,
    `${routeKey(route)} has no request fixture in test/http/fixtures.ts: add one, so that its roles and input are tested`,
  );
  return fixture;
}

const TABLES = [
  'meta',
  'teams',
  'people',
  'services',
  'identities',
  'api_keys',
  'audit_events',
  'signing_keys',
  'join_tokens',
  'federation_trusts',
  'tasks',
  'tokens',
  'revocations',
  'policy_versions',
  'secrets',
  'secret_versions',
  'upstreams',
  'egress_allowlist',
  'tool_pin_upstreams',
  'tool_pins',
];

/**
 * Every row of every table, in a stable order. `api_keys.last_used_at` is left out: reading the
 * registry with a key legitimately touches it (at most once a minute).
 */
export async function dumpDatabase(t: TestApp): Promise<string> {
  const tables = await Promise.all(
    TABLES.map(async (table) => {
      const result = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
        t.store.db,
      );
      const rows = result.rows.map((row) => {
        const { last_used_at: _ignored, ...rest } = row;
        return JSON.stringify(table === 'api_keys' ? rest : row);
      });
      return `${table}:\n${rows.sort().join('\n')}`;
    }),
  );
  return tables.join('\n');
}

/**
 * A cheap fingerprint for every request: the row count of each table and the last audit sequence
 * number, in one round trip. {@link dumpDatabase} catches in-place updates around a batch.
 */
export async function countRows(t: TestApp): Promise<string> {
  const counts = TABLES.map(
    (table) => sql`(select count(*) from ${sql.table(table)}) as ${sql.ref(table)}`,
  );
  const result = await sql<
    Record<string, unknown>
  >`select ${sql.join(counts)}, (select max(seq) from audit_events) as last_seq`.execute(
    t.store.db,
  );
  return JSON.stringify(result.rows[0], (_key, value: unknown) =>
    typeof value === 'bigint' ? String(value) : value,
  );
}

const STACK_OR_INTERNALS =
  /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+|SQLITE_|sqlite|postgres|kysely|syntax error|relation "|TypeError|RangeError|ReferenceError|Cannot read prop|undefined is not/i;

/**
 * A client error as the API must give it: 4xx, problem+json, a stable code, the request id, and
 * nothing from the inside (no stack, no SQL, no file names).
 */
export function assertProblem(
  response: LightMyRequestResponse,
  what: string,
  expected?: { status?: number; code?: string },
): { code: string; requestId: string } {
  const where = `${what} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  assert.ok(response.statusCode >= 400 && response.statusCode < 500, `expected a 4xx for ${where}`);
  if (expected?.status !== undefined) assert.equal(response.statusCode, expected.status, where);
  assert.match(
    String(response.headers['content-type']),
    /^application\/problem\+json/,
    `content-type of ${where}`,
  );
  const body = response.json<Record<string, unknown>>();
  assert.equal(typeof body['code'], 'string', where);
  assert.match(String(body['code']), /^[a-z][a-z_]*$/, where);
  if (expected?.code !== undefined) assert.equal(body['code'], expected.code, where);
  assert.equal(body['status'], response.statusCode, where);
  assert.equal(typeof body['requestId'], 'string', where);
  assert.equal(body['requestId'], response.headers['x-request-id'], where);
  assert.doesNotMatch(response.body, STACK_OR_INTERNALS, `internal detail leaked: ${where}`);
  return { code: String(body['code']), requestId: String(body['requestId']) };
}
