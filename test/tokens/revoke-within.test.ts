/**
 * The revoker's revocation inside another service's transaction (an identity stopped, a task
 * ended): the entry and its audit event commit or roll back with the change, and the entry takes
 * effect only when announced after the commit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR, type ChangeContext } from '../../src/actors/index.js';
import { queryAudit } from '../../src/audit/index.js';
import type { RevocableToken } from '../../src/revocation/index.js';
import { createCore, type Core } from '../../src/server/index.js';
import { ManualClock } from '../support/clock.js';
import { testDatabases, type TestStore } from '../support/databases.js';

const system: ChangeContext = { actor: SYSTEM_ACTOR };

/** A token of the task `task`, issued a minute before `now`. */
function tokenOfTask(task: string, now: number): RevocableToken {
  return {
    jti: `jti-${task}`,
    sid: `sid-${task}`,
    client_id: 'identity-none',
    service: 'none',
    environment: 'sandbox',
    task,
    iat: Math.floor(now / 1000) - 60,
  };
}

for (const database of await testDatabases()) {
  describe(`revoking inside a transaction on ${database.name}`, () => {
    let store: TestStore;
    let core: Core;
    const clock = new ManualClock();

    before(async () => {
      store = await database.open();
      core = createCore({
        store,
        clock,
        trustDomain: 'example.test',
        issuer: 'http://steward.test',
        masterKey: randomBytes(32),
      });
      await core.start({ jobs: false });
    });
    after(async () => {
      await core.stop();
      await store.dispose();
    });

    async function stored(subject: string) {
      const rows = await store.db
        .selectFrom('revocations')
        .select('subject')
        .where('subject', '=', subject)
        .execute();
      const events = await queryAudit(store.db, { type: 'revocation.task', limit: 100 });
      return {
        rows: rows.length,
        events: events.items.filter((event) => event.target.id === subject).length,
      };
    }

    it('a rolled-back change leaves no entry, no audit event, and nothing to announce', async () => {
      const now = clock.now();
      const entry = {
        kind: 'task' as const,
        subject: 'task-rolled-back',
        revokedAt: now,
        expiresAt: now + 60_000,
      };
      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          await core.revoker.revokeWithin(trx, system, entry, 'the change failed after');
          throw new Error('the change failed after its revocation');
        }),
        /failed after its revocation/,
      );
      assert.deepEqual(await stored(entry.subject), { rows: 0, events: 0 });
      assert.equal(core.revocations.isRevoked(tokenOfTask(entry.subject, now)), false);
    });

    it('a committed change revokes with it, here once announced', async () => {
      const now = clock.now();
      const entry = {
        kind: 'task' as const,
        subject: 'task-committed',
        revokedAt: now,
        expiresAt: now + 60_000,
      };
      const pending = await store.db
        .transaction()
        .execute((trx) => core.revoker.revokeWithin(trx, system, entry, 'task completed'));
      assert.deepEqual(pending.entry, entry);
      assert.deepEqual(await stored(entry.subject), { rows: 1, events: 1 });
      await pending.announce();
      assert.equal(core.revocations.isRevoked(tokenOfTask(entry.subject, now)), true);
      assert.equal(core.revocations.isRevoked(tokenOfTask('task-other', now)), false);
    });

    it('a task past its deadline is expired and its tokens revoked, through the revoker, with one audit event each', async () => {
      await core.teams.create(system, {
        name: 'expiry',
        contact: 'expiry@example.com',
        escalation: '+1-555-0100',
      });
      await core.services.create(system, {
        name: 'expiry-agent',
        team: 'expiry',
        dataClassification: 'internal',
      });
      const identity = await core.identities.create(system, {
        service: 'expiry-agent',
        environment: 'sandbox',
        agentPath: 'worker',
      });
      const task = await core.tasks.open(system, { identity: identity.id, deadlineSeconds: 60 });
      const issued = clock.now();
      assert.equal(await core.tasks.expireDue(system), 0, 'not due before its deadline');
      assert.deepEqual(await stored(task.id), { rows: 0, events: 0 });

      clock.advance(61_000);
      assert.equal(await core.tasks.expireDue(system), 1);
      assert.equal((await core.tasks.get(system, task.id)).status, 'expired');
      assert.deepEqual(await stored(task.id), { rows: 1, events: 1 });
      assert.equal(core.revocations.isRevoked(tokenOfTask(task.id, issued + 60_000)), true);
      const expired = await queryAudit(store.db, { type: 'task.expired', limit: 10 });
      assert.deepEqual(
        expired.items.map((event) => event.target.id),
        [task.id],
      );
    });
  });
}
