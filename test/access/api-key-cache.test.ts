/**
 * The cache of verified API-key lookups behind `authenticate`, on real databases: a hit makes no
 * query, a wrong secret is still refused, a revoked key is refused at once on the replica that
 * revoked it and as soon as the other hears of it, an expired key at its expiry, the "last used"
 * write stays once a minute, and nothing is cached while a replica is not sure it hears the
 * others (on start, and after its subscription is cut).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import type { Kysely, KyselyPlugin } from 'kysely';
import pg from 'pg';
import { createApiKeyService, type ApiKeyService } from '../../src/access/index.js';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { createKeyCache } from '../../src/access/key-cache.js';
import { createTeamNames } from '../../src/registry/index.js';
import {
  createReplication,
  openStore,
  type Database,
  type Replication,
  type Store,
} from '../../src/store/index.js';
import { ManualClock } from '../support/clock.js';
import {
  POSTGRES_ADMIN_URL,
  postgres,
  testDatabases,
  type TestStore,
} from '../support/databases.js';

const system = { actor: SYSTEM_ACTOR };

/** Counts the statements a database handle runs. */
function counted(db: Kysely<Database>): { db: Kysely<Database>; queries: () => number } {
  let count = 0;
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      count += 1;
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  return { db: db.withPlugin(plugin), queries: () => count };
}

