/**
 * The upstream registry against real SQLite and PostgreSQL: registration behind the egress guard
 * and the allowlist, the gateway's cached lookup and its invalidation, team scoping, the audit
 * trail, and upstream names and gateway URLs as token audiences.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { ensureTeam, OTHER_TEAM } from '../http/fixtures.js';
import { OWNER_TEAM, startTestApp, TEST_ISSUER, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  attest,
  createIdentity,
  createService,
  exchange,
  issued,
  oauthError,
  ACCESS_TOKEN,
} from '../tokens/fixtures.js';

const system = { actor: SYSTEM_ACTOR };

function audienceOf(token: string): unknown {
  const [, payload = ''] = token.split('.');
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { aud: unknown }).aud;
}

for (const database of await testDatabases()) {
  describe(`upstream registry on ${database.name}`, () => {
    let t: TestApp;

    before(async () => {
      t = await startTestApp(database);
      await ensureTeam(t, OTHER_TEAM);
      await t.core.secrets.create(system, { name: 'crm-key', value: 'crm', team: OWNER_TEAM });
      await t.core.secrets.create(system, { name: 'other-key', value: 'x', team: OTHER_TEAM });
    });
    after(async () => t.close());

    it('refuses loopback and metadata addresses until an admin allows the address', async () => {
      const body = {
        name: 'local-crm',
        kind: 'mcp',
        url: 'http://127.0.0.1:9/mcp',
        team: OWNER_TEAM,
        classification: 'confidential',
        credential: {
          secret: 'crm-key',
          in: 'header',
          name: 'authorization',
          format: 'Bearer {secret}',
        },
        sensitive: ['refund'],
      };
      for (const url of [
        'http://127.0.0.1:9/mcp',
        'http://169.254.169.254/',
        'http://[::ffff:127.0.0.1]/',
      ]) {
        const refused = await t.call('admin', {
          method: 'POST',
          url: '/v1/upstreams',
          payload: { ...body, url },
        });
        assert.equal(refused.statusCode, 400, url);
        assert.equal(refused.json<{ code: string }>().code, 'egress_refused');
      }
      const forbidden = await t.call('security', {
        method: 'POST',
        url: '/v1/egress/allow',
        payload: { address: '127.0.0.1', reason: 'test upstreams' },
      });
      assert.equal(forbidden.statusCode, 403, 'only an admin may allow an address');
      const allowed = await t.call('admin', {
        method: 'POST',
        url: '/v1/egress/allow',
        payload: { address: '127.0.0.1', reason: 'test upstreams' },
      });
      assert.equal(allowed.statusCode, 201);
      assert.equal(allowed.json<{ address: string }>().address, '127.0.0.1/32');
      const created = await t.call('owner', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: body,
      });
      assert.equal(created.statusCode, 201, created.body);
      const upstream = created.json<Record<string, unknown>>();
      assert.deepEqual(upstream['credential'], {
        secret: 'crm-key',
        in: 'header',
        name: 'authorization',
        format: 'Bearer {secret}',
      });
      assert.deepEqual(upstream['sensitive'], ['refund']);
      assert.equal(upstream['timeoutMs'], 30_000);
      // Still refused: the allowlist names one address, not its neighbours.
      const neighbour = await t.call('admin', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: { ...body, name: 'neighbour', url: 'http://127.0.0.2/' },
      });
      assert.equal(neighbour.json<{ code: string }>().code, 'egress_refused');
      // The gateway's re-check sees the same allowlist.
      assert.equal((await t.core.upstreams.checkEgress('http://127.0.0.1:9/mcp')).ok, true);
      assert.equal((await t.core.upstreams.checkEgress('http://169.254.169.254/')).ok, false);

      const entry = allowed.json<{ id: string }>();
      assert.equal(
        (await t.call('admin', { method: 'DELETE', url: `/v1/egress/allow/${entry.id}` }))
          .statusCode,
        204,
      );
      assert.equal((await t.core.upstreams.checkEgress('http://127.0.0.1:9/mcp')).ok, false);
      const types = await t.store.db
        .selectFrom('audit_events')
        .select('type')
        .where('type', 'in', ['egress.allowed', 'egress.removed', 'upstream.created'])
        .orderBy('seq')
        .execute();
      assert.deepEqual(
        types.map((e) => e.type),
        ['egress.allowed', 'upstream.created', 'egress.removed'],
      );
    });

    it('resolves from memory, and sees changes and deletions at once', async () => {
      await t.core.upstreams.create(system, {
        name: 'billing',
        kind: 'http',
        url: 'https://203.0.113.30/api',
        team: OWNER_TEAM,
        classification: 'internal',
        operations: [
          { name: 'get-invoice', method: 'get', path: '/invoices/:id' },
          { name: 'refund', method: 'POST', path: '/refunds', sensitive: true },
        ],
      });
      const first = await t.core.upstreams.resolve('billing');
      assert.equal(first?.url, 'https://203.0.113.30/api');
      assert.deepEqual(first?.sensitive, ['refund']);
      assert.equal(first?.operations[0]?.method, 'GET');
      assert.equal(first?.credential, null);
      assert.strictEqual(await t.core.upstreams.resolve('billing'), first, 'served from memory');
      const patched = await t.call('owner', {
        method: 'PATCH',
        url: '/v1/upstreams/billing',
        payload: {
          url: 'https://203.0.113.31/api',
          credential: { secret: 'crm-key', in: 'query', name: 'api_key' },
          sensitive: ['get-invoice'],
          rateLimit: { perSecond: 5, burst: 10 },
        },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      const second = await t.core.upstreams.resolve('billing');
      assert.equal(second?.url, 'https://203.0.113.31/api');
      assert.deepEqual(second?.credential, {
        secret: 'crm-key',
        in: 'query',
        name: 'api_key',
        format: '{secret}',
      });
      assert.deepEqual(second?.sensitive, ['get-invoice']);
      assert.deepEqual(second?.rateLimit, { perSecond: 5, burst: 10 });
      const cleared = await t.call('admin', {
        method: 'PATCH',
        url: '/v1/upstreams/billing',
        payload: { removeCredential: true, removeRateLimit: true },
      });
      assert.equal(cleared.statusCode, 200);
      assert.equal((await t.core.upstreams.resolve('billing'))?.credential, null);
      const typo = await t.call('admin', {
        method: 'PATCH',
        url: '/v1/upstreams/billing',
        payload: { sensitive: ['refnud'] },
      });
      assert.equal(typo.statusCode, 400, 'a sensitive name must be a declared operation');
      await t.core.upstreams.delete(system, 'billing');
      assert.equal(await t.core.upstreams.resolve('billing'), undefined);
      assert.equal(await t.core.upstreams.resolve('never-registered'), undefined);
    });

    it("keeps owners to their own team's upstreams and secrets", async () => {
      const base = {
        kind: 'http',
        url: 'https://203.0.113.40/',
        classification: 'internal',
      };
      const otherTeam = await t.call('owner', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: { ...base, name: 'theirs', team: OTHER_TEAM },
      });
      assert.equal(otherTeam.statusCode, 403);
      const otherSecret = await t.call('owner', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: {
          ...base,
          name: 'exfil',
          team: OWNER_TEAM,
          credential: { secret: 'other-key', in: 'bearer' },
        },
      });
      assert.equal(otherSecret.statusCode, 403, "another team's secret may not be sent anywhere");
      const moved = await t.call('admin', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: { ...base, name: 'mine', team: OWNER_TEAM },
      });
      assert.equal(moved.statusCode, 201);
      const move = await t.call('owner', {
        method: 'PATCH',
        url: '/v1/upstreams/mine',
        payload: { team: OTHER_TEAM },
      });
      assert.equal(move.statusCode, 403);
      const duplicate = await t.call('admin', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: { ...base, name: 'mine', team: OWNER_TEAM },
      });
      assert.equal(duplicate.json<{ code: string }>().code, 'upstream_exists');
      const userinfo = await t.call('admin', {
        method: 'POST',
        url: '/v1/upstreams',
        payload: {
          ...base,
          name: 'userinfo',
          team: OWNER_TEAM,
          url: 'https://user:pw@203.0.113.40/',
        },
      });
      assert.equal(userinfo.statusCode, 400);
    });

    it('accepts an upstream name and its gateway URLs as the audience of a token', async () => {
      await t.core.upstreams.create(system, {
        name: 'crm',
        kind: 'mcp',
        url: 'https://203.0.113.50/mcp',
        team: OWNER_TEAM,
        classification: 'confidential',
      });
      await createService(t, 'aud-agent');
      const workload = await createIdentity(t, 'aud-agent', 'planner');
      const subject = await attest(t, workload.id);
      for (const audience of [
        'crm',
        `${TEST_ISSUER}/gw/mcp/crm`,
        `${TEST_ISSUER}/gw/http/crm`,
        `${TEST_ISSUER}/gw/mcp/crm/`,
      ]) {
        const token = await issued(exchange(t, subject, ACCESS_TOKEN, { audience }));
        assert.equal(audienceOf(token), 'crm', audience);
      }
      for (const audience of [
        'no-such-upstream',
        `${TEST_ISSUER}/gw/mcp/no-such-upstream`,
        `${TEST_ISSUER}/gw/mcp/crm/extra`,
        `https://elsewhere.example/gw/mcp/crm`,
      ]) {
        assert.equal(
          await oauthError(exchange(t, subject, ACCESS_TOKEN, { audience })),
          'invalid_target',
          audience,
        );
      }
    });
  });
}
