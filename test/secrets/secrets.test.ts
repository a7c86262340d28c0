/**
 * The secret store against real SQLite and PostgreSQL: values sealed at rest under per-version
 * data keys, bound to their row (AAD), write-only through the API, versioned and rotated, and a
 * secret in use by an upstream cannot be deleted.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { buildHttpApp } from '../../src/http/index.js';
import { createLogger } from '../../src/server/index.js';
import { dumpDatabase, OTHER_TEAM, ensureTeam } from '../http/fixtures.js';
import { OWNER_TEAM, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';

const system = { actor: SYSTEM_ACTOR };
const VALUE = 'sk-live-PLAINTEXT-9f8e7d6c5b4a';
const ROTATED = 'sk-live-ROTATED-0a1b2c3d4e5f';

for (const database of await testDatabases()) {
  describe(`secret store on ${database.name}`, () => {
    let t: TestApp;
    const logLines: string[] = [];

    before(async () => {
      t = await startTestApp(database);
      await ensureTeam(t, OTHER_TEAM);
    });
    after(async () => t.close());

    it('never returns, lists, records or logs a value; the stored bytes hold no plaintext', async () => {
      // A second app on the same core with a logger at its most verbose, to catch any leak.
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString('utf8'));
          done();
        },
      });
      const { app } = await buildHttpApp({ core: t.core, logger: createLogger('trace', sink) });
      try {
        const headers = { authorization: `Bearer ${t.keys.admin}` };
        const responses = [
          await app.inject({
            method: 'POST',
            url: '/v1/secrets',
            headers,
            payload: {
              name: 'crm-key',
              value: VALUE,
              team: OWNER_TEAM,
              rotationPeriodSeconds: 3600,
            },
          }),
          await app.inject({ method: 'GET', url: '/v1/secrets', headers }),
          await app.inject({ method: 'GET', url: '/v1/secrets/crm-key', headers }),
          await app.inject({
            method: 'POST',
            url: '/v1/secrets/crm-key/rotate',
            headers,
            payload: { value: ROTATED },
          }),
          // A refused write must not echo the value either.
          await app.inject({
            method: 'POST',
            url: '/v1/secrets',
            headers,
            payload: { name: 'crm-key', value: VALUE },
          }),
          await app.inject({
            method: 'POST',
            url: '/v1/secrets',
            headers,
            payload: { name: 'Bad Name', value: VALUE },
          }),
        ];
        assert.deepEqual(
          responses.map((r) => r.statusCode),
          [201, 200, 200, 200, 409, 400],
        );
        const created = responses[0]?.json<Record<string, unknown>>();
        assert.equal(created?.['version'], 1);
        assert.equal(created?.['team'], OWNER_TEAM);
        assert.ok(!('value' in (created ?? {})));
        for (const response of responses) {
          assert.ok(!response.body.includes(VALUE), `a response holds the value: ${response.body}`);
          assert.ok(!response.body.includes(ROTATED));
        }
      } finally {
        await app.close();
      }
      assert.equal(await t.core.secrets.reveal('crm-key'), ROTATED);
      const everything = await dumpDatabase(t);
      for (const needle of [VALUE, ROTATED, Buffer.from(VALUE).toString('base64')]) {
        assert.ok(!everything.includes(needle), 'a table (the trail included) holds the value');
      }
      assert.ok(logLines.length > 0, 'the verbose logger wrote nothing at all');
      const log = logLines.join('');
      assert.ok(!log.includes(VALUE) && !log.includes(ROTATED), 'the log holds the value');
      const events = await t.store.db
        .selectFrom('audit_events')
        .select('type')
        .where('type', 'like', 'secret.%')
        .execute();
      assert.deepEqual(
        events.map((e) => e.type),
        ['secret.created', 'secret.rotated'],
      );
    });

    it('seals each version under its own data key, bound to its secret: a moved row does not open', async () => {
      await t.core.secrets.create(system, { name: 'alpha', value: 'alpha-value' });
      await t.core.secrets.create(system, { name: 'beta', value: 'beta-value' });
      const rows = await t.store.db
        .selectFrom('secret_versions')
        .innerJoin('secrets', 'secrets.id', 'secret_versions.secret_id')
        .select([
          'secrets.name',
          'secret_versions.secret_id',
          'secret_versions.ciphertext',
          'secret_versions.data_key',
        ])
        .where('secrets.name', 'in', ['alpha', 'beta'])
        .execute();
      const alpha = rows.find((r) => r.name === 'alpha');
      const beta = rows.find((r) => r.name === 'beta');
      assert.ok(alpha && beta);
      assert.notEqual(alpha.data_key, beta.data_key);
      assert.match(alpha.ciphertext, /^v1\./);
      // Copy alpha's sealed value and data key onto beta: the AAD names alpha, so it fails.
      await t.store.db
        .updateTable('secret_versions')
        .set({ ciphertext: alpha.ciphertext, data_key: alpha.data_key })
        .where('secret_id', '=', beta.secret_id)
        .execute();
      await assert.rejects(t.core.secrets.reveal('beta'), (error: Error) => {
        assert.match(error.message, /does not open/);
        assert.ok(!error.message.includes('alpha-value'));
        return true;
      });
      assert.equal(await t.core.secrets.reveal('alpha'), 'alpha-value');
    });

    it('rotates: a new version, the old ones kept, the cache cleared, rotationDue from the period', async () => {
      await t.core.secrets.create(system, {
        name: 'rotating',
        value: 'one',
        rotationPeriodSeconds: 3600,
      });
      assert.equal(await t.core.secrets.reveal('rotating'), 'one');
      const fresh = await t.core.secrets.get(system, 'rotating');
      assert.equal(fresh.rotationDue, false);
      t.clock.advance(3_600_000);
      assert.equal((await t.core.secrets.get(system, 'rotating')).rotationDue, true);
      const rotated = await t.core.secrets.rotate(system, 'rotating', 'two');
      assert.equal(rotated.version, 2);
      assert.deepEqual(
        rotated.versions.map((v) => v.version),
        [1, 2],
      );
      assert.equal(rotated.rotationDue, false);
      assert.equal(rotated.lastRotatedAt, new Date(t.clock.now()).toISOString());
      assert.equal(await t.core.secrets.reveal('rotating'), 'two', 'the cached value was dropped');
      const count = await sql<{ n: number | string }>`select count(*) as n from secret_versions
        where secret_id = ${rotated.id}`.execute(t.store.db);
      assert.equal(Number(count.rows[0]?.n), 2);
    });

    it('refuses to delete a secret while an upstream uses it', async () => {
      await t.core.secrets.create(system, { name: 'in-use', value: 'v', team: OWNER_TEAM });
      await t.core.upstreams.create(system, {
        name: 'crm',
        kind: 'http',
        url: 'https://203.0.113.5/',
        team: OWNER_TEAM,
        classification: 'internal',
        credential: { secret: 'in-use', in: 'bearer' },
      });
      const refused = await t.call('admin', { method: 'DELETE', url: '/v1/secrets/in-use' });
      assert.equal(refused.statusCode, 409);
      assert.equal(refused.json<{ code: string }>().code, 'secret_in_use');
      const info = await t.call('auditor', { method: 'GET', url: '/v1/secrets/in-use' });
      assert.deepEqual(info.json<{ usedBy: string[] }>().usedBy, ['crm']);
      await t.core.upstreams.delete(system, 'crm');
      const deleted = await t.call('admin', { method: 'DELETE', url: '/v1/secrets/in-use' });
      assert.equal(deleted.statusCode, 204);
      await assert.rejects(t.core.secrets.reveal('in-use'));
    });

    it("keeps owners to their own team's secrets", async () => {
      await t.core.secrets.create(system, { name: 'theirs', value: 'x', team: OTHER_TEAM });
      const create = await t.call('owner', {
        method: 'POST',
        url: '/v1/secrets',
        payload: { name: 'not-mine', value: 'x', team: OTHER_TEAM },
      });
      assert.equal(create.statusCode, 403);
      const own = await t.call('owner', {
        method: 'POST',
        url: '/v1/secrets',
        payload: { name: 'mine', value: 'x' },
      });
      assert.equal(own.statusCode, 201);
      assert.equal(own.json<{ team: string }>().team, OWNER_TEAM, 'defaults to the own team');
      const list = await t.call('owner', { method: 'GET', url: '/v1/secrets?limit=500' });
      const names = list.json<{ items: { team: string }[] }>().items.map((s) => s.team);
      assert.ok(names.every((team) => team === OWNER_TEAM));
      assert.equal(
        (await t.call('owner', { method: 'GET', url: '/v1/secrets/theirs' })).statusCode,
        403,
      );
      assert.equal(
        (
          await t.call('owner', {
            method: 'POST',
            url: '/v1/secrets/theirs/rotate',
            payload: { value: 'y' },
          })
        ).statusCode,
        403,
      );
      assert.equal(
        (await t.call('approver', { method: 'GET', url: '/v1/secrets' })).statusCode,
        403,
      );
    });
  });
}
