/**
 * The trail's filters find every event about what they name, on both databases: an identity's
 * filter finds the revocations of the identity itself, of its tokens, of their sessions and of its
 * tasks, whichever path wrote them; a service's filter finds its kill switches. Through the API
 * and through `steward audit list`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { runCli } from '../support/cli.js';
import { testDatabases } from '../support/databases.js';
import { workloadToken } from '../support/inject.js';
import { makeIdentity, OWNER_TEAM } from './fixtures.js';

const system = { actor: SYSTEM_ACTOR };

interface AuditEvent {
  type: string;
  target: { kind: string; id: string };
  identity: string | null;
  service: string | null;
  team: string | null;
}

async function trail(t: TestApp, query: string): Promise<AuditEvent[]> {
  const response = await t.call('auditor', { url: `/v1/audit?order=asc&limit=500&${query}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<{ items: AuditEvent[] }>().items;
}

async function revoke(t: TestApp, body: Record<string, string>): Promise<void> {
  const response = await t.call('admin', {
    method: 'POST',
    url: '/v1/revocations',
    payload: { ...body, reason: 'test' },
  });
  assert.equal(response.statusCode, 201, response.body);
}

/** The `jti` of an access token, read from its payload. */
function jti(token: string): string {
  const payload = JSON.parse(
    Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
  ) as { jti: string };
  return payload.jti;
}

for (const database of await testDatabases()) {
  describe(`audit filters on ${database.name}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(database);
    });
    after(async () => t.close());

    it("an identity's filter finds every revocation about it: identity, token, session, task", async () => {
      const identity = await makeIdentity(t, OWNER_TEAM);
      const other = await makeIdentity(t, OWNER_TEAM);
      const first = await workloadToken(t.app, t.keys.admin, identity.id, { audience: 'steward' });
      const second = await workloadToken(t.app, t.keys.admin, identity.id, { audience: 'steward' });
      const task = await t.core.tasks.open(system, { identity: identity.id, deadlineSeconds: 600 });
      // The other identity's revocations must not appear under this one.
      await workloadToken(t.app, t.keys.admin, other.id, { audience: 'steward' });
      await revoke(t, { kind: 'identity', identity: other.id });

      await revoke(t, { kind: 'token', jti: jti(first) });
      await revoke(t, { kind: 'lineage', jti: jti(second) });
      await revoke(t, { kind: 'task', task: task.id });
      await revoke(t, { kind: 'identity', identity: identity.id });
      // The identity's own status change revokes its tokens through another path.
      const disabled = await t.call('admin', {
        method: 'POST',
        url: `/v1/identities/${identity.id}/disable`,
        payload: { reason: 'test' },
      });
      assert.equal(disabled.statusCode, 200, disabled.body);

      const events = await trail(t, `identity=${identity.id}`);
      const revocations = events.filter((event) => event.type.startsWith('revocation.'));
      assert.deepEqual(
        revocations.map((event) => event.type),
        [
          'revocation.token',
          'revocation.session',
          'revocation.task',
          'revocation.identity',
          'revocation.identity',
        ],
      );
      for (const event of revocations) {
        assert.equal(event.identity, identity.id, event.type);
        assert.equal(event.service, identity.service, event.type);
        assert.equal(event.team, OWNER_TEAM, event.type);
      }
      assert.ok(events.every((event) => event.identity === identity.id));
      assert.ok(events.some((event) => event.type === 'identity.disabled'));

      const theirs = await trail(t, `identity=${other.id}`);
      assert.deepEqual(
        theirs.filter((event) => event.type.startsWith('revocation.')).map((e) => e.target.id),
        [other.id],
      );

      // The same through the CLI, as an operator would look.
      const run = await runCli(['audit', 'list', '--identity', identity.id, '--json'], {
        url: await t.app.listen({ host: '127.0.0.1', port: 0 }),
        key: t.keys.auditor,
      });
      assert.equal(run.code, 0, run.stderr);
      const listed = (JSON.parse(run.stdout) as { items: AuditEvent[] }).items;
      assert.equal(listed.filter((event) => event.type === 'revocation.identity').length, 2);
      assert.equal(listed.filter((event) => event.type.startsWith('revocation.')).length, 5);
    });

    it("a service's filter finds its kill switch", async () => {
      const identity = await makeIdentity(t, OWNER_TEAM);
      const killed = await t.call('admin', {
        method: 'POST',
        url: '/v1/revocations',
        payload: {
          kind: 'service_environment',
          service: identity.service,
          environment: 'sandbox',
          reason: 'test',
        },
      });
      assert.equal(killed.statusCode, 201, killed.body);
      const events = await trail(t, `service=${identity.service}&type=revocation.`);
      assert.deepEqual(
        events.map((event) => [event.type, event.target.id, event.team]),
        [['revocation.service_environment', `${identity.service}/sandbox`, OWNER_TEAM]],
      );
    });
  });
}
