/**
 * Withdrawing a compromised signing key: its tokens, genuine or forged, are refused at once, and
 * a new key signs from that moment. Also: a token issued for an upstream cannot be exchanged
 * into a token for anything else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  api,
  attest,
  createIdentity,
  createService,
  exchange,
  kidOf,
  oauthError,
  ACCESS_TOKEN,
  verdict,
} from './fixtures.js';

for (const database of await testDatabases()) {
  describe(`key withdrawal on ${database.name}`, () => {
    let t: TestApp;
    let identity: string;
    before(async () => {
      t = await startTestApp(database);
      await createService(t, 'withdraw-svc');
      identity = (await createIdentity(t, 'withdraw-svc', 'agent')).id;
    });
    after(async () => t.close());

    it("refuses the withdrawn key's tokens at once and signs with a new key", async () => {
      const token = await attest(t, identity);
      const kid = kidOf(token);
      assert.ok(kid);
      assert.equal(verdict(t, token, 'steward'), 'ok'); // now in the verifier's cache

      const withdrawn = await api<{ state: string }>(
        t,
        'security',
        'POST',
        `/v1/keys/${kid}/withdraw`,
        {
          reason: 'private key found in a public bucket',
        },
        200,
      );
      assert.equal(withdrawn.state, 'revoked');
      assert.equal(verdict(t, token, 'steward'), 'token_unknown_key');
      const jwks = await t.call(null, { method: 'GET', url: '/.well-known/jwks.json' });
      assert.ok(!jwks.json<{ keys: { kid: string }[] }>().keys.some((key) => key.kid === kid));

      const fresh = await attest(t, identity);
      assert.notEqual(kidOf(fresh), kid);
      assert.equal(verdict(t, fresh, 'steward'), 'ok');

      const trail = await api<{ items: { type: string; actorRole: string }[] }>(
        t,
        'auditor',
        'GET',
        '/v1/audit?type=signing_key.',
      );
      assert.equal(trail.items[0]?.type, 'signing_key.withdrawn');
      assert.equal(trail.items[0]?.actorRole, 'security');
    });

    it('answers 404 for an unknown key id', async () => {
      const response = await t.call('admin', {
        method: 'POST',
        url: `/v1/keys/${'A'.repeat(43)}/withdraw`,
        payload: { reason: 'test' },
      });
      assert.equal(response.statusCode, 404);
    });

    it('does not let a token for an upstream become a token for another audience', async () => {
      // Renewal across audiences is allowed only from a token for Steward itself; here the
      // subject claims another audience, which the registry does not know yet, so the refusal
      // must come from the audience rule or the unknown target, never a token.
      const token = await attest(t, identity);
      assert.equal(
        await oauthError(exchange(t, token, ACCESS_TOKEN, { audience: 'crm' })),
        'invalid_target',
      );
    });
  });
}
