/**
 * The registry against real SQLite and PostgreSQL: every change and its audit event commit
 * together, names and SPIFFE IDs are unique, lifecycles hold.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR, type ChangeContext } from '../../src/actors/index.js';
import { queryAudit } from '../../src/audit/index.js';
import { StewardError } from '../../src/errors/index.js';
import { createCore, type Core } from '../../src/server/index.js';
import { ManualClock } from '../support/clock.js';
import { testDatabases, type TestStore } from '../support/databases.js';

const system: ChangeContext = { actor: SYSTEM_ACTOR, requestId: 'req-1' };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StewardError, `expected a StewardError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

for (const database of await testDatabases()) {
  describe(`registry on ${database.name}`, () => {
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
      await core.teams.create(system, {
        name: 'payments',
        contact: 'pay@example.com',
        escalation: '+1-555-0100',
      });
      await core.services.create(system, {
        name: 'refund-agent',
        team: 'payments',
        dataClassification: 'confidential',
      });
    });
    after(async () => store.dispose());

    it('records each change with its audit event, in order, with who and which request', async () => {
      const page = await queryAudit(store.db, { limit: 10, order: 'asc' });
      assert.deepEqual(
        page.items.map((e) => e.type),
        ['team.created', 'service.created'],
      );
      const [event] = page.items;
      assert.equal(event?.actor, 'system');
      assert.equal(event?.requestId, 'req-1');
      assert.equal((event?.after as { name: string }).name, 'payments');
      assert.equal(event?.before, null);
    });

    it('refuses a duplicate team with team_exists and writes nothing', async () => {
      const countBefore = (await queryAudit(store.db, { limit: 500 })).items.length;
      await rejectsWith(
        core.teams.create(system, { name: 'payments', contact: 'x', escalation: 'y' }),
        'team_exists',
      );
      assert.equal((await queryAudit(store.db, { limit: 500 })).items.length, countBefore);
    });

    it('builds the SPIFFE ID from trust domain, environment, service and agent path', async () => {
      const identity = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'sandbox',
        agentPath: 'planner/search',
      });
      assert.equal(identity.spiffeId, 'spiffe://example.test/sandbox/refund-agent/planner/search');
      assert.equal(identity.status, 'active');
      assert.equal(identity.team, 'payments');
      await rejectsWith(
        core.identities.create(system, {
          service: 'refund-agent',
          environment: 'sandbox',
          agentPath: 'planner/search',
        }),
        'identity_exists',
      );
    });

    it('admits pilot and production only by an explicit, recorded admission', async () => {
      await rejectsWith(
        core.identities.create(system, {
          service: 'refund-agent',
          environment: 'production',
          agentPath: 'planner',
        }),
        'environment_not_admitted',
      );
      const service = await core.services.setAdmittedEnvironments(system, 'refund-agent', {
        environments: ['production'],
        reason: 'CAB-42 approved',
      });
      assert.deepEqual(service.admittedEnvironments, ['sandbox', 'production']);
      const identity = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'production',
        agentPath: 'planner',
      });
      assert.equal(identity.maxTokenTtlSeconds, 900);
      const admission = await queryAudit(store.db, { type: 'service.admission_changed', limit: 5 });
      assert.equal((admission.items[0]?.after as { reason: string }).reason, 'CAB-42 approved');
      await rejectsWith(
        core.identities.create(system, {
          service: 'refund-agent',
          environment: 'production',
          agentPath: 'executor',
          maxTokenTtlSeconds: 1800,
        }),
        'validation_failed',
      );
    });

    it('disables, re-enables and decommissions for good, keeping who and why', async () => {
      const identity = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'sandbox',
        agentPath: 'lifecycle',
      });
      clock.advance(1000);
      const disabled = await core.identities.changeStatus(
        system,
        identity.id,
        'disable',
        'suspicious traffic',
      );
      assert.equal(disabled.status, 'disabled');
      assert.equal(disabled.statusReason, 'suspicious traffic');
      assert.equal(disabled.statusChangedBy, 'system');
      assert.equal(disabled.statusChangedAt, new Date(clock.now()).toISOString());
      assert.equal(
        (await core.identities.changeStatus(system, identity.id, 'enable', 'cleared')).status,
        'active',
      );
      assert.equal(
        (await core.identities.changeStatus(system, identity.id, 'decommission', 'retired')).status,
        'decommissioned',
      );
      await rejectsWith(
        core.identities.changeStatus(system, identity.id, 'enable', 'oops'),
        'identity_decommissioned',
      );
      await rejectsWith(
        core.identities.update(system, identity.id, { description: 'x' }),
        'identity_decommissioned',
      );
      // The SPIFFE ID is never handed out again.
      await rejectsWith(
        core.identities.create(system, {
          service: 'refund-agent',
          environment: 'sandbox',
          agentPath: 'lifecycle',
        }),
        'identity_decommissioned',
      );
      const history = await queryAudit(store.db, {
        identity: identity.id,
        limit: 10,
        order: 'asc',
      });
      // Disabling and decommissioning revoke its tokens in the same transaction, found too.
      assert.deepEqual(
        history.items.map((e) => e.type),
        [
          'identity.created',
          'revocation.identity',
          'identity.disabled',
          'identity.enabled',
          'revocation.identity',
          'identity.decommissioned',
        ],
      );
      assert.equal(await core.identities.get(identity.id).then((i) => i.status), 'decommissioned');
    });

    it('keeps owners to their own team', async () => {
      await core.teams.create(system, {
        name: 'search',
        contact: 's@example.com',
        escalation: '+1',
      });
      const team = await store.db
        .selectFrom('teams')
        .select('id')
        .where('name', '=', 'search')
        .executeTakeFirstOrThrow();
      const owner: ChangeContext = {
        actor: { ref: 'apikey:x', role: 'owner', teamId: team.id, teamName: 'search' },
      };
      await core.services.create(owner, {
        name: 'search-agent',
        team: 'search',
        dataClassification: 'internal',
      });
      await rejectsWith(
        core.services.create(owner, {
          name: 'sneaky',
          team: 'payments',
          dataClassification: 'internal',
        }),
        'forbidden',
      );
      await rejectsWith(
        core.identities.create(owner, {
          service: 'refund-agent',
          environment: 'sandbox',
          agentPath: 'intruder',
        }),
        'forbidden',
      );
      await rejectsWith(
        core.services.update(owner, 'search-agent', { team: 'payments' }),
        'forbidden',
      );
    });

    it('pages by keyset without gaps or repeats', async () => {
      for (let i = 0; i < 25; i++) {
        await core.identities.create(system, {
          service: 'refund-agent',
          environment: 'sandbox',
          agentPath: `worker-${i}`,
        });
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await core.identities.list({ service: 'refund-agent', limit: 7, cursor });
        seen.push(...page.items.map((i) => i.id));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      const all = await core.identities.list({ service: 'refund-agent', limit: 500 });
      assert.deepEqual(
        seen,
        all.items.map((i) => i.id),
      );
      assert.equal(new Set(seen).size, seen.length);
      await rejectsWith(
        core.identities.list({ limit: 5, cursor: 'not-a-cursor' }),
        'invalid_cursor',
      );
    });

    it('refuses to delete a team that owns services', async () => {
      await rejectsWith(core.teams.delete(system, 'payments'), 'team_not_empty');
      await core.teams.create(system, {
        name: 'empty',
        contact: 'e@example.com',
        escalation: '+1',
      });
      await core.teams.delete(system, 'empty');
      await rejectsWith(core.teams.get('empty'), 'not_found');
    });

    it('rolls back the change when its audit event cannot be written', async () => {
      // Break the trail for this one transaction by making the audit insert fail: a change
      // whose record cannot be written must not happen.
      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('teams')
            .values({
              id: '00000000-0000-7000-8000-000000000001',
              name: 'ghost',
              description: '',
              contact: 'g',
              escalation: 'g',
              on_call: '',
              created_at: new Date().toISOString(),
              updated_at: new Date().toISOString(),
            })
            .execute();
          await trx
            .insertInto('audit_events')
            .values({ id: null as unknown as string } as never)
            .execute();
        }),
      );
      await rejectsWith(core.teams.get('ghost'), 'not_found');
    });
  });
}
