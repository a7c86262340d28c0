/**
 * Two real `steward up` replicas on one PostgreSQL database, over real HTTP: a token from one
 * works on the other, a revocation on one is enforced by the other within 2 s (LISTEN/NOTIFY,
 * polling behind it), and a key rotation on one reaches the other's JWKS.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { postgres, testDatabases, type TestStore } from '../support/databases.js';
import { JOIN_TOKEN, TOKEN_EXCHANGE } from './fixtures.js';

const hasPostgres = (await testDatabases()).some((database) => database.name === 'postgres');
const ADMIN_KEY = `replicas-test-admin-${randomBytes(16).toString('hex')}`;

async function call(
  replica: RunningSteward,
  url: string,
  init: {
    method?: string;
    json?: unknown;
    form?: Record<string, string>;
    key?: string | null;
  } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const key = init.key === undefined ? ADMIN_KEY : init.key;
  const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
  let body: string | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const response = await fetch(`${replica.url}${url}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

async function ok(
  replica: RunningSteward,
  url: string,
  init: Parameters<typeof call>[2],
  status: number,
) {
  const res = await call(replica, url, init);
  assert.equal(res.status, status, `${url}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** An access token of `identityId`: a join token made on `joinOn`, exchanged on `exchangeOn`. */
async function accessToken(
  joinOn: RunningSteward,
  exchangeOn: RunningSteward,
  identityId: string,
): Promise<string> {
  const join = await ok(joinOn, `/v1/identities/${identityId}/join-tokens`, { json: {} }, 201);
  const issued = await ok(
    exchangeOn,
    '/oauth2/token',
    {
      key: null,
      form: {
        grant_type: TOKEN_EXCHANGE,
        subject_token: String(join['token']),
        subject_token_type: JOIN_TOKEN,
      },
    },
    200,
  );
  return String(issued['access_token']);
}

