/**
 * The trail's request id is Steward's own, on both databases: a client's `x-request-id` never
 * becomes the id its actions are filed under (it could otherwise forge a correlation with someone
 * else's request); a usable one is kept beside it, in the trail and in every log line of the
 * request, and an unusable one is dropped.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';
import { loggedApp } from './logged-app.js';
import { testDatabases } from '../support/databases.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface AuditEvent {
  type: string;
  requestId: string | null;
  clientRequestId: string | null;
  after: { name?: string } | null;
}

/** The trail's `team.created` event of the team named `name`. */
async function teamCreated(t: TestApp, name: string): Promise<AuditEvent> {
  const page = (await t.call('auditor', { url: '/v1/audit?type=team.created&limit=100' })).json<{
    items: AuditEvent[];
  }>();
  const event = page.items.find((item) => item.after?.name === name);
  assert.ok(event, `no team.created event for ${name}`);
  return event;
}

for (const database of await testDatabases()) {
  describe(`request ids on ${database.name}`, () => {
    const t = startTestApp(database);
    after(async () => (await t).close());

    it("a client's x-request-id is kept beside Steward's id, never instead of it", async () => {
      const app = await t;
      // Someone else's request id, as a client that wants its change filed under it would send.
      const victim = await app.call('admin', {
        method: 'POST',
        url: '/v1/teams',
        payload: { name: 'victim-team', contact: 'c@example.com', escalation: 'e' },
      });
      const victimId = String(victim.headers['x-request-id']);
      assert.match(victimId, UUID);

      const forged = await app.call('admin', {
        method: 'POST',
        url: '/v1/teams',
        payload: { name: 'forger-team', contact: 'c@example.com', escalation: 'e' },
        headers: { 'x-request-id': victimId },
      });
      assert.equal(forged.statusCode, 201, forged.body);
      const ours = String(forged.headers['x-request-id']);
      assert.match(ours, UUID);
      assert.notEqual(ours, victimId);

      const event = await teamCreated(app, 'forger-team');
      assert.equal(event.requestId, ours);
      assert.equal(event.clientRequestId, victimId);
      // Filtering the trail by the victim's id finds the victim's change only.
      const victimEvent = await teamCreated(app, 'victim-team');
      assert.equal(victimEvent.requestId, victimId);
      assert.equal(victimEvent.clientRequestId, null);

      // Errors name Steward's id too.
      const problem = await app.call('admin', {
        url: '/v1/teams/no-such-team',
        headers: { 'x-request-id': 'client-1' },
      });
      assert.equal(problem.statusCode, 404);
      const requestId = problem.json<{ requestId: string }>().requestId;
      assert.match(requestId, UUID);
      assert.equal(problem.headers['x-request-id'], requestId);
    });

    it('an unusable client id (too long, odd characters, sent twice) is dropped, not kept or cut', async () => {
      const app = await t;
      const cases: [string, string | string[]][] = [
        ['spaces', 'has spaces'],
        ['markup', '<script>alert(1)</script>'],
        ['long', 'a'.repeat(65)],
        ['newline', 'line\\nbreak'],
        ['unicode', 'ünïcode'],
        ['twice', ['one', 'two']],
      ];
      for (const [name, header] of cases) {
        const response = await app.call('admin', {
          method: 'POST',
          url: '/v1/teams',
          payload: { name: `odd-${name}`, contact: 'c@example.com', escalation: 'e' },
          headers: { 'x-request-id': header },
        });
        assert.equal(response.statusCode, 201, `${name}: ${response.body}`);
        assert.match(String(response.headers['x-request-id']), UUID, name);
        const event = await teamCreated(app, `odd-${name}`);
        assert.equal(event.clientRequestId, null, name);
        assert.equal(event.requestId, response.headers['x-request-id'], name);
      }
      const longest = 'a'.repeat(64);
      const kept = await app.call('admin', {
        method: 'POST',
        url: '/v1/teams',
        payload: { name: 'odd-longest', contact: 'c@example.com', escalation: 'e' },
        headers: { 'x-request-id': longest },
      });
      assert.equal(kept.statusCode, 201, kept.body);
      assert.equal((await teamCreated(app, 'odd-longest')).clientRequestId, longest);
    });

    it("every log line of a request carries Steward's id as reqId and the client's beside it", async () => {
      const app = await t;
      const logged = await loggedApp(app.core);
      const lines = logged.lines;
      try {
        const response = await logged.app.inject({
          url: '/healthz',
          headers: { 'x-request-id': 'client-abc' },
        });
        const ours = String(response.headers['x-request-id']);
        const mine = lines.filter((line) => line['reqId'] === ours);
        assert.ok(mine.length >= 2, JSON.stringify(lines));
        for (const line of mine) assert.equal(line['clientRequestId'], 'client-abc');
        assert.ok(!lines.some((line) => line['reqId'] === 'client-abc'));
      } finally {
        await logged.app.close();
      }
    });
  });
}
