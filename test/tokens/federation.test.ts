/**
 * Federation against a real OIDC-style issuer started here on loopback (discovery document and
 * JWKS over HTTP, RS256 keys, tokens made with jose), plus an inline-JWKS trust; and RFC 8693
 * delegation: an orchestrator's token as `actor_token` becomes the issued token's `act`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { startTestApp, TEST_ISSUER, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  ACCESS_TOKEN,
  api,
  attest,
  claimsOf,
  createIdentity,
  createService,
  exchange,
  issued,
  JWT_TOKEN,
  oauthError,
  postForm,
  renew,
  verdict,
  type Workload,
} from './fixtures.js';

const K8S_SUB = 'system:serviceaccount:payments:refund-agent';
const K8S_AUDIENCE = 'steward.example.test';
const CI_AUDIENCE = 'https://github.com/org';

interface Signer {
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function rsaSigner(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/**
 * A loopback OIDC issuer with two tenants: `/` (a Kubernetes-like issuer) and `/ci` (a CI
 * issuer), each with a discovery document and a JWKS; it counts what it serves.
 */
class LoopbackIssuer {
  readonly hits = new Map<string, number>();
  private server: Server | undefined;
  base = '';
  constructor(private readonly keys: Readonly<Record<string, JWK[]>>) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const path = request.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      const tenant = path.startsWith('/ci/') ? '/ci' : '';
      const body =
        path === `${tenant}/.well-known/openid-configuration`
          ? {
              issuer: `${this.base}${tenant}`,
              jwks_uri: `${this.base}${tenant}/keys`,
              id_token_signing_alg_values_supported: ['RS256'],
            }
          : path === `${tenant}/keys`
            ? { keys: this.keys[tenant] ?? [] }
            : undefined;
      response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body ?? { error: 'not found' }));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const k8sKey = await rsaSigner('k8s-1');
const ciKey = await rsaSigner('ci-1');
const inlineKey = await rsaSigner('inline-1');
const issuer = new LoopbackIssuer({ '': [k8sKey.jwk], '/ci': [ciKey.jwk] });

/** An external token, timed by the test clock. */
function externalToken(
  t: TestApp,
  signer: Signer,
  claims: JWTPayload & Record<string, unknown>,
  options: { kid?: string; alg?: string; expiresIn?: number; issuedAgo?: number } = {},
): Promise<string> {
  const now = Math.floor(t.clock.now() / 1000);
  const iat = now - (options.issuedAgo ?? 0);
  return new SignJWT({ iat, exp: iat + (options.expiresIn ?? 600), ...claims })
    .setProtectedHeader({
      alg: options.alg ?? 'RS256',
      kid: options.kid ?? String(signer.jwk.kid),
      typ: 'JWT',
    })
    .sign(signer.privateKey);
}

function k8sClaims(overrides: Record<string, unknown> = {}): JWTPayload & Record<string, unknown> {
  return {
    iss: issuer.base,
    aud: [K8S_AUDIENCE],
    sub: K8S_SUB,
    'kubernetes.io': {
      namespace: 'payments',
      serviceaccount: { name: 'refund-agent', uid: '1b2c' },
    },
    ...overrides,
  };
}

before(() => issuer.start());
after(() => issuer.stop());