async function eventually(limitMs: number, check: () => Promise<boolean>, what: string) {
  const start = performance.now();
  while (!(await check())) {
    assert.ok(performance.now() - start < limitMs, `${what}: not within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Replica {
  keys: ApiKeyService;
  queries: () => number;
  replication: Replication;
  clock: ManualClock;
}

async function replica(store: Store, cacheTtlMs: number): Promise<Replica> {
  const { db, queries } = counted(store.db);
  const clock = new ManualClock();
  const keys = createApiKeyService({
    db,
    clock,
    teams: createTeamNames(),
    notifications: store.notifications,
    cacheTtlMs,
  });
  const replication = createReplication(store.notifications, [keys.replication]);
  await replication.start({ poll: false });
  return { keys, queries, replication, clock };
}

/** How many statements `authenticate` ran, and what it said. */
async function authenticate(on: Replica, key: string) {
  const before = on.queries();
  const actor = await on.keys.authenticate(key);
  return { actor, queries: on.queries() - before };
}

/** Waits until `key` is answered from memory (the replica heard its own probe). */
async function cached(on: Replica, key: string): Promise<void> {
  await eventually(
    5_000,
    async () => {
      const { actor, queries } = await authenticate(on, key);
      assert.ok(actor, 'a valid key is accepted');
      return queries === 0;
    },
    'a cache hit',
  );
}

/** Another well-formed key with the same display prefix as `key` (valid checksum, other secret). */
function lookAlike(key: string): string {
  const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const body = key.slice(0, -7) + (key.at(-7) === 'a' ? 'b' : 'a');
  let value = crc32(body);
  let sum = '';
  for (let i = 0; i < 6; i++) {
    sum = base62.charAt(value % 62) + sum;
    value = Math.floor(value / 62);
  }
  return body + sum;
}

for (const database of await testDatabases()) {
  describe(`API-key lookup cache on ${database.name}`, () => {
    let store: TestStore;
    let one: Replica;
    before(async () => {
      store = await database.open();
      one = await replica(store, 5_000);
    });
    after(async () => {
      await one.replication.stop();
      await store.dispose();
    });

    it('answers a known key from memory, and still refuses wrong secrets', async () => {
      const created = await one.keys.create(system, { name: 'ci', role: 'auditor' });
      await cached(one, created.key);
      const hit = await authenticate(one, created.key);
      assert.equal(hit.queries, 0);
      assert.equal(hit.actor?.ref, `apikey:${created.id}`);
      assert.equal(hit.actor?.role, 'auditor');

      // A well-formed key sharing the cached key's prefix is another key: looked up, refused.
      const forged = lookAlike(created.key);
      assert.notEqual(forged, created.key);
      assert.equal(forged.slice(0, 12), created.key.slice(0, 12));
      const wrong = await authenticate(one, forged);
      assert.equal(wrong.actor, undefined);
      assert.equal(wrong.queries, 1, 'a wrong secret goes to the database');

      // A free-form key (STEWARD_ADMIN_KEY) off by its last character: refused, every time.
      await one.keys.bootstrap('cache-test-admin-key-0123456789abcdef');
      await cached(one, 'cache-test-admin-key-0123456789abcdef');
      for (let i = 0; i < 3; i++) {
        const off = await authenticate(one, 'cache-test-admin-key-0123456789abcdeX');
        assert.equal(off.actor, undefined);
        assert.equal(off.queries, 1);
      }
    });

    it('refuses a revoked key at once, and never caches it again', async () => {
      const created = await one.keys.create(system, { name: 'leaked', role: 'admin' });
      await cached(one, created.key);
      await one.keys.revoke(system, created.id);
      for (let i = 0; i < 3; i++) {
        const refused = await authenticate(one, created.key);
        assert.equal(refused.actor, undefined);
        assert.equal(refused.queries, 1, 'a revoked key is looked up, not cached');
      }
    });

    it('refuses a cached key at its expiry, to the millisecond', async () => {
      const created = await one.keys.create(system, {
        name: 'short',
        role: 'auditor',
        ttlSeconds: 3,
      });
      await cached(one, created.key);
      one.clock.advance(2_999);
      const last = await authenticate(one, created.key);
      assert.ok(last.actor);
      assert.equal(last.queries, 0, 'still the cached entry');
      one.clock.advance(1);
      assert.equal((await authenticate(one, created.key)).actor, undefined);
      assert.equal((await one.keys.get(created.id)).status, 'expired');
    });

    it('reads the key again after the cache lifetime, and keeps "last used" to once a minute', async () => {
      const created = await one.keys.create(system, { name: 'busy', role: 'auditor' });
      const first = await authenticate(one, created.key);
      assert.ok(first.actor);
      const usedAt = (await one.keys.get(created.id)).lastUsedAt;
      assert.ok(usedAt, 'the first use is written');
      await cached(one, created.key);
      one.clock.advance(4_999);
      assert.equal((await authenticate(one, created.key)).queries, 0);
      one.clock.advance(1);
      // Past the lifetime: one SELECT, no write (used less than a minute ago).
      assert.equal((await authenticate(one, created.key)).queries, 1);
      assert.equal((await one.keys.get(created.id)).lastUsedAt, usedAt);
      one.clock.advance(60_000);
      // A minute on: the SELECT and the "last used" write.
      assert.equal((await authenticate(one, created.key)).queries, 2);
      assert.notEqual((await one.keys.get(created.id)).lastUsedAt, usedAt);
    });

    it('caches nothing when the lifetime is 0', async () => {
      const off = await replica(store, 0);
      try {
        const created = await off.keys.create(system, { name: 'uncached', role: 'auditor' });
        for (let i = 0; i < 3; i++) {
          const answer = await authenticate(off, created.key);
          assert.ok(answer.actor);
          assert.ok(answer.queries >= 1);
        }
      } finally {
        await off.replication.stop();
      }
    });
  });
}

describe('API-key lookup cache, alone', () => {
  it('drops a lookup that raced a revocation, and caches nothing before its probe came back', async () => {
    const published: string[] = [];
    const cache = createKeyCache({
      ttlMs: 5_000,
      publish: async (payload) => void published.push(payload),
      onAnnounceFailed: () => {},
    });
    const entry = {
      hash: 'ab'.repeat(32),
      id: 'k1',
      actor: { ref: 'apikey:k1', role: 'admin' as const },
      expiresAt: null,
      lastUsedAt: null,
      cachedAt: 0,
    };
    // Not confirmed yet: nothing is kept.
    cache.put(cache.generation(), entry);
    assert.equal(cache.size(), 0);
    assert.equal(cache.get(entry.hash, 1), undefined);
    await cache.replication.refresh?.();
    const probe = published.find((payload) => payload.startsWith('probe:'));
    assert.ok(probe);
    cache.replication.apply?.('probe:someone-else:0');
    cache.put(cache.generation(), entry);
    assert.equal(cache.size(), 0, "another replica's probe proves nothing");
    cache.replication.apply?.(probe);
    cache.put(cache.generation(), entry);
    assert.equal(cache.get(entry.hash, 1)?.id, 'k1');

    // A lookup read before a revocation landed is not kept.
    const taken = cache.generation();
    cache.replication.apply?.('revoked:k1');
    assert.equal(cache.size(), 0);
    cache.put(taken, entry);
    assert.equal(cache.size(), 0);

    // A lost subscription empties the cache and stops caching until a new probe comes back.
    cache.put(cache.generation(), entry);
    assert.equal(cache.size(), 1);
    cache.replication.lost?.();
    assert.equal(cache.size(), 0);
    cache.replication.apply?.(probe);
    cache.put(cache.generation(), entry);
    assert.equal(cache.size(), 0, 'a probe from before the loss proves nothing');

    // An unknown payload empties it, and is reported.
    assert.throws(() => cache.replication.apply?.('something'));
  });
});

const hasPostgres = (await testDatabases()).some((database) => database.name === 'postgres');

describe(
  'API-key lookup cache across two replicas (postgres)',
  {
    skip: hasPostgres
      ? false
      : 'PostgreSQL is not reachable: the replica tests need it (CI always has it)',
  },
  () => {
    let first: TestStore;
    let second: Store;
    let a: Replica;
    let b: Replica;
    before(async () => {
      first = await postgres.open();
      assert.equal(first.location.kind, 'postgres');
      second = await openStore({ kind: 'postgres', url: first.location.url, poolSize: 2 });
      a = await replica(first, 5_000);
      b = await replica(second, 5_000);
    });
    after(async () => {
      await b.replication.stop();
      await a.replication.stop();
      await second.close();
      await first.dispose();
    });

    it('refuses on one replica a key revoked on the other, as soon as it hears of it', async () => {
      const created = await a.keys.create(system, { name: 'shared', role: 'admin' });
      await cached(a, created.key);
      await cached(b, created.key);
      const revokedAt = performance.now();
      await a.keys.revoke(system, created.id);
      assert.equal((await authenticate(a, created.key)).actor, undefined, 'at once on A');
      // B's clock does not move: only the notification can take the entry out.
      await eventually(
        2_000,
        async () => (await authenticate(b, created.key)).actor === undefined,
        'refused on B',
      );
      const delay = performance.now() - revokedAt;
      assert.ok(delay < 2_000, `refused on B after ${delay.toFixed(0)} ms`);
      const again = await authenticate(b, created.key);
      assert.equal(again.actor, undefined);
      assert.equal(again.queries, 1);
    });

    it('caches nothing from a cut subscription until it hears its own probe again', async () => {
      const created = await a.keys.create(system, { name: 'steady', role: 'auditor' });
      await cached(b, created.key);
      const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await admin.connect();
      try {
        const name = new URL(first.location.kind === 'postgres' ? first.location.url : '');
        const cut = await admin.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and query like 'listen %'`,
          [name.pathname.slice(1)],
        );
        assert.ok((cut.rowCount ?? 0) >= 1, 'the listening connections cut');
      } finally {
        await admin.end();
      }
      // The loss is seen, the cache emptied: lookups go to the database again.
      await eventually(
        5_000,
        async () => (await authenticate(b, created.key)).queries >= 1,
        'the cache emptied on the loss',
      );
      // A revocation made while B may not hear it is still refused on B.
      const other = await a.keys.create(system, { name: 'revoked-in-the-gap', role: 'auditor' });
      assert.ok((await authenticate(b, other.key)).actor);
      await a.keys.revoke(system, other.id);
      await eventually(
        2_000,
        async () => (await authenticate(b, other.key)).actor === undefined,
        'a key revoked around the reconnect refused on B',
      );
      // Reconnected (about a second later), the probe comes back and caching resumes.
      await cached(b, created.key);
    });
  },
);
