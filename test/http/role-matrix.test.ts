/**
 * The role matrix, route by route, on both databases: no key is 401, a role a route does not list
 * is 403 and changes nothing, every listed role succeeds; revoked, expired and forged keys are
 * refused, and an owner key stays within its team. The routes come from the app itself, so a new
 * route cannot escape: without a fixture in fixtures.ts this suite fails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ROLES, SYSTEM_ACTOR } from '../../src/actors/index.js';
import { renderRoleMatrix } from '../../scripts/role-matrix.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  assertProblem,
  dumpDatabase,
  ensureTeam,
  fixtureFor,
  makeService,
  OTHER_TEAM,
  OWNER_TEAM,
  PUBLIC_ROUTES,
  routeKey,
} from './fixtures.js';

const system = { actor: SYSTEM_ACTOR };

for (const database of await testDatabases()) {
  const t: TestApp = await startTestApp(database);
  // Every route that needs a key: the /v1 API and OAuth introspection.
  const v1Routes = t.routeRoles.filter(
    (route) => route.roles !== undefined || route.url.startsWith('/v1/'),
  );

  describe(`role matrix on ${database.name}`, () => {
    before(async () => ensureTeam(t, OTHER_TEAM));
    after(async () => t.close());

    it('knows every route: each /v1 route declares roles and has a fixture; the rest are public', () => {
      assert.ok(v1Routes.length >= 25, `only ${v1Routes.length} /v1 routes registered`);
      for (const route of v1Routes) {
        assert.ok(route.roles && route.roles.length > 0, `${routeKey(route)} declares no roles`);
        fixtureFor(route);
      }
      const others = t.routeRoles.filter((route) => !v1Routes.includes(route));
      assert.deepEqual(others.map(routeKey).sort(), [...PUBLIC_ROUTES].sort());
      assert.ok(others.every((route) => route.roles === undefined));
    });

    it('docs/role-matrix.md is what scripts/role-matrix.ts generates now', () => {
      const committed = readFileSync(new URL('../../docs/role-matrix.md', import.meta.url), 'utf8');
      assert.equal(
        committed,
        renderRoleMatrix(t.routeRoles),
        'docs/role-matrix.md is stale: run npx tsx scripts/role-matrix.ts',
      );
    });

    for (const route of v1Routes) {
      const allowed = route.roles ?? [];
      describe(routeKey(route), () => {
        it('without a key: 401 unauthenticated with WWW-Authenticate, nothing changed', async () => {
          const request = await fixtureFor(route).build({ t, role: 'admin', team: OWNER_TEAM });
          const before = await dumpDatabase(t);
          const response = await t.call(null, request);
          assertProblem(response, `${routeKey(route)} without a key`, {
            status: 401,
            code: 'unauthenticated',
          });
          assert.match(String(response.headers['www-authenticate']), /^Bearer /);
          assert.equal(await dumpDatabase(t), before);
        });

        for (const role of ROLES.filter((r) => !allowed.includes(r))) {
          it(`as ${role}: 403 forbidden, nothing changed`, async () => {
            const request = await fixtureFor(route).build({ t, role, team: OWNER_TEAM });
            const before = await dumpDatabase(t);
            const response = await t.call(role, request);
            assertProblem(response, `${routeKey(route)} as ${role}`, {
              status: 403,
              code: 'forbidden',
            });
            assert.equal(await dumpDatabase(t), before);
          });
        }

        for (const role of allowed) {
          it(`as ${role}: allowed`, async () => {
            const request = await fixtureFor(route).build({ t, role, team: OWNER_TEAM });
            const response = await t.call(role, request);
            assert.ok(
              response.statusCode >= 200 && response.statusCode < 300,
              `${routeKey(route)} as ${role}: ${response.statusCode} ${response.body.slice(0, 300)}`,
            );
          });
        }
      });
    }

    describe('an owner key acting on another team', () => {
      const scoped = v1Routes.filter(
        (route) => route.roles?.includes('owner') && fixtureFor(route).teamScoped,
      );

      it('covers every owner route that changes a team', () => {
        assert.ok(scoped.length >= 8, `only ${scoped.length} team-scoped owner routes`);
      });

      for (const route of scoped) {
        it(`${routeKey(route)}: 403 forbidden, nothing changed`, async () => {
          const request = await fixtureFor(route).build({ t, role: 'owner', team: OTHER_TEAM });
          const before = await dumpDatabase(t);
          const response = await t.call('owner', request);
          assertProblem(response, `${routeKey(route)} on ${OTHER_TEAM}`, {
            status: 403,
            code: 'forbidden',
          });
          assert.equal(await dumpDatabase(t), before);
        });
      }

      it('may not move its own service to another team', async () => {
        const service = await makeService(t, OWNER_TEAM);
        const before = await dumpDatabase(t);
        const response = await t.call('owner', {
          method: 'PATCH',
          url: `/v1/services/${service}`,
          payload: { team: OTHER_TEAM },
        });
        assertProblem(response, 'owner moving a service', { status: 403, code: 'forbidden' });
        assert.equal(await dumpDatabase(t), before);
      });
    });

    describe('keys that are not (or no longer) valid', () => {
      const whoami = { method: 'GET', url: '/v1/whoami' } as const;

      it('accepts a fresh key, then refuses it once revoked', async () => {
        const created = await t.core.apiKeys.create(system, {
          name: 'soon revoked',
          role: 'admin',
        });
        assert.equal((await t.call({ key: created.key }, whoami)).statusCode, 200);
        const revoked = await t.call('admin', {
          method: 'DELETE',
          url: `/v1/api-keys/${created.id}`,
        });
        assert.equal(revoked.statusCode, 200);
        assertProblem(await t.call({ key: created.key }, whoami), 'revoked key', {
          status: 401,
          code: 'unauthenticated',
        });
      });

      it('refuses a key once it has expired', async () => {
        const created = await t.core.apiKeys.create(system, {
          name: 'short-lived',
          role: 'auditor',
          ttlSeconds: 60,
        });
        assert.equal((await t.call({ key: created.key }, whoami)).statusCode, 200);
        t.clock.advance(59_000);
        assert.equal((await t.call({ key: created.key }, whoami)).statusCode, 200);
        t.clock.advance(1_000);
        const response = await t.call({ key: created.key }, whoami);
        assertProblem(response, 'expired key', { status: 401, code: 'unauthenticated' });
        assert.match(String(response.headers['www-authenticate']), /^Bearer /);
      });

      it('refuses a stw_key_ look-alike with a bad checksum, and other junk', async () => {
        const real = t.keys.admin;
        const last = real.at(-1) === 'A' ? 'B' : 'A';
        const forged = [
          real.slice(0, -1) + last, // checksum off by one character
          `stw_key_${'A'.repeat(32)}AAAAAA`,
          real.slice(0, -6), // no checksum
          `${real}x`,
          real.toUpperCase(),
          'x'.repeat(40),
          'x'.repeat(600),
          "' or '1'='1",
          '',
        ];
        for (const key of forged) {
          assertProblem(await t.call({ key }, whoami), `forged key ${JSON.stringify(key)}`, {
            status: 401,
            code: 'unauthenticated',
          });
        }
        for (const authorization of [
          `Basic ${Buffer.from(`admin:${real}`).toString('base64')}`,
          real,
          `Bearer  ${real} extra`,
          `Bearer\t${real}\u0000`,
        ]) {
          assertProblem(
            await t.call(null, { ...whoami, headers: { authorization } }),
            `authorization ${JSON.stringify(authorization.slice(0, 20))}`,
            { status: 401, code: 'unauthenticated' },
          );
        }
        assertProblem(
          await t.call(null, { ...whoami, url: `/v1/whoami?access_token=${real}` }),
          'key in the query string',
          { status: 401, code: 'unauthenticated' },
        );
      });
    });
  });
}
