/**
 * The admin API end to end through HTTP, on both databases: operations endpoints (health,
 * readiness, metrics, OpenAPI), request ids, logs without secrets, and the happy path of every
 * resource with pagination and audit filters.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildHttpApp } from '../../src/http/index.js';
import { createLogger } from '../../src/server/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { assertProblem, OWNER_TEAM, routeKey } from './fixtures.js';

interface Page<T> {
  items: T[];
  nextCursor?: string;
}
interface AuditEvent {
  seq: number;
  type: string;
  actor: string;
  actorRole: string;
  requestId: string | null;
  clientRequestId: string | null;
  occurredAt: string;
  identity: string | null;
  service: string | null;
  team: string | null;
  before: unknown;
  after: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body's shape
function ok<T>(response: LightMyRequestResponse, status = 200): T {
  assert.equal(response.statusCode, status, response.body);
  return response.json<T>();
}

/** Follows `nextCursor` from `url` to the end, returning every item. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the items' shape
async function readAll<T>(t: TestApp, url: string): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const separator = url.includes('?') ? '&' : '?';
    const page = ok<Page<T>>(
      await t.call('admin', {
        url: cursor === undefined ? url : `${url}${separator}cursor=${cursor}`,
      }),
    );
    items.push(...page.items);
    cursor = page.nextCursor;
    pages += 1;
    assert.ok(pages < 100, 'pagination does not end');
  } while (cursor !== undefined);
  return { items, pages };
}

for (const database of await testDatabases()) {
  const t: TestApp = await startTestApp(database);
  /** Tells the two databases' names apart without naming the engine in a response. */
  const tag = database.name === 'sqlite' ? 'lite' : 'pg';

  describe(`admin API on ${database.name}`, () => {
    after(async () => t.close());

    describe('operations', () => {
      it('/healthz is alive and /readyz is ready with migrations current', async () => {
        assert.deepEqual(ok(await t.call(null, { url: '/healthz' })), { status: 'ok' });
        assert.deepEqual(ok(await t.call(null, { url: '/readyz' })), {
          status: 'ready',
          database: database.name,
        });
      });

      it('/metrics counts requests and times them by route template, never by raw URL', async () => {
        const service = `metrics-${tag}`;
        ok(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/services',
            payload: { name: service, team: OWNER_TEAM, dataClassification: 'public' },
          }),
          201,
        );
        ok(await t.call('auditor', { url: `/v1/services/${service}` }));
        await t.call('auditor', { url: '/v1/services/no-such-service' });
        await t.call(null, { url: '/no/such/route/secret-path' });
        const response = await t.call(null, { url: '/metrics' });
        assert.equal(response.statusCode, 200);
        assert.match(String(response.headers['content-type']), /^text\/plain/);
        const text = response.body;
        assert.match(
          text,
          /steward_http_requests_total\{method="GET",route="\/v1\/services\/:name",status_code="200"\} [1-9]/,
        );
        assert.match(
          text,
          /steward_http_requests_total\{method="GET",route="\/v1\/services\/:name",status_code="404"\} [1-9]/,
        );
        assert.match(
          text,
          /steward_http_request_duration_seconds_bucket\{le="[0-9.]+",method="GET",route="\/v1\/services\/:name",status_code="200"\}/,
        );
        assert.match(
          text,
          /steward_http_request_duration_seconds_count\{method="POST",route="\/v1\/services",status_code="201"\} 1/,
        );
        assert.ok(!text.includes(service), 'a raw URL reached a metric label');
        assert.ok(!text.includes('no-such-service'));
        assert.ok(!text.includes('secret-path'));

        // Every request counts, in its own label set, once the set is known: three more 404s on
        // the route and one 201 on another add exactly that, in the counter and the histogram.
        const series = (body: string, name: string, labels: string): number =>
          Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0);
        const notFound = 'method="GET",route="/v1/services/:name",status_code="404"';
        const created = 'method="POST",route="/v1/services",status_code="201"';
        for (let i = 0; i < 3; i++) {
          await t.call('auditor', { url: `/v1/services/no-such-service-${i}` });
        }
        ok(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/services',
            payload: { name: `${service}-2`, team: OWNER_TEAM, dataClassification: 'public' },
          }),
          201,
        );
        const later = (await t.call(null, { url: '/metrics' })).body;
        for (const [labels, added] of [
          [notFound, 3],
          [created, 1],
        ] as const) {
          for (const name of [
            'steward_http_requests_total',
            'steward_http_request_duration_seconds_count',
          ]) {
            assert.equal(
              series(later, name, labels) - series(text, name, labels),
              added,
              `${name}{${labels}}`,
            );
          }
        }
      });

      it('/openapi.json is OpenAPI 3.1 and describes every /v1 route', async () => {
        const document = ok<{
          openapi: string;
          paths: Record<string, Record<string, { security?: unknown; responses: unknown }>>;
          components: { securitySchemes: Record<string, unknown> };
        }>(await t.call(null, { url: '/openapi.json' }));
        assert.equal(document.openapi, '3.1.0');
        assert.ok(document.components.securitySchemes['apiKey']);
        const v1 = t.routeRoles.filter((route) => route.url.startsWith('/v1/'));
        assert.ok(v1.length >= 25);
        for (const route of v1) {
          const path = route.url.replace(/:(\w+)/g, '{$1}');
          assert.ok(
            document.paths[path]?.[route.method.toLowerCase()],
            `${routeKey(route)} is not in /openapi.json`,
          );
        }
        const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
          path.startsWith('/v1/') ? Object.keys(methods).map((m) => `${m} ${path}`) : [],
        );
        assert.equal(documented.length, v1.length, 'the document lists a route the app lacks');
      });

      it('keeps a safe x-request-id beside its own id in the trail, and answers with its own', async () => {
        const safe = 'req-Abc_1.2:3';
        const created = await t.call('admin', {
          method: 'POST',
          url: '/v1/teams',
          payload: { name: `rid-${tag}`, contact: 'c', escalation: 'e' },
          headers: { 'x-request-id': safe },
        });
        assert.equal(created.statusCode, 201);
        assert.match(String(created.headers['x-request-id']), UUID);
        const events = ok<Page<AuditEvent>>(
          await t.call('auditor', { url: '/v1/audit?type=team.created&limit=1' }),
        );
        assert.equal(events.items[0]?.requestId, created.headers['x-request-id']);
        assert.equal(events.items[0]?.clientRequestId, safe);

        const problem = await t.call('admin', {
          url: '/v1/teams/no-such-team',
          headers: { 'x-request-id': safe },
        });
        assert.match(assertProblem(problem, 'missing team', { status: 404 }).requestId, UUID);

        for (const unsafe of [
          'has spaces',
          '<script>alert(1)</script>',
          'a'.repeat(65),
          'line\\nbreak',
          'ünïcode',
        ]) {
          const response = await t.call(null, {
            url: '/healthz',
            headers: { 'x-request-id': unsafe },
          });
          const id = String(response.headers['x-request-id']);
          assert.notEqual(id, unsafe);
          assert.match(id, UUID);
        }
        const generated = await t.call(null, { url: '/healthz' });
        assert.match(String(generated.headers['x-request-id']), UUID);
      });

      it('answers an unknown route with a problem, not a stack', async () => {
        assertProblem(await t.call('admin', { url: '/v1/nothing-here' }), 'unknown route', {
          status: 404,
          code: 'route_not_found',
        });
      });

      it('never writes a key to the log, even at trace level', async () => {
        const lines: string[] = [];
        const sink = new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        });
        const logger = createLogger('trace', sink);
        const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
        const { app } = await buildHttpApp({ core: t.core, logger });
        try {
          const as = (key: string, options: InjectOptions) =>
            app.inject({
              ...options,
              headers: { authorization: `Bearer ${key}`, ...(options.headers ?? {}) },
            });
          const created = await as(t.keys.admin, {
            method: 'POST',
            url: '/v1/api-keys',
            payload: { name: 'log probe', role: 'auditor' },
          });
          const newKey = created.json<{ key: string; id: string }>().key;
          assert.match(newKey, /^stw_key_/);
          await as(newKey, { url: '/v1/whoami' });
          await as(t.keys.owner, { url: '/v1/api-keys' }); // 403
          await as(t.keys.security, { url: '/v1/teams/no-such-team' }); // 404
          await as(`${newKey.slice(0, -1)}x`, { url: '/v1/whoami' }); // forged: 401
          await app.inject({ url: '/v1/whoami', headers: { authorization: newKey } }); // no scheme
          await app.inject({ url: '/v1/whoami', headers: { 'x-api-key': newKey } });
          await app.inject({ url: '/v1/whoami', headers: { cookie: `key=${newKey}` } });
          await app.inject({ url: `/v1/whoami?key=${newKey}` });
          await app.inject({ url: `/v1/audit?access_token=${jwt}` });
          await app.inject({ url: `/v1/teams?cursor=x&note=${newKey}` });
          await as(t.keys.admin, {
            method: 'POST',
            url: '/v1/teams',
            payload: `{"name":"${newKey}"`, // malformed, with a key inside
            headers: { 'content-type': 'application/json' },
          });
          await as(t.keys.admin, {
            method: 'DELETE',
            url: `/v1/api-keys/${created.json<{ id: string }>().id}`,
          });
          const log = lines.join('');
          assert.ok(lines.length > 10, `too few log lines (${lines.length}) to prove anything`);
          for (const line of lines) JSON.parse(line); // every line is JSON
          for (const secret of [newKey, jwt, ...Object.values(t.keys)]) {
            assert.ok(!log.includes(secret), `a key reached the log: ${secret.slice(0, 12)}…`);
            // Nor its random part, whatever surrounds it.
            assert.ok(!log.includes(secret.slice(8, 30)), 'part of a key reached the log');
          }
          assert.match(log, /\[redacted\]/);
        } finally {
          await app.close();
        }
      });
    });

    describe('resources', () => {
      const suffix = tag;

      it('teams: create, get, list with cursor pagination, update, delete', async () => {
        const names = [1, 2, 3, 4, 5].map((n) => `page-${suffix}-${n}`);
        for (const name of [...names].reverse()) {
          const created = ok<{ id: string; name: string; onCall: string }>(
            await t.call('admin', {
              method: 'POST',
              url: '/v1/teams',
              payload: { name, contact: `${name}@example.com`, escalation: '+1-555-0100' },
            }),
            201,
          );
          assert.equal(created.name, name);
          assert.match(created.id, UUID);
          assert.equal(created.onCall, '');
        }
        assertProblem(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/teams',
            payload: { name: names[0], contact: 'x', escalation: 'y' },
          }),
          'duplicate team',
          { status: 409, code: 'team_exists' },
        );
        const { items, pages } = await readAll<{ name: string }>(t, '/v1/teams?limit=2');
        const listed = items.map((team) => team.name);
        assert.ok(pages >= 3, `${pages} pages`);
        assert.deepEqual(listed, [...listed].sort(), 'teams list in name order');
        assert.equal(new Set(listed).size, listed.length, 'no team twice');
        for (const name of [...names, OWNER_TEAM]) assert.ok(listed.includes(name), name);

        const team = names[0] ?? '';
        const updated = ok<{ contact: string; onCall: string; escalation: string }>(
          await t.call('owner', {
            method: 'PATCH',
            url: `/v1/teams/${OWNER_TEAM}`,
            payload: { onCall: 'pagerduty:P42' },
          }),
        );
        assert.equal(updated.onCall, 'pagerduty:P42');
        assert.equal(updated.escalation, '+1-555-0100');
        assert.equal(
          ok<{ name: string }>(await t.call('approver', { url: `/v1/teams/${team}` })).name,
          team,
        );
        const deleted = await t.call('admin', { method: 'DELETE', url: `/v1/teams/${team}` });
        assert.equal(deleted.statusCode, 204);
        assert.equal(deleted.body, '');
        assertProblem(await t.call('admin', { url: `/v1/teams/${team}` }), 'deleted team', {
          status: 404,
          code: 'not_found',
        });
        assertProblem(
          await t.call('admin', { method: 'DELETE', url: `/v1/teams/${OWNER_TEAM}` }),
          'team with keys',
          { status: 409, code: 'team_not_empty' },
        );
      });

      it('people: create, get, list by team, update', async () => {
        const created = ok<{ id: string; email: string; role: string; active: boolean }>(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/people',
            payload: { name: 'Ada Lovelace', email: `Ada.${suffix}@Example.com`, team: OWNER_TEAM },
          }),
          201,
        );
        assert.equal(created.email, `ada.${suffix}@example.com`);
        assert.equal(created.role, 'member');
        assert.equal(created.active, true);
        assertProblem(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/people',
            payload: { name: 'Again', email: `ADA.${suffix}@example.com`, team: OWNER_TEAM },
          }),
          'duplicate email',
          { status: 409, code: 'person_exists' },
        );
        assert.equal(
          ok<{ id: string }>(await t.call('auditor', { url: `/v1/people/${created.id}` })).id,
          created.id,
        );
        const listed = ok<Page<{ id: string; team: string }>>(
          await t.call('auditor', { url: `/v1/people?team=${OWNER_TEAM}` }),
        );
        assert.ok(listed.items.some((person) => person.id === created.id));
        assert.ok(listed.items.every((person) => person.team === OWNER_TEAM));
        const updated = ok<{ role: string; active: boolean; name: string }>(
          await t.call('owner', {
            method: 'PATCH',
            url: `/v1/people/${created.id}`,
            payload: { role: 'on-call', active: false },
          }),
        );
        assert.deepEqual(
          [updated.name, updated.role, updated.active],
          ['Ada Lovelace', 'on-call', false],
        );
      });

      it('services and identities: the full lifecycle, with filters and audit', async () => {
        const service = `refund-agent-${suffix}`;
        const created = ok<{ name: string; admittedEnvironments: string[]; runbookUrl: string }>(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/services',
            payload: {
              name: service,
              team: OWNER_TEAM,
              dataClassification: 'confidential',
              runbookUrl: 'https://runbooks.example.com/refund',
              rollbackPlan: 'Redeploy the previous image.',
            },
          }),
          201,
        );
        assert.deepEqual(created.admittedEnvironments, ['sandbox']);
        const patched = ok<{ description: string; dataClassification: string }>(
          await t.call('owner', {
            method: 'PATCH',
            url: `/v1/services/${service}`,
            payload: { description: 'Issues refunds', dataClassification: 'restricted' },
          }),
        );
        assert.deepEqual(
          [patched.description, patched.dataClassification],
          ['Issues refunds', 'restricted'],
        );
        const services = ok<Page<{ name: string }>>(
          await t.call('approver', { url: `/v1/services?team=${OWNER_TEAM}` }),
        );
        assert.ok(services.items.some((s) => s.name === service));

        const identity = ok<{
          id: string;
          spiffeId: string;
          status: string;
          maxTokenTtlSeconds: number;
        }>(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/identities',
            payload: { service, environment: 'sandbox', agentPath: 'planner/search' },
          }),
          201,
        );
        assert.equal(identity.spiffeId, `spiffe://example.test/sandbox/${service}/planner/search`);
        assert.equal(identity.status, 'active');
        assertProblem(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/identities',
            payload: { service, environment: 'sandbox', agentPath: 'planner/search' },
          }),
          'duplicate identity',
          { status: 409, code: 'identity_exists' },
        );
        assertProblem(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/identities',
            payload: { service, environment: 'pilot', agentPath: 'planner' },
          }),
          'pilot before admission',
          { status: 409, code: 'environment_not_admitted' },
        );
        const admitted = ok<{ admittedEnvironments: string[] }>(
          await t.call('security', {
            method: 'PUT',
            url: `/v1/services/${service}/admitted-environments`,
            payload: { environments: ['pilot'], reason: 'CAB-7' },
          }),
        );
        assert.deepEqual(admitted.admittedEnvironments, ['sandbox', 'pilot']);
        const pilot = ok<{ id: string; maxTokenTtlSeconds: number }>(
          await t.call('owner', {
            method: 'POST',
            url: '/v1/identities',
            payload: { service, environment: 'pilot', agentPath: 'planner' },
          }),
          201,
        );
        assertProblem(
          await t.call('owner', {
            method: 'PATCH',
            url: `/v1/identities/${pilot.id}`,
            payload: { maxTokenTtlSeconds: 3600 },
          }),
          'pilot TTL above its cap',
          { status: 400, code: 'validation_failed' },
        );

        const byService = ok<Page<{ id: string }>>(
          await t.call('auditor', { url: `/v1/identities?service=${service}` }),
        );
        assert.equal(byService.items.length, 2);
        const bySpiffe = ok<Page<{ id: string }>>(
          await t.call('auditor', {
            url: `/v1/identities?spiffeId=${encodeURIComponent(identity.spiffeId)}`,
          }),
        );
        assert.deepEqual(
          bySpiffe.items.map((i) => i.id),
          [identity.id],
        );
        const inPilot = ok<Page<{ id: string }>>(
          await t.call('auditor', { url: `/v1/identities?service=${service}&environment=pilot` }),
        );
        assert.deepEqual(
          inPilot.items.map((i) => i.id),
          [pilot.id],
        );

        const updated = ok<{ description: string; maxTokenTtlSeconds: number }>(
          await t.call('owner', {
            method: 'PATCH',
            url: `/v1/identities/${identity.id}`,
            payload: { description: 'Plans refunds', maxTokenTtlSeconds: 300 },
          }),
        );
        assert.deepEqual([updated.description, updated.maxTokenTtlSeconds], ['Plans refunds', 300]);
        const change = (as: 'owner' | 'security', verb: string, reason: string) =>
          t.call(as, {
            method: 'POST',
            url: `/v1/identities/${identity.id}/${verb}`,
            payload: { reason },
          });
        assert.equal(
          ok<{ status: string }>(await change('owner', 'disable', 'incident 9')).status,
          'disabled',
        );
        const disabledList = ok<Page<{ id: string }>>(
          await t.call('auditor', { url: `/v1/identities?service=${service}&status=disabled` }),
        );
        assert.deepEqual(
          disabledList.items.map((i) => i.id),
          [identity.id],
        );
        assert.equal(
          ok<{ status: string }>(await change('security', 'enable', 'cleared')).status,
          'active',
        );
        const gone = ok<{ status: string; statusReason: string; statusChangedBy: string }>(
          await change('owner', 'decommission', 'retired'),
        );
        assert.equal(gone.status, 'decommissioned');
        assert.equal(gone.statusReason, 'retired');
        assert.match(gone.statusChangedBy, /^apikey:/);
        assertProblem(await change('security', 'enable', 'oops'), 'enable decommissioned', {
          status: 409,
          code: 'identity_decommissioned',
        });

        const trail = ok<Page<AuditEvent>>(
          await t.call('auditor', {
            url: `/v1/audit?identity=${identity.id}&order=asc`,
          }),
        );
        // Disabling and decommissioning revoke the identity's tokens in the same transaction;
        // the identity's filter finds those revocations too.
        assert.deepEqual(
          trail.items.map((e) => e.type),
          [
            'identity.created',
            'identity.updated',
            'revocation.identity',
            'identity.disabled',
            'identity.enabled',
            'revocation.identity',
            'identity.decommissioned',
          ],
        );
        const disabledEvent = trail.items.find((e) => e.type === 'identity.disabled');
        assert.equal((disabledEvent?.before as { status: string }).status, 'active');
        assert.equal((disabledEvent?.after as { status: string }).status, 'disabled');
        assert.equal(disabledEvent?.actorRole, 'owner');
        assert.equal(disabledEvent?.service, service);
        assert.equal(disabledEvent?.team, OWNER_TEAM);
      });

      it('api keys: created once with the secret, listed without it, revoked', async () => {
        const created = ok<{ id: string; key: string; prefix: string; status: string }>(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/api-keys',
            payload: { name: 'payments owner', role: 'owner', team: OWNER_TEAM, ttlSeconds: 3600 },
          }),
          201,
        );
        assert.match(created.key, /^stw_key_[0-9A-Za-z]{38}$/);
        assert.ok(created.key.startsWith(created.prefix));
        const whoami = ok<{ role: string; team: string }>(
          await t.call({ key: created.key }, { url: '/v1/whoami' }),
        );
        assert.deepEqual(whoami, {
          actor: `apikey:${created.id}`,
          role: 'owner',
          team: OWNER_TEAM,
        });
        const fetched = await t.call('admin', { url: `/v1/api-keys/${created.id}` });
        assert.ok(!fetched.body.includes(created.key));
        assert.ok(!('key' in fetched.json<object>()));
        const all = await readAll<{ id: string }>(t, '/v1/api-keys?limit=2');
        assert.ok(all.items.some((k) => k.id === created.id));
        const revoked = ok<{ status: string; revokedBy: string }>(
          await t.call('admin', { method: 'DELETE', url: `/v1/api-keys/${created.id}` }),
        );
        assert.equal(revoked.status, 'revoked');
        const active = await readAll<{ id: string }>(t, '/v1/api-keys?limit=50');
        assert.ok(!active.items.some((k) => k.id === created.id));
        const withRevoked = await readAll<{ id: string }>(t, '/v1/api-keys?includeRevoked=true');
        assert.ok(withRevoked.items.some((k) => k.id === created.id));
        assertProblem(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/api-keys',
            payload: { name: 'owner without team', role: 'owner' },
          }),
          'owner key without team',
          { status: 400, code: 'validation_failed' },
        );
      });

      it('audit: type prefix, actor, since/until, keyset pagination', async () => {
        const adminActor = ok<{ actor: string }>(
          await t.call('admin', { url: '/v1/whoami' }),
        ).actor;
        t.clock.advance(3_600_000);
        const start = new Date(t.clock.now()).toISOString();
        const team = `audit-${suffix}`;
        ok(
          await t.call('admin', {
            method: 'POST',
            url: '/v1/teams',
            payload: { name: team, contact: 'c', escalation: 'e' },
          }),
          201,
        );
        t.clock.advance(60_000);
        const middle = new Date(t.clock.now()).toISOString();
        for (let n = 0; n < 3; n++) {
          t.clock.advance(1_000);
          ok(
            await t.call('admin', {
              method: 'PATCH',
              url: `/v1/teams/${team}`,
              payload: { onCall: `rota-${n}` },
            }),
          );
        }

        const identityOnly = await readAll<AuditEvent>(t, '/v1/audit?type=identity.&limit=3');
        assert.ok(identityOnly.items.length >= 5);
        assert.ok(identityOnly.items.every((e) => e.type.startsWith('identity.')));

        const since = await readAll<AuditEvent>(
          t,
          `/v1/audit?since=${encodeURIComponent(start)}&limit=2`,
        );
        assert.deepEqual(
          since.items.map((e) => e.type),
          ['team.updated', 'team.updated', 'team.updated', 'team.created'],
          'newest first',
        );
        assert.equal(since.pages, 2);
        const seqs = since.items.map((e) => e.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => b - a),
        );

        const window = await readAll<AuditEvent>(
          t,
          `/v1/audit?since=${encodeURIComponent(start)}&until=${encodeURIComponent(middle)}`,
        );
        assert.deepEqual(
          window.items.map((e) => e.type),
          ['team.created'],
        );
        // The same instant written with an offset selects the same events.
        const offset = new Date(Date.parse(start)).toISOString().replace('Z', '+00:00');
        const withOffset = await readAll<AuditEvent>(
          t,
          `/v1/audit?since=${encodeURIComponent(offset)}&until=${encodeURIComponent(middle)}`,
        );
        assert.deepEqual(
          withOffset.items.map((e) => e.seq),
          window.items.map((e) => e.seq),
        );

        const byActor = await readAll<AuditEvent>(
          t,
          `/v1/audit?actor=${encodeURIComponent(adminActor)}&team=${team}&order=asc`,
        );
        assert.deepEqual(
          byActor.items.map((e) => e.type),
          ['team.created', 'team.updated', 'team.updated', 'team.updated'],
        );
        assert.ok(byActor.items.every((e) => e.actor === adminActor && e.actorRole === 'admin'));
        const system = await readAll<AuditEvent>(t, `/v1/audit?actor=system&team=${team}`);
        assert.deepEqual(system.items, []);

        // A leap second is valid RFC 3339; it reads as the instant after it.
        const leap = ok<Page<AuditEvent>>(
          await t.call('auditor', { url: '/v1/audit?until=2016-12-31T23:59:60Z' }),
        );
        assert.deepEqual(leap.items, []);
      });
    });
  });
}
