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
  });
}
