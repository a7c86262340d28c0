/**
 * The registry's read port for workloads: one load with service and team, and the one answer to
 * "may this workload act" that the token exchange, tasks and revocation rely on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR, type ChangeContext } from '../../src/actors/index.js';
import {
  loadServiceOwner,
  loadWorkload,
  loadWorkloads,
  whyMayNotAct,
  workloadIdsOfService,
} from '../../src/registry/index.js';
import { createCore, type Core } from '../../src/server/index.js';
import { ManualClock } from '../support/clock.js';
import { testDatabases, type TestStore } from '../support/databases.js';

const system: ChangeContext = { actor: SYSTEM_ACTOR };

for (const database of await testDatabases()) {
  describe(`workloads read port on ${database.name}`, () => {
    let store: TestStore;
    let core: Core;

    before(async () => {
      store = await database.open();
      core = createCore({
        store,
        clock: new ManualClock(),
        trustDomain: 'example.test',
        issuer: 'http://steward.test',
        masterKey: randomBytes(32),
      });
      await core.teams.create(system, { name: 'payments', contact: 'p', escalation: 'e' });
      await core.services.create(system, {
        name: 'refund-agent',
        team: 'payments',
        dataClassification: 'internal',
      });
    });
    after(async () => store.dispose());

    it('loads a workload with its service, team and admitted environments', async () => {
      const created = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'sandbox',
        agentPath: 'loader',
      });
      const workload = await loadWorkload(store.db, created.id);
      const team = await core.teams.get('payments');
      assert.ok(workload);
      assert.equal(workload.spiffeId, created.spiffeId);
      assert.equal(workload.service, 'refund-agent');
      assert.equal(workload.team, 'payments');
      assert.equal(workload.teamId, team.id);
      assert.equal(workload.status, 'active');
      assert.deepEqual(workload.admittedEnvironments, ['sandbox']);
      assert.equal(await loadWorkload(store.db, '00000000-0000-7000-8000-00000000dead'), undefined);

      const many = await loadWorkloads(store.db, [created.id, created.id, 'missing']);
      assert.deepEqual([...many.keys()], [created.id]);
      assert.ok((await workloadIdsOfService(store.db, 'refund-agent')).includes(created.id));
      assert.deepEqual(await workloadIdsOfService(store.db, 'no-such-service'), []);
      assert.equal((await loadServiceOwner(store.db, 'refund-agent'))?.teamId, team.id);
      assert.equal(await loadServiceOwner(store.db, 'no-such-service'), undefined);
    });

    it('lets an active workload act, not a disabled one, and not outside its admission', async () => {
      const created = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'sandbox',
        agentPath: 'actor',
      });
      const active = await loadWorkload(store.db, created.id);
      assert.ok(active);
      assert.equal(whyMayNotAct(active), undefined, 'sandbox needs no admission');

      await core.identities.changeStatus(system, created.id, 'disable', 'incident');
      const disabled = await loadWorkload(store.db, created.id);
      assert.ok(disabled);
      assert.deepEqual(whyMayNotAct(disabled), {
        reason: 'inactive',
        status: 'disabled',
        message: 'The identity is disabled.',
      });

      await core.services.setAdmittedEnvironments(system, 'refund-agent', {
        environments: ['pilot'],
        reason: 'pilot review',
      });
      const pilot = await core.identities.create(system, {
        service: 'refund-agent',
        environment: 'pilot',
        agentPath: 'actor',
      });
      const admitted = await loadWorkload(store.db, pilot.id);
      assert.ok(admitted);
      assert.equal(whyMayNotAct(admitted), undefined);
      await core.services.setAdmittedEnvironments(system, 'refund-agent', {
        environments: [],
        reason: 'pilot withdrawn',
      });
      const withdrawn = await loadWorkload(store.db, pilot.id);
      assert.ok(withdrawn);
      assert.deepEqual(whyMayNotAct(withdrawn), {
        reason: 'not_admitted',
        environment: 'pilot',
        message: 'The service is not admitted to pilot.',
      });
    });
  });
}
