/**
 * The registry's team-name port that API keys, secrets and upstreams show their team's name
 * through: names come from memory once read (no query: a closed store still answers), a team
 * made after a name was read is found, filters by team name follow a team deleted and made again
 * under its name, and across two replicas on one PostgreSQL database nothing goes stale (a team's
 * name never changes and an id is never reused, so there is nothing to invalidate).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { createTeamNames } from '../../src/registry/index.js';
import { createCore, type Core } from '../../src/server/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { ManualClock } from '../support/clock.js';
import { postgres, testDatabases, type TestStore } from '../support/databases.js';

const system = { actor: SYSTEM_ACTOR };
const team = (name: string) => ({
  name,
  contact: `${name}@example.com`,
  escalation: '+1-555-0100',
});

function coreOn(store: Store, clock: ManualClock, masterKey: Buffer): Core {
  return createCore({
    store,
    clock,
    trustDomain: 'example.test',
    issuer: 'http://steward.test',
    masterKey,
  });
}

const names = async (core: Core, filter?: string) =>
  (await core.secrets.list(system, { limit: 50, ...(filter ? { team: filter } : {}) })).items.map(
    (secret) => `${secret.name}:${String(secret.team)}`,
  );

for (const database of await testDatabases()) {
  describe(`team names on ${database.name}`, () => {
    let store: TestStore;
    let core: Core;
    before(async () => {
      store = await database.open();
      core = coreOn(store, new ManualClock(), randomBytes(32));
      await core.start({ jobs: false });
    });
    after(async () => {
      await core.stop();
      await store.dispose();
    });

    it('answers from memory once read, and reads a team it has not seen', async () => {
      const port = createTeamNames();
      const red = await core.teams.create(system, team('red'));
      assert.deepEqual(
        await port.namesOf(store.db, [red.id, null, 'no-such-id']),
        new Map([[red.id, 'red']]),
      );
      const amber = await core.teams.create(system, team('amber'));
      assert.equal(await port.idOf(store.db, 'amber'), amber.id);
      assert.equal(await port.idOf(store.db, 'no-such-team'), undefined);
      const known = await port.namesOf(store.db, [red.id, amber.id]);
      assert.deepEqual(
        known,
        new Map([
          [red.id, 'red'],
          [amber.id, 'amber'],
        ]),
      );

      // A closed store fails every query: an answer now comes from memory alone.
      const other = await database.open();
      await other.dispose();
      assert.deepEqual(await port.namesOf(other.db, [amber.id, red.id]), known);
      await assert.rejects(port.namesOf(other.db, ['unseen-id']));
    });

    it('filters secrets by a team made again under a deleted team’s name', async () => {
      await core.teams.create(system, team('teal'));
      await core.secrets.create(system, { name: 'teal-old', value: 'v', team: 'teal' });
      await core.secrets.create(system, { name: 'no-team', value: 'v' });
      assert.deepEqual(await names(core, 'teal'), ['teal-old:teal']);
      await core.secrets.delete(system, 'teal-old');
      await core.teams.delete(system, 'teal');
      assert.deepEqual(await names(core, 'teal'), []);
      await core.teams.create(system, team('teal'));
      await core.secrets.create(system, { name: 'teal-new', value: 'v', team: 'teal' });
      assert.deepEqual(await names(core, 'teal'), ['teal-new:teal']);
      assert.deepEqual(await names(core, 'no-such-team'), []);
      assert.ok((await names(core)).includes('no-team:null'));
    });

    it('keeps a team’s name: an update cannot rename it', async () => {
      await core.teams.create(system, team('fixed'));
      const updated = await core.teams.update(system, 'fixed', {
        contact: 'new@example.com',
        ...({ name: 'renamed' } as object),
      });
      assert.equal(updated.name, 'fixed');
      await assert.rejects(core.teams.get('renamed'), { code: 'not_found' });
    });
  });
}

const hasPostgres = (await testDatabases()).some((database) => database.name === 'postgres');

describe(
  'team names across two replicas (postgres)',
  {
    skip: hasPostgres
      ? false
      : 'PostgreSQL is not reachable: the replica tests need it (CI always has it)',
  },
  () => {
    let first: TestStore;
    let second: Store;
    let a: Core;
    let b: Core;
    before(async () => {
      first = await postgres.open();
      assert.equal(first.location.kind, 'postgres');
      second = await openStore({ kind: 'postgres', url: first.location.url, poolSize: 2 });
      const masterKey = randomBytes(32);
      a = coreOn(first, new ManualClock(), masterKey);
      b = coreOn(second, new ManualClock(), masterKey);
      await a.start({ jobs: false });
      await b.start({ jobs: false });
    });
    after(async () => {
      await b.stop();
      await a.stop();
      await second.close();
      await first.dispose();
    });

    it('shows on one replica the teams made, deleted and made again on the other', async () => {
      await a.teams.create(system, team('blue'));
      const owner = await a.apiKeys.create(system, {
        name: 'blue owner',
        role: 'owner',
        team: 'blue',
      });
      await a.secrets.create(system, { name: 'blue-key', value: 'v', team: 'blue' });
      const actor = await b.apiKeys.authenticate(owner.key);
      assert.equal(actor?.teamName, 'blue');
      assert.deepEqual(await names(b, 'blue'), ['blue-key:blue']);

      // B has read green's name; A deletes green and makes another team under its name.
      await a.teams.create(system, team('green'));
      await a.secrets.create(system, { name: 'green-old', value: 'v', team: 'green' });
      assert.deepEqual(await names(b, 'green'), ['green-old:green']);
      await a.secrets.delete(system, 'green-old');
      await a.teams.delete(system, 'green');
      const green = await a.teams.create(system, team('green'));
      await a.secrets.create(system, { name: 'green-new', value: 'v', team: 'green' });
      const greenOwner = await a.apiKeys.create(system, {
        name: 'green owner',
        role: 'owner',
        team: 'green',
      });

      // No notification to wait for: B reads the new id's name on first sight.
      assert.deepEqual(await names(b, 'green'), ['green-new:green']);
      assert.equal((await b.secrets.get(system, 'green-new')).team, 'green');
      const greenActor = await b.apiKeys.authenticate(greenOwner.key);
      assert.equal(greenActor?.teamId, green.id);
      assert.equal(greenActor?.teamName, 'green');
      const listed = await b.apiKeys.list({ limit: 50 });
      assert.deepEqual(
        listed.items
          .filter((key) => key.role === 'owner')
          .map((key) => `${key.name}:${key.team}`)
          .sort(),
        ['blue owner:blue', 'green owner:green'],
      );
    });
  },
);