/** Polls `check` every 20 ms until it holds; returns the time it took, or fails after `limitMs`. */
async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    const elapsed = performance.now() - start;
    assert.ok(elapsed < limitMs, `not seen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(
  'two replicas on one PostgreSQL database',
  {
    skip: hasPostgres
      ? false
      : 'PostgreSQL is not reachable: the replica tests need it (CI always has it)',
  },
  () => {
    let store: TestStore;
    let a: RunningSteward;
    let b: RunningSteward;

    before(async () => {
      store = await postgres.open();
      assert.equal(store.location.kind, 'postgres');
      const env = {
        STEWARD_PORT: '0',
        DATABASE_URL: store.location.kind === 'postgres' ? store.location.url : '',
        STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
        STEWARD_ADMIN_KEY: ADMIN_KEY,
        STEWARD_LOG_LEVEL: 'silent',
        // Behind one load balancer both replicas are the same issuer.
        STEWARD_ISSUER: 'http://steward.replicas.test',
      };
      a = await up(loadConfig(env), { announce: () => {} });
      b = await up(loadConfig(env), { announce: () => {} });
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await store?.dispose();
    });

    it('a token from A works on B; revoked on A, B refuses it within 2 s', async () => {
      await ok(
        a,
        '/v1/teams',
        { json: { name: 'payments', contact: 'pay@example.com', escalation: '+1-555-0100' } },
        201,
      );
      await ok(
        a,
        '/v1/services',
        { json: { name: 'refund-agent', team: 'payments', dataClassification: 'internal' } },
        201,
      );
      const identity = await ok(
        b,
        '/v1/identities',
        { json: { service: 'refund-agent', environment: 'sandbox', agentPath: 'planner' } },
        201,
      );
      const token = await accessToken(a, a, String(identity['id']));

      const onB = await ok(b, '/oauth2/introspect', { form: { token } }, 200);
      assert.equal(onB['active'], true);
      assert.equal(onB['sub'], identity['spiffeId']);
      // B serves the workload too (its verifier, its cache).
      const whoOnB = await call(b, '/v1/tasks', {
        method: 'POST',
        key: token,
        json: { identity: identity['id'], deadlineSeconds: 60 },
      });
      assert.equal(whoOnB.status, 201, JSON.stringify(whoOnB.body));

      await ok(a, '/oauth2/revoke', { key: null, form: { token } }, 200);
      assert.equal(
        (await ok(a, '/oauth2/introspect', { form: { token } }, 200))['active'],
        false,
        'at once on A',
      );
      const latency = await within(
        2_000,
        async () =>
          (await ok(b, '/oauth2/introspect', { form: { token } }, 200))['active'] === false,
      );
      console.log(`# revocation reached replica B in ${latency.toFixed(1)} ms`);
      assert.ok(latency < 2_000);
      const refused = await call(b, `/v1/tasks/${String(whoOnB.body['id'])}`, { key: token });
      assert.equal(refused.status, 401);
    });

    it('without a notification, the poll still brings a revocation to both replicas within 2 s', async () => {
      const identities = await ok(a, '/v1/identities?service=refund-agent', {}, 200);
      const identity = (identities['items'] as { id: string }[])[0];
      assert.ok(identity);
      const token = await accessToken(a, a, identity.id);
      const jti = String((await ok(b, '/oauth2/introspect', { form: { token } }, 200))['jti']);
      // Written behind both replicas' backs, as if the NOTIFY had been lost in a reconnect.
      await store.db
        .insertInto('revocations')
        .values({
          kind: 'token',
          subject: jti,
          revoked_at: new Date().toISOString(),
          expires_at: new Date(Date.now() + 600_000).toISOString(),
          reason: 'notification lost (test)',
          revoked_by: 'test',
        })
        .execute();
      const latency = await within(2_000, async () => {
        const [onA, onB] = await Promise.all([
          ok(a, '/oauth2/introspect', { form: { token } }, 200),
          ok(b, '/oauth2/introspect', { form: { token } }, 200),
        ]);
        return onA['active'] === false && onB['active'] === false;
      });
      console.log(
        `# revocation reached both replicas by polling alone in ${latency.toFixed(1)} ms`,
      );
    });

    it('an immediate key rotation on A reaches B: B publishes the key and accepts its tokens', async () => {
      const rotated = await ok(a, '/v1/keys/rotate', { json: { immediate: true } }, 201);
      const kid = String(rotated['kid']);
      assert.equal(rotated['state'], 'active');
      const latency = await within(2_000, async () => {
        const jwks = await ok(b, '/.well-known/jwks.json', { key: null }, 200);
        return (jwks['keys'] as { kid: string }[]).some((key) => key.kid === kid);
      });
      console.log(`# key rotation reached replica B in ${latency.toFixed(1)} ms`);

      const identities = await ok(a, '/v1/identities?service=refund-agent', {}, 200);
      const identity = (identities['items'] as { id: string }[])[0];
      assert.ok(identity);
      const token = await accessToken(b, a, identity.id);
      const header = JSON.parse(
        Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'),
      ) as { kid: string };
      assert.equal(header.kid, kid, 'A signs with the new key at once');
      assert.equal((await ok(b, '/oauth2/introspect', { form: { token } }, 200))['active'], true);
      // B signs with it too, once it has heard.
      const fromB = await ok(
        b,
        '/oauth2/token',
        {
          key: null,
          form: {
            grant_type: TOKEN_EXCHANGE,
            subject_token: token,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          },
        },
        200,
      );
      const renewedHeader = JSON.parse(
        Buffer.from(String(fromB['access_token']).split('.')[0] ?? '', 'base64url').toString(
          'utf8',
        ),
      ) as { kid: string };
      assert.equal(renewedHeader.kid, kid);
    });

    it('a renewal on B answered from its caches still sees, at once, what A changed', async () => {
      await ok(
        a,
        '/v1/services',
        { json: { name: 'payout-agent', team: 'payments', dataClassification: 'internal' } },
        201,
      );
      const admit = (environments: string[]) =>
        ok(
          a,
          '/v1/services/payout-agent/admitted-environments',
          { method: 'PUT', json: { environments, reason: 'replica test' } },
          200,
        );
      await admit(['production']);
      const identity = await ok(
        a,
        '/v1/identities',
        { json: { service: 'payout-agent', environment: 'production', agentPath: 'executor' } },
        201,
      );
      const id = String(identity['id']);
      const renewOn = (replica: RunningSteward, token: string) =>
        call(replica, '/oauth2/token', {
          key: null,
          form: {
            grant_type: TOKEN_EXCHANGE,
            subject_token: token,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          },
        });
      const claims = (token: string) =>
        JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
          exp: number;
          iat: number;
        };
      // B learns the workload and the session by renewing (its caches are warm from here on).
      let token = await accessToken(a, a, id);
      for (let i = 0; i < 3; i++) {
        const renewed = await renewOn(b, token);
        assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
        token = String(renewed.body['access_token']);
      }
      // A shortens the token lifetime: B's very next renewal is signed with it.
      await ok(
        a,
        `/v1/identities/${id}`,
        { method: 'PATCH', json: { maxTokenTtlSeconds: 60 } },
        200,
      );
      const shorter = await renewOn(b, token);
      assert.equal(shorter.status, 200, JSON.stringify(shorter.body));
      token = String(shorter.body['access_token']);
      assert.ok(claims(token).exp - claims(token).iat <= 60, 'the new lifetime at once on B');
      // A withdraws the admission (no revocation is written for that): B refuses at once.
      await admit([]);
      const refused = await renewOn(b, token);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body['error'], 'invalid_grant');
      await admit(['production']);
      const again = await renewOn(b, token);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      token = String(again.body['access_token']);
      // A disables the identity: B refuses at once (the revocation, or the issuing transaction).
      await ok(a, `/v1/identities/${id}/disable`, { json: { reason: 'replica test' } }, 200);
      const disabled = await renewOn(b, token);
      assert.equal(disabled.status, 400, JSON.stringify(disabled.body));
      assert.equal(disabled.body['error'], 'invalid_grant');
    });
  },
);
