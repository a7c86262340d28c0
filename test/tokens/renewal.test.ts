/**
 * Token renewal answered from the verified claims and the process's caches (the session's end,
 * the workload): whatever changed in the registry since the caches were filled is seen by the
 * transaction that issues, at once, token by token within one group-commit batch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  ACCESS_TOKEN,
  api,
  attest,
  claimsOf,
  createIdentity,
  createService,
  exchange,
  renew,
  type Workload,
} from './fixtures.js';

for (const database of await testDatabases()) {
  describe(`renewal from the caches on ${database.name}`, () => {
    let t: TestApp;

    const admit = (service: string, environments: string[]) =>
      api(t, 'security', 'PUT', `/v1/services/${service}/admitted-environments`, {
        environments,
        reason: 'renewal test',
      });

    const recorded = async (identity: string) =>
      (
        await t.store.db
          .selectFrom('tokens')
          .select('jti')
          .where('identity_id', '=', identity)
          .execute()
      ).length;

    before(async () => {
      t = await startTestApp(database);
    });
    after(async () => t.close());

    it('signs with a lifetime changed since the workload was cached', async () => {
      await createService(t, 'ttl-agent');
      const worker = await createIdentity(t, 'ttl-agent', 'worker');
      let token = await attest(t, worker.id);
      token = await renew(t, token);
      assert.ok(Number(claimsOf(token).exp) - Number(claimsOf(token).iat) > 60);
      const patched = await t.call('admin', {
        method: 'PATCH',
        url: `/v1/identities/${worker.id}`,
        payload: { maxTokenTtlSeconds: 60 },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      for (let i = 0; i < 2; i++) {
        token = await renew(t, token);
        const claims = claimsOf(token);
        assert.ok(Number(claims.exp) - Number(claims.iat) <= 60, 'the new lifetime, at once');
      }
    });

    it('refuses, within one batch, only the renewals whose workload may no longer act', async () => {
      await createService(t, 'batch-prod');
      await createService(t, 'batch-free');
      await admit('batch-prod', ['production']);
      const prod: Workload[] = [];
      const free: Workload[] = [];
      for (let i = 0; i < 4; i++) {
        prod.push(await createIdentity(t, 'batch-prod', `p${i}`, { environment: 'production' }));
        free.push(await createIdentity(t, 'batch-free', `f${i}`));
      }
      // Attested and renewed once: every workload and session is in the caches.
      const tokens = new Map<string, string>();
      for (const w of [...prod, ...free]) tokens.set(w.id, await renew(t, await attest(t, w.id)));
      const before = new Map(
        await Promise.all(
          [...prod, ...free].map(async (w) => [w.id, await recorded(w.id)] as const),
        ),
      );

      await admit('batch-prod', []);
      // All at once: they share group-commit batches.
      const responses = await Promise.all(
        [...prod, ...free].map(async (w) => ({
          w,
          res: await exchange(t, tokens.get(w.id) ?? '', ACCESS_TOKEN),
        })),
      );
      for (const { w, res } of responses) {
        if (prod.includes(w)) {
          assert.equal(res.statusCode, 400, res.body);
          assert.equal(res.json<{ error: string }>().error, 'invalid_grant');
          assert.match(res.json<{ error_description: string }>().error_description, /admitted/);
          assert.equal(await recorded(w.id), before.get(w.id), 'no record of a refused token');
        } else {
          assert.equal(res.statusCode, 200, res.body);
          assert.equal(await recorded(w.id), (before.get(w.id) ?? 0) + 1);
        }
      }
      // Admitted again: the same tokens renew.
      await admit('batch-prod', ['production']);
      for (const w of prod) await renew(t, tokens.get(w.id) ?? '');
    });

    it('caps a renewal at the cached session end, and refuses one past it', async () => {
      await createService(t, 'session-agent');
      const worker = await createIdentity(t, 'session-agent', 'worker', {
        maxSessionSeconds: 600,
      });
      let token = await attest(t, worker.id);
      const sessionEnd = Number(claimsOf(token).iat) + 600;
      for (let i = 0; i < 3; i++) {
        t.clock.advance(190_000);
        token = await renew(t, token);
      }
      assert.equal(claimsOf(token).exp, sessionEnd, 'capped by the cached session end');
      t.clock.advance(sessionEnd * 1000 - t.clock.now() + 1_000);
      const refused = await exchange(t, token, ACCESS_TOKEN);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json<{ error: string }>().error, 'invalid_grant');
    });
  });
}