for (const database of await testDatabases()) {
  describe(`federation on ${database.name}`, () => {
    let t: TestApp;
    let refund: Workload;
    let ci: Workload;
    let inline: Workload;

    before(async () => {
      t = await startTestApp(database);
      await createService(t, 'refund-agent');
      refund = await createIdentity(t, 'refund-agent', 'k8s');
      ci = await createIdentity(t, 'refund-agent', 'ci');
      inline = await createIdentity(t, 'refund-agent', 'inline');
      await api(t, 'security', 'POST', '/v1/federation/trusts', {
        name: 'payments-cluster',
        issuer: issuer.base,
        audience: K8S_AUDIENCE,
        conditions: { sub: K8S_SUB, 'kubernetes.io/namespace': 'payments' },
        identity: refund.id,
      });
      await api(t, 'admin', 'POST', '/v1/federation/trusts', {
        name: 'org-ci',
        issuer: `${issuer.base}/ci`,
        audience: CI_AUDIENCE,
        conditions: { sub: 'repo:org/*', ref: 'refs/heads/main' },
        identity: ci.id,
      });
      await api(t, 'security', 'POST', '/v1/federation/trusts', {
        name: 'inline-ci',
        issuer: 'https://ci.example.test',
        jwks: { keys: [inlineKey.jwk] },
        audience: 'steward',
        conditions: { repository: 'org/app' },
        identity: inline.id,
      });
    });
    after(async () => t.close());

    it('exchanges a Kubernetes-style service-account token found through OIDC discovery', async () => {
      const before = {
        discovery: issuer.hits.get('/.well-known/openid-configuration') ?? 0,
        keys: issuer.hits.get('/keys') ?? 0,
      };
      const token = await issued(
        exchange(t, await externalToken(t, k8sKey, k8sClaims()), JWT_TOKEN),
      );
      const claims = claimsOf(token);
      assert.equal(claims.sub, refund.spiffeId);
      assert.equal(claims['client_id'], refund.id);
      assert.equal(verdict(t, token, 'steward'), 'ok');
      const inventory = await api<{ items: { jti: string; attestation: string }[] }>(
        t,
        'auditor',
        'GET',
        `/v1/tokens?identity=${refund.id}`,
      );
      assert.equal(inventory.items[0]?.jti, claims.jti);
      assert.equal(inventory.items[0]?.attestation, 'federation:payments-cluster');
      // Discovery and keys are fetched once, then cached.
      for (let i = 0; i < 3; i++)
        await issued(exchange(t, await externalToken(t, k8sKey, k8sClaims()), JWT_TOKEN));
      assert.equal(
        (issuer.hits.get('/.well-known/openid-configuration') ?? 0) - before.discovery,
        1,
      );
      assert.equal((issuer.hits.get('/keys') ?? 0) - before.keys, 1);
    });

    it('matches glob conditions ("repo:org/*") and nothing outside them', async () => {
      for (const sub of ['repo:org/app', 'repo:org/payments/refund:environment:prod']) {
        const token = await issued(
          exchange(
            t,
            await externalToken(t, ciKey, {
              iss: `${issuer.base}/ci`,
              aud: CI_AUDIENCE,
              sub,
              ref: 'refs/heads/main',
            }),
            JWT_TOKEN,
          ),
        );
        assert.equal(claimsOf(token).sub, ci.spiffeId);
      }
      for (const sub of [
        'repo:organisation/app',
        'repo:org2/app',
        'xrepo:org/app',
        'repo:other/org/app',
      ]) {
        const external = await externalToken(t, ciKey, {
          iss: `${issuer.base}/ci`,
          aud: CI_AUDIENCE,
          sub,
          ref: 'refs/heads/main',
        });
        assert.equal(await oauthError(exchange(t, external, JWT_TOKEN)), 'invalid_grant', sub);
      }
      const wrongRef = await externalToken(t, ciKey, {
        iss: `${issuer.base}/ci`,
        aud: CI_AUDIENCE,
        sub: 'repo:org/app',
        ref: 'refs/heads/dev',
      });
      assert.equal(await oauthError(exchange(t, wrongRef, JWT_TOKEN)), 'invalid_grant');
    });

    it('exchanges a token verified against an inline JWKS', async () => {
      const external = await externalToken(t, inlineKey, {
        iss: 'https://ci.example.test',
        aud: 'steward',
        sub: 'anything',
        repository: 'org/app',
      });
      const token = await issued(exchange(t, external, JWT_TOKEN));
      assert.equal(claimsOf(token).sub, inline.spiffeId);
      const other = await externalToken(t, inlineKey, {
        iss: 'https://ci.example.test',
        aud: 'steward',
        sub: 'anything',
        repository: 'org/evil',
      });
      assert.equal(await oauthError(exchange(t, other, JWT_TOKEN)), 'invalid_grant');
    });

    describe('refuses, with invalid_grant', () => {
      async function refused(external: string, reason?: RegExp): Promise<void> {
        const res = await exchange(t, external, JWT_TOKEN);
        assert.equal(res.statusCode, 400, res.body);
        const body = res.json<{ error: string; error_description: string }>();
        assert.equal(body.error, 'invalid_grant');
        if (reason) assert.match(body.error_description, reason);
      }

      it('the wrong audience', async () => {
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ aud: 'someone-else' })),
          /audience or issuer/,
        );
        await refused(await externalToken(t, k8sKey, k8sClaims({ aud: undefined })));
      });

      it('a failing claim condition (another namespace, another service account)', async () => {
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ 'kubernetes.io': { namespace: 'default' } })),
          /condition on kubernetes\.io\/namespace/,
        );
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ 'kubernetes.io': undefined })),
          /condition/,
        );
        await refused(
          await externalToken(
            t,
            k8sKey,
            k8sClaims({ sub: 'system:serviceaccount:payments:other' }),
          ),
          /condition on sub/,
        );
        // A claim literally named like the path (flat, as some CI issuers send) is read first, so
        // it must satisfy the condition too.
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ 'kubernetes.io/namespace': 'default' })),
          /condition/,
        );
      });

      it('an expired token (beyond the 30 s tolerance), and one without exp', async () => {
        await refused(
          await externalToken(t, k8sKey, k8sClaims(), { issuedAgo: 700, expiresIn: 600 }),
          /expired/,
        );
        const noExp = await new SignJWT(k8sClaims())
          .setProtectedHeader({ alg: 'RS256', kid: 'k8s-1' })
          .setIssuedAt(Math.floor(t.clock.now() / 1000))
          .sign(k8sKey.privateKey);
        await refused(noExp);
      });

      it('an HS256 token (a shared secret proves nothing), even keyed with the published key', async () => {
        const secret = new TextEncoder().encode(JSON.stringify(k8sKey.jwk));
        const hs = await new SignJWT(k8sClaims())
          .setProtectedHeader({ alg: 'HS256', kid: 'k8s-1' })
          .setIssuedAt(Math.floor(t.clock.now() / 1000))
          .setExpirationTime(Math.floor(t.clock.now() / 1000) + 600)
          .sign(secret);
        await refused(hs, /algorithm/);
        const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k8s-1' })).toString('base64url')}.${Buffer.from(
          JSON.stringify({ ...k8sClaims(), exp: Math.floor(t.clock.now() / 1000) + 600 }),
        ).toString('base64url')}.`;
        await refused(none);
      });

      it('an issuer no trust rule names', async () => {
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ iss: `${issuer.base}/unknown` })),
          /No trust rule/,
        );
        await refused(
          await externalToken(t, k8sKey, k8sClaims({ iss: 'https://attacker.example' })),
          /No trust rule/,
        );
        await refused(await externalToken(t, k8sKey, k8sClaims({ iss: undefined })), /no issuer/);
        await refused('not-a-jwt', /not a JWT/);
      });

      it('a key the issuer does not publish (unknown kid, or a stranger key under a published kid)', async () => {
        const stranger = await rsaSigner('rogue');
        await refused(await externalToken(t, stranger, k8sClaims()));
        await refused(await externalToken(t, stranger, k8sClaims(), { kid: 'k8s-1' }));
        // Another tenant's key is not this issuer's key either.
        await refused(await externalToken(t, ciKey, k8sClaims(), { kid: 'ci-1' }));
      });

      it('a token for the inline trust signed with another key', async () => {
        const external = await externalToken(
          t,
          k8sKey,
          { iss: 'https://ci.example.test', aud: 'steward', sub: 'x', repository: 'org/app' },
          { kid: 'inline-1' },
        );
        await refused(external);
      });
    });

    it('stops accepting an issuer once its trust rule is removed', async () => {
      await api(t, 'security', 'POST', '/v1/federation/trusts', {
        name: 'short-lived-rule',
        issuer: 'https://removed.example.test',
        jwks: { keys: [inlineKey.jwk] },
        audience: 'steward',
        conditions: { sub: 'job-1' },
        identity: inline.id,
      });
      const claims = { iss: 'https://removed.example.test', aud: 'steward', sub: 'job-1' };
      await issued(exchange(t, await externalToken(t, inlineKey, claims), JWT_TOKEN));
      await api(t, 'security', 'DELETE', '/v1/federation/trusts/short-lived-rule', undefined, 204);
      assert.equal(
        await oauthError(exchange(t, await externalToken(t, inlineKey, claims), JWT_TOKEN)),
        'invalid_grant',
      );
    });

    it('refuses a token that two rules map to different identities', async () => {
      const rival = await createIdentity(t, 'refund-agent', 'rival');
      await api(t, 'security', 'POST', '/v1/federation/trusts', {
        name: 'overlapping-rule',
        issuer: issuer.base,
        audience: K8S_AUDIENCE,
        conditions: { 'kubernetes.io/namespace': 'payments' },
        identity: rival.id,
      });
      try {
        const res = await exchange(t, await externalToken(t, k8sKey, k8sClaims()), JWT_TOKEN);
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json<{ error: string }>().error, 'invalid_grant');
        assert.match(
          res.json<{ error_description: string }>().error_description,
          /more than one identity/,
        );
      } finally {
        await api(
          t,
          'security',
          'DELETE',
          '/v1/federation/trusts/overlapping-rule',
          undefined,
          204,
        );
      }
      await issued(exchange(t, await externalToken(t, k8sKey, k8sClaims()), JWT_TOKEN));
    });

    it('refuses trust rules that would be unsafe or too broad', async () => {
      const base = {
        name: 'bad',
        issuer: issuer.base,
        audience: 'a',
        conditions: { sub: 'x' },
        identity: refund.id,
      };
      const attempts: Record<string, unknown>[] = [
        { ...base, conditions: {} },
        { ...base, issuer: 'http://issuer.example.com' },
        { ...base, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] } },
        { ...base, jwksUri: `${issuer.base}/keys`, jwks: { keys: [k8sKey.jwk] } },
      ];
      for (const body of attempts) {
        const res = await t.call('security', {
          method: 'POST',
          url: '/v1/federation/trusts',
          payload: body,
        });
        assert.equal(res.statusCode, 400, JSON.stringify(body));
        assert.equal(res.json<{ code: string }>().code, 'validation_failed');
      }
      const owner = await t.call('owner', {
        method: 'POST',
        url: '/v1/federation/trusts',
        payload: base,
      });
      assert.equal(owner.statusCode, 403);
    });

    describe('delegation (RFC 8693 actor_token)', () => {
      let orchestrator: Workload;
      before(async () => {
        orchestrator = await createIdentity(t, 'refund-agent', 'orchestrator');
      });

      it('records the orchestrator as act.sub, in the token and in the inventory', async () => {
        const actorToken = await attest(t, orchestrator.id);
        const external = await externalToken(t, k8sKey, k8sClaims());
        const token = await issued(
          exchange(t, external, JWT_TOKEN, {
            actor_token: actorToken,
            actor_token_type: ACCESS_TOKEN,
          }),
        );
        const jwks = (await t.call(null, { method: 'GET', url: '/.well-known/jwks.json' })).json<{
          keys: JWK[];
        }>();
        const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
          issuer: TEST_ISSUER,
          audience: 'steward',
          typ: 'at+jwt',
          currentDate: new Date(t.clock.now()),
        });
        assert.equal(payload.sub, refund.spiffeId);
        assert.deepEqual(payload['act'], { sub: orchestrator.spiffeId });

        const inventory = await api<{ items: { jti: string; act: unknown }[] }>(
          t,
          'auditor',
          'GET',
          `/v1/tokens?identity=${refund.id}`,
        );
        const entry = inventory.items.find((e) => e.jti === payload.jti);
        assert.deepEqual(entry?.act, { sub: orchestrator.spiffeId });
        const introspected = await postForm(t, '/oauth2/introspect', { token }, 'auditor');
        assert.deepEqual(introspected.json<{ act: unknown }>().act, { sub: orchestrator.spiffeId });

        // A renewal keeps the chain.
        const renewed = await renew(t, token);
        assert.deepEqual(claimsOf(renewed)['act'], { sub: orchestrator.spiffeId });
      });

      it('nests the chain when the actor itself acts for someone', async () => {
        const top = await createIdentity(t, 'refund-agent', 'supervisor');
        const topToken = await attest(t, top.id);
        const middle = await attest(t, orchestrator.id, {
          actor_token: topToken,
          actor_token_type: ACCESS_TOKEN,
        });
        assert.deepEqual(claimsOf(middle)['act'], { sub: top.spiffeId });
        const external = await externalToken(t, k8sKey, k8sClaims());
        const token = await issued(
          exchange(t, external, JWT_TOKEN, { actor_token: middle, actor_token_type: ACCESS_TOKEN }),
        );
        assert.deepEqual(claimsOf(token)['act'], {
          sub: orchestrator.spiffeId,
          act: { sub: top.spiffeId },
        });
      });

      it('refuses an actor token of the wrong type (invalid_request) or no longer valid (invalid_grant)', async () => {
        const actorToken = await attest(t, orchestrator.id);
        const external = await externalToken(t, k8sKey, k8sClaims());
        assert.equal(
          await oauthError(exchange(t, external, JWT_TOKEN, { actor_token: actorToken })),
          'invalid_request',
        );
        assert.equal(
          await oauthError(
            exchange(t, external, JWT_TOKEN, {
              actor_token: actorToken,
              actor_token_type: JWT_TOKEN,
            }),
          ),
          'invalid_request',
        );
        assert.equal(
          await oauthError(
            exchange(t, external, JWT_TOKEN, {
              actor_token: external,
              actor_token_type: ACCESS_TOKEN,
            }),
          ),
          'invalid_grant',
        );
        await postForm(t, '/oauth2/revoke', { token: actorToken });
        assert.equal(
          await oauthError(
            exchange(t, external, JWT_TOKEN, {
              actor_token: actorToken,
              actor_token_type: ACCESS_TOKEN,
            }),
          ),
          'invalid_grant',
        );
      });
    });
  });
}
