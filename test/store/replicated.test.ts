/**
 * The replicated cache: a copy filled on start, refreshed on notification and by its poll, with
 * every failure on the way reported and counted, never dropped; on PostgreSQL, a notification
 * from one replica reaches another, and a lost subscription is reported once and recovers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import {
  createReplication,
  openStore,
  type ReplicatedCache,
  type ReplicationFailure,
  type Store,
} from '../../src/store/index.js';
import { POSTGRES_ADMIN_URL, testDatabases, type TestStore } from '../support/databases.js';

const CHANNEL = 'steward_replicated_test';
const REFRESHED = 'steward_replicated_refresh';
const APPLIED = 'steward_replicated_apply';

/** Resolves once `check` holds, polling every 10 ms; fails after `limitMs`. */
async function eventually(limitMs: number, check: () => boolean, what: string): Promise<void> {
  const start = performance.now();
  while (!check()) {
    assert.ok(performance.now() - start < limitMs, `${what}: not within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until `store` hears its own notifications on `channel` (on PostgreSQL the listening
 * connection comes up in the background), then until every probe has arrived.
 */
async function listening(store: Store, channel: string): Promise<void> {
  const heard = new Set<string>();
  const stop = store.notifications.subscribe(channel, (payload) => heard.add(payload));
  try {
    const start = performance.now();
    while (!heard.has('probe')) {
      assert.ok(performance.now() - start < 5_000, `${channel}: not listening within 5 s`);
      await store.notifications.publish(channel, 'probe');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Notifications arrive in commit order: after this one, no probe is on its way.
    await store.notifications.publish(channel, 'fence');
    await eventually(5_000, () => heard.has('fence'), `${channel}: the fence`);
  } finally {
    stop();
  }
}

for (const database of await testDatabases()) {
  describe(`replicated caches on ${database.name}`, () => {
    let store: TestStore;
    before(async () => {
      store = await database.open();
      for (const channel of [REFRESHED, APPLIED]) await listening(store, channel);
    });
    after(async () => {
      await store?.dispose();
    });

    it('fills the copy on start, refreshes it on notification; a failed refresh is reported and counted, and the next one runs', async () => {
      let healthy = true;
      let refreshes = 0;
      const cache: ReplicatedCache = {
        name: 'widgets',
        channel: REFRESHED,
        async refresh() {
          refreshes += 1;
          // A real query, refused by the real database, when the copy's table is "gone".
          await sql`select 1 from ${sql.table(healthy ? 'meta' : 'no_such_table')}`.execute(
            store.db,
          );
        },
      };
      const failures: ReplicationFailure[] = [];
      const replication = createReplication(store.notifications, [cache]);
      await replication.start({ poll: false, onFailure: (failure) => failures.push(failure) });
      try {
        assert.equal(refreshes, 1, 'filled once on start');
        assert.deepEqual(replication.failures(), {
          refresh: new Map([['widgets', 0]]),
          subscriptionsLost: 0,
          announce: new Map([[REFRESHED, 0]]),
        });

        healthy = false;
        await store.notifications.publish(REFRESHED, 'changed');
        await eventually(5_000, () => failures.length === 1, 'the failure reported');
        assert.equal(refreshes, 2);
        const [failure] = failures;
        assert.ok(failure?.kind === 'refresh');
        assert.equal(failure.cache, 'widgets');
        assert.match(String(failure.error), /no_such_table/);
        assert.equal(replication.failures().refresh.get('widgets'), 1);

        healthy = true;
        await store.notifications.publish(REFRESHED, 'changed');
        await eventually(5_000, () => refreshes === 3, 'the next refresh');
        await replication.stop();
        assert.equal(failures.length, 1, 'a good refresh reports nothing');
        assert.equal(replication.failures().refresh.get('widgets'), 1);
      } finally {
        await replication.stop();
      }
    });

    it('applies what a notification carries; one it cannot apply is reported and counted', async () => {
      const applied: string[] = [];
      const failures: ReplicationFailure[] = [];
      const replication = createReplication(store.notifications, [
        {
          name: 'names',
          channel: APPLIED,
          apply(payload) {
            if (payload === 'garbled') throw new Error('not a name');
            applied.push(payload);
          },
        },
      ]);
      await replication.start({ poll: false, onFailure: (failure) => failures.push(failure) });
      try {
        await store.notifications.publish(APPLIED, 'garbled');
        await store.notifications.publish(APPLIED, 'crm-key');
        await eventually(5_000, () => applied.length === 1, 'the good payload applied');
        assert.deepEqual(applied, ['crm-key']);
        assert.equal(failures.length, 1);
        assert.match(String(failures[0]?.error), /not a name/);
        assert.equal(replication.failures().refresh.get('names'), 1);
      } finally {
        await replication.stop();
      }
    });

    it('a failure on start is thrown, not reported: the process must not serve without its copy', async () => {
      const replication = createReplication(store.notifications, [
        {
          name: 'broken',
          channel: CHANNEL,
          refresh: () => sql`select 1 from no_such_table`.execute(store.db),
        },
      ]);
      const failures: ReplicationFailure[] = [];
      try {
        await assert.rejects(
          replication.start({ poll: false, onFailure: (failure) => failures.push(failure) }),
          /no_such_table/,
        );
        assert.deepEqual(failures, []);
      } finally {
        await replication.stop();
      }
    });
  });
}

describe('replicated cache refreshes', () => {
  const store = { notifications: localOnly() };

  it('poll only with `poll`, every `pollMs`; a poll never overlaps a running refresh', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let refreshes = 0;
      let release: (() => void) | undefined;
      const replication = createReplication(store.notifications, [
        {
          name: 'slow',
          channel: CHANNEL,
          pollMs: 1_000,
          refresh: () => {
            refreshes += 1;
            return refreshes === 1 ? Promise.resolve() : new Promise<void>((r) => (release = r));
          },
        },
      ]);
      await replication.start({ poll: true });
      assert.equal(refreshes, 1);
      mock.timers.tick(999);
      assert.equal(refreshes, 1);
      mock.timers.tick(1);
      assert.equal(refreshes, 2, 'polled after 1 s');
      mock.timers.tick(3_000);
      assert.equal(refreshes, 2, 'no poll while the last one runs');
      release?.();
      await new Promise((resolve) => setImmediate(resolve));
      mock.timers.tick(1_000);
      assert.equal(refreshes, 3);
      release?.();
      await replication.stop();
      mock.timers.tick(5_000);
      assert.equal(refreshes, 3, 'no poll after stop');

      const quiet = createReplication(store.notifications, [
        {
          name: 'quiet',
          channel: CHANNEL,
          pollMs: 1_000,
          refresh: async () => {
            refreshes += 1;
          },
        },
      ]);
      await quiet.start({ poll: false });
      mock.timers.tick(5_000);
      assert.equal(refreshes, 4, 'filled on start, never polled');
      await quiet.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it('a notification during a refresh is followed by one more refresh, however many arrive', async () => {
    let refreshes = 0;
    const releases: (() => void)[] = [];
    const replication = createReplication(store.notifications, [
      {
        name: 'queued',
        channel: CHANNEL,
        refresh: () => {
          refreshes += 1;
          if (refreshes === 1) return Promise.resolve();
          return new Promise<void>((r) => releases.push(r));
        },
      },
    ]);
    await replication.start({ poll: false });
    try {
      await store.notifications.publish(CHANNEL, 'a');
      await eventually(1_000, () => refreshes === 2, 'the refresh on notification');
      for (const payload of ['b', 'c', 'd']) await store.notifications.publish(CHANNEL, payload);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(refreshes, 2, 'nothing runs beside the running refresh');
      releases.shift()?.();
      await eventually(1_000, () => refreshes === 3, 'one more refresh after it');
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(refreshes, 3);
    } finally {
      for (const release of releases) release();
      await replication.stop();
    }
  });

  it('refuses a cache it could not keep: no way to refresh, a poll without a refresh, a name twice', () => {
    const notifications = store.notifications;
    assert.throws(
      () => createReplication(notifications, [{ name: 'x', channel: CHANNEL }]),
      /neither refresh nor apply/,
    );
    assert.throws(
      () =>
        createReplication(notifications, [{ name: 'x', channel: CHANNEL, apply() {}, pollMs: 5 }]),
      /polls without a refresh/,
    );
    const twice = { name: 'x', channel: CHANNEL, apply() {} };
    assert.throws(() => createReplication(notifications, [twice, twice]), /listed twice/);
  });
});

/** The notifications of one SQLite process, without a database: the refresh tests need none. */
function localOnly(): Store['notifications'] {
  const handlers = new Map<string, Set<(payload: string) => void>>();
  return {
    async publish(channel, payload) {
      queueMicrotask(() => {
        for (const handler of handlers.get(channel) ?? []) handler(payload);
      });
    },
    subscribe(channel, handler) {
      const set = handlers.get(channel) ?? new Set();
      handlers.set(channel, set.add(handler));
      return () => set.delete(handler);
    },
    onLost: () => () => {},
    async close() {},
  };
}

const withPostgres = (await testDatabases()).some((database) => database.name === 'postgres');

describe(
  'replicated caches across replicas',
  { skip: !withPostgres && 'PostgreSQL not reachable' },
  () => {
    let a: TestStore;
    let b: Store;

    before(async () => {
      const [, postgres] = await testDatabases();
      assert.ok(postgres);
      a = await postgres.open();
      assert.equal(a.location.kind, 'postgres');
      b = await openStore({
        kind: 'postgres',
        url: a.location.kind === 'postgres' ? a.location.url : '',
        poolSize: 2,
      });
    });
    after(async () => {
      await b?.close();
      await a?.dispose();
    });

    it("a notification from one replica reaches the other's cache; a lost subscription is reported once, and notifications flow again", async () => {
      const applied: string[] = [];
      const failures: ReplicationFailure[] = [];
      const replication = createReplication(b.notifications, [
        { name: 'names', channel: CHANNEL, apply: (payload) => void applied.push(payload) },
      ]);
      await replication.start({ poll: false, onFailure: (failure) => failures.push(failure) });
      try {
        // B's LISTEN connection comes up in the background: publish until it hears.
        await eventually(
          5_000,
          () => {
            void a.notifications.publish(CHANNEL, 'first');
            return applied.includes('first');
          },
          'a notification from A on B',
        );

        // Cut B's listening connection from the server side, as a failover or a restart would.
        const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
        await admin.connect();
        try {
          const database = new URL(a.location.kind === 'postgres' ? a.location.url : '').pathname;
          const cut = await admin.query(
            `select pg_terminate_backend(pid) from pg_stat_activity
            where datname = $1 and query like 'listen %'`,
            [database.slice(1)],
          );
          assert.equal(cut.rowCount, 1, 'one listening connection');
        } finally {
          await admin.end();
        }
        await eventually(5_000, () => failures.length > 0, 'the lost subscription reported');
        assert.equal(failures[0]?.kind, 'subscription');

        applied.length = 0;
        await eventually(
          10_000,
          () => {
            void a.notifications.publish(CHANNEL, 'again');
            return applied.includes('again');
          },
          'notifications after the reconnect',
        );
        assert.equal(failures.length, 1, 'one loss, one report');
        assert.equal(replication.failures().subscriptionsLost, 1);
        assert.equal(replication.failures().refresh.get('names'), 0);
      } finally {
        await replication.stop();
      }
    });
  },
);
