/**
 * Interop: tokens from POST /oauth2/token verify with an independent library (jose) against the
 * JWKS Steward serves, as RFC 9068 access tokens, with EdDSA and ES256, before, during and after
 * a key rotation; the RFC 8414 metadata names the endpoints.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestApp, TEST_ISSUER, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  api,
  attest,
  claimsOf,
  createIdentity,
  createService,
  introspect,
  kidOf,
  verdict,
  type Workload,
} from './fixtures.js';

async function servedJwks(t: TestApp): Promise<JSONWebKeySet> {
  const res = await t.call(null, { method: 'GET', url: '/.well-known/jwks.json' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  return res.json<JSONWebKeySet>();
}

/** jose's verdict on `token` against the JWKS served right now, at the test clock's time. */
async function joseVerify(t: TestApp, token: string) {
  return jwtVerify(token, createLocalJWKSet(await servedJwks(t)), {
    issuer: TEST_ISSUER,
    audience: 'steward',
    typ: 'at+jwt',
    currentDate: new Date(t.clock.now()),
    requiredClaims: ['exp', 'iat', 'nbf', 'jti', 'sub', 'client_id'],
  });
}

const SCHEDULE = { rotationSeconds: 86_400, leadSeconds: 3_600 };

for (const database of await testDatabases()) {
  for (const algorithm of ['EdDSA', 'ES256'] as const) {
    describe(`interop with jose (${algorithm}) on ${database.name}`, () => {
      let t: TestApp;
      let agent: Workload;

      before(async () => {
        t = await startTestApp(database, { signing: { algorithm, ...SCHEDULE } });
        await createService(t, 'refund-agent');
        agent = await createIdentity(t, 'refund-agent', 'planner');
      });
      after(async () => t.close());

      it('issues an RFC 9068 access token that jose verifies against the served JWKS', async () => {
        const token = await attest(t, agent.id);
        const { payload, protectedHeader } = await joseVerify(t, token);
        assert.equal(protectedHeader.alg, algorithm);
        assert.equal(protectedHeader.typ, 'at+jwt');
        const jwks = await servedJwks(t);
        assert.equal(jwks.keys.length, 1);
        const [key] = jwks.keys;
        assert.equal(key?.kid, protectedHeader.kid);
        assert.equal(key?.alg, algorithm);
        assert.equal(key?.use, 'sig');
        assert.equal(key?.d, undefined, 'the JWKS must never carry a private key');
        const now = Math.floor(t.clock.now() / 1000);
        assert.equal(payload.iss, TEST_ISSUER);
        assert.equal(payload.aud, 'steward');
        assert.equal(payload.sub, agent.spiffeId);
        assert.equal(payload.sub, 'spiffe://example.test/sandbox/refund-agent/planner');
        assert.equal(payload.iat, now);
        assert.equal(payload.nbf, now);
        assert.equal(payload.exp, now + 300, 'default lifetime: 5 minutes');
        assert.equal(typeof payload.jti, 'string');
        assert.equal(payload['client_id'], agent.id);
        assert.equal(payload['environment'], 'sandbox');
        assert.equal(payload['service'], 'refund-agent');
        assert.equal(payload['agent_path'], 'planner');
        assert.equal(payload['task'], undefined);
        assert.equal(verdict(t, token, 'steward'), 'ok');
      });

      it('gives every token its own jti, and jose refuses it for another audience', async () => {
        const [a, b] = [await attest(t, agent.id), await attest(t, agent.id)];
        assert.notEqual(claimsOf(a).jti, claimsOf(b).jti);
        await assert.rejects(
          jwtVerify(a, createLocalJWKSet(await servedJwks(t)), {
            audience: 'crm',
            currentDate: new Date(t.clock.now()),
          }),
          errors.JWTClaimValidationFailed,
        );
      });

      it('answers introspection (RFC 7662) with the same claims', async () => {
        const token = await attest(t, agent.id);
        const body = await introspect(t, token);
        assert.equal(body['active'], true);
        assert.equal(body['sub'], agent.spiffeId);
        assert.equal(body['jti'], claimsOf(token).jti);
        assert.equal(body['token_type'], 'Bearer');
      });

      it('caps the lifetime at the identity maximum, and records every issuance without the token', async () => {
        const joinRes = await api<{ id: string; token: string }>(
          t,
          'admin',
          'POST',
          `/v1/identities/${agent.id}/join-tokens`,
          {},
        );
        const res = await t.call(null, {
          method: 'POST',
          url: '/oauth2/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: joinRes.token,
            subject_token_type: 'urn:steward:token-type:join-token',
            expires_in: '86400',
          }).toString(),
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ access_token: string; expires_in: number }>();
        assert.equal(body.expires_in, 900, 'the identity maximum (sandbox default)');
        const claims = claimsOf(body.access_token);
        assert.equal(Number(claims.exp) - Number(claims.iat), 900);

        const inventory = await api<{ items: Record<string, unknown>[] }>(
          t,
          'auditor',
          'GET',
          `/v1/tokens?identity=${agent.id}&limit=100`,
        );
        const entry = inventory.items.find((e) => e['jti'] === claims.jti);
        assert.ok(entry);
        assert.equal(entry['attestation'], `join_token:${joinRes.id}`);
        assert.equal(entry['audience'], 'steward');
        assert.equal(entry['spiffeId'], agent.spiffeId);
        assert.equal(entry['kid'], kidOf(body.access_token));
        assert.equal(entry['clientAddress'], '127.0.0.1');
        assert.equal(entry['status'], 'active');
        assert.equal(entry['issuedAt'], new Date(Number(claims.iat) * 1000).toISOString());
        assert.equal(entry['expiresAt'], new Date(Number(claims.exp) * 1000).toISOString());
        assert.equal(entry['service'], 'refund-agent');
        assert.equal(entry['environment'], agent.environment);
        const byService = await api<{ items: Record<string, unknown>[] }>(
          t,
          'auditor',
          'GET',
          '/v1/tokens?service=refund-agent&limit=100',
        );
        assert.ok(byService.items.some((e) => e['jti'] === claims.jti));
        assert.ok(byService.items.every((e) => e['service'] === 'refund-agent'));
        const unknownService = await api<{ items: unknown[] }>(
          t,
          'auditor',
          'GET',
          '/v1/tokens?service=no-such-service',
        );
        assert.deepEqual(unknownService.items, []);
        const identity = await api<{ lastUsedAt: string | null }>(
          t,
          'auditor',
          'GET',
          `/v1/identities/${agent.id}`,
        );
        assert.equal(identity.lastUsedAt, new Date(t.clock.now()).toISOString());

        const audit = await t.call('auditor', {
          method: 'GET',
          url: '/v1/audit?type=token.&limit=200',
        });
        assert.equal(audit.statusCode, 200);
        assert.ok(audit.body.includes(String(claims.jti)), 'the issuance is in the trail');
        // Neither the token nor the join token appear anywhere a reader can see.
        const signature = body.access_token.split('.')[2] ?? '';
        const everything = await t.call('auditor', { method: 'GET', url: '/v1/audit?limit=500' });
        for (const text of [inventory, everything.body, audit.body].map((v) =>
          typeof v === 'string' ? v : JSON.stringify(v),
        )) {
          assert.ok(!text.includes(signature), 'no access token in the record');
          assert.ok(!text.includes(joinRes.token), 'no join token in the record');
        }
      });

      it('publishes a rotated key before it signs, keeps the old one until its tokens are gone', async () => {
        const oldToken = await attest(t, agent.id);
        const oldKid = kidOf(oldToken);
        assert.ok(oldKid);

        const rotated = await api<{ kid: string; state: string; activatesAt: string }>(
          t,
          'security',
          'POST',
          '/v1/keys/rotate',
          {},
        );
        assert.equal(rotated.state, 'pending');
        assert.notEqual(rotated.kid, oldKid);
        assert.equal(Date.parse(rotated.activatesAt), t.clock.now() + SCHEDULE.leadSeconds * 1000);

        // Published before it signs: verifiers that cache the JWKS hold it in time.
        let kids = (await servedJwks(t)).keys.map((k) => k.kid);
        assert.deepEqual(kids.sort(), [oldKid, rotated.kid].sort());
        const stillOld = await attest(t, agent.id);
        assert.equal(kidOf(stillOld), oldKid);

        // Just before the switch: a token signed with the old key that will outlive it.
        t.clock.advance(SCHEDULE.leadSeconds * 1000 - 10_000);
        const lastOld = await attest(t, agent.id);
        assert.equal(kidOf(lastOld), oldKid);

        t.clock.advance(20_000);
        const fresh = await attest(t, agent.id);
        assert.equal(kidOf(fresh), rotated.kid, 'after the lead time the new key signs');
        const freshVerified = await joseVerify(t, fresh);
        assert.equal(freshVerified.protectedHeader.kid, rotated.kid);
        // The old key still verifies what it signed, with jose and with Steward.
        kids = (await servedJwks(t)).keys.map((k) => k.kid);
        assert.deepEqual(kids.sort(), [oldKid, rotated.kid].sort());
        assert.equal((await joseVerify(t, lastOld)).protectedHeader.kid, oldKid);
        assert.equal(verdict(t, lastOld, 'steward'), 'ok');
        assert.equal(verdict(t, fresh, 'steward'), 'ok');

        const keys = await api<{
          items: { kid: string; state: string; unpublishesAt: string | null }[];
        }>(t, 'auditor', 'GET', '/v1/keys');
        const old = keys.items.find((k) => k.kid === oldKid);
        assert.equal(old?.state, 'retired');
        assert.equal(keys.items.find((k) => k.kid === rotated.kid)?.state, 'active');
        assert.ok(old?.unpublishesAt);

        // Past the old key's unpublish time: gone from the JWKS, its tokens refused by key.
        t.clock.advance(Date.parse(old.unpublishesAt) - t.clock.now() + 1_000);
        kids = (await servedJwks(t)).keys.map((k) => k.kid);
        assert.deepEqual(kids, [rotated.kid]);
        assert.equal(verdict(t, lastOld), 'token_unknown_key', 'cached verdict withdrawn');
        assert.equal(verdict(t, oldToken), 'token_unknown_key', 'never cached');
        await assert.rejects(joseVerify(t, lastOld), errors.JWKSNoMatchingKey);
        assert.equal((await introspect(t, lastOld))['active'], false);
        const later = await attest(t, agent.id);
        assert.equal(kidOf(later), rotated.kid);
        await joseVerify(t, later);
      });

      it('rotates on schedule: the next key is published a lead time before it takes over', async () => {
        const now = t.clock.now();
        const active = t.core.keyring.list().find((k) => k.state === 'active');
        assert.ok(active);
        // Nothing to do while the key is young.
        assert.equal(await t.core.keyring.maintain(), false);
        t.clock.advance(
          Date.parse(active.activatesAt) +
            (SCHEDULE.rotationSeconds - SCHEDULE.leadSeconds) * 1000 -
            now +
            1_000,
        );
        assert.equal(await t.core.keyring.maintain(), true);
        const pending = t.core.keyring.list().find((k) => k.state === 'pending');
        assert.ok(pending);
        // A lead time from now, and never before the current key has served its term.
        assert.equal(Date.parse(pending.activatesAt), t.clock.now() + SCHEDULE.leadSeconds * 1000);
        assert.ok(
          Date.parse(pending.activatesAt) >=
            Date.parse(active.activatesAt) + SCHEDULE.rotationSeconds * 1000,
        );
        assert.ok(
          (await servedJwks(t)).keys.some((k) => k.kid === pending.kid),
          'published while pending',
        );
        assert.equal(await t.core.keyring.maintain(), false, 'one pending key at a time');
        t.clock.advance(Date.parse(pending.activatesAt) - t.clock.now() - 10_000);
        const before = await attest(t, agent.id);
        assert.equal(kidOf(before), active.kid);
        t.clock.advance(Date.parse(pending.activatesAt) - t.clock.now());
        const afterwards = await attest(t, agent.id);
        assert.equal(kidOf(afterwards), pending.kid);
        await joseVerify(t, afterwards);
        await joseVerify(t, before);
      });
    });
  }

  describe(`authorization server metadata (RFC 8414) on ${database.name}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(database);
    });
    after(async () => t.close());

    it('names the issuer, the endpoints, the JWKS, the grant and the algorithms', async () => {
      const res = await t.call(null, {
        method: 'GET',
        url: '/.well-known/oauth-authorization-server',
      });
      assert.equal(res.statusCode, 200);
      const meta = res.json<Record<string, unknown>>();
      assert.equal(meta['issuer'], TEST_ISSUER);
      assert.equal(meta['token_endpoint'], `${TEST_ISSUER}/oauth2/token`);
      assert.equal(meta['introspection_endpoint'], `${TEST_ISSUER}/oauth2/introspect`);
      assert.equal(meta['revocation_endpoint'], `${TEST_ISSUER}/oauth2/revoke`);
      assert.equal(meta['jwks_uri'], `${TEST_ISSUER}/.well-known/jwks.json`);
      assert.deepEqual(meta['grant_types_supported'], [
        'urn:ietf:params:oauth:grant-type:token-exchange',
      ]);
      assert.deepEqual(meta['access_token_signing_alg_values_supported'], ['EdDSA', 'ES256']);
      // Every endpoint named is served under that path.
      for (const name of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
        const path = new URL(String(meta[name])).pathname;
        assert.ok(
          t.routeRoles.some((r) => r.method === 'POST' && r.url === path),
          path,
        );
      }
      assert.ok(t.routeRoles.some((r) => r.method === 'GET' && r.url === '/.well-known/jwks.json'));
    });
  });
}
