/**
 * The SQLite statement cache: every query Kysely sends is prepared once per SQL text and reused,
 * with the same results as preparing afresh; bounded, emptied by a schema change, and never
 * handing out a statement that is still being iterated.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { StoreSqliteDialect } from '../../src/store/sqlite-driver.js';
import { sqlite } from '../support/databases.js';

interface Db {
  t: { id: number; name: string; c?: string | null };
}

function open(capacity?: number) {
  const handle = new SQLite(':memory:');
  const dialect = new StoreSqliteDialect(handle, capacity);
  const db = new Kysely<Db>({ dialect });
  return { db, statements: dialect.statements };
}

async function withTable(capacity?: number) {
  const opened = open(capacity);
  await sql`create table t (id integer primary key, name text not null unique)`.execute(opened.db);
  return opened;
}

describe('SQLite statement cache', () => {
  it('prepares a query once and reuses it, with the same rows as before', async () => {
    const { db, statements } = await withTable();
    for (let i = 0; i < 50; i++)
      await db
        .insertInto('t')
        .values({ id: i, name: `n${i}` })
        .execute();
    const before = statements.stats().prepared;
    for (let i = 0; i < 50; i++) {
      const row = await db
        .selectFrom('t')
        .select(['id', 'name'])
        .where('id', '=', i)
        .executeTakeFirst();
      assert.deepEqual(row, { id: i, name: `n${i}` });
    }
    assert.equal(statements.stats().prepared - before, 1, 'one prepare for 50 selects');
    assert.ok(statements.stats().reused >= 49 + 49);
    await db.destroy();
  });

  it('runs statements that return no rows, and reads those that do (returning)', async () => {
    const { db } = await withTable();
    for (let i = 0; i < 3; i++) {
      const inserted = await db
        .insertInto('t')
        .values({ id: i, name: `x${i}` })
        .executeTakeFirst();
      assert.equal(inserted.numInsertedOrUpdatedRows, 1n);
      assert.equal(inserted.insertId, BigInt(i));
      const updated = await db
        .updateTable('t')
        .set({ name: `y${i}` })
        .where('id', '=', i)
        .returning(['id', 'name'])
        .execute();
      assert.deepEqual(updated, [{ id: i, name: `y${i}` }]);
      const deleted = await db.deleteFrom('t').where('id', '=', i).executeTakeFirst();
      assert.equal(deleted.numDeletedRows, 1n);
    }
    await db.destroy();
  });

  it('keeps at most its capacity, dropping the least recently used', async () => {
    const { db, statements } = await withTable(3);
    const q = (n: number) => sql`select ${sql.lit(n)} as n`.execute(db);
    await q(1);
    await q(2);
    await q(3);
    await q(1); // 1 is now the most recent: 2 is the oldest
    await q(4); // drops 2
    assert.equal(statements.stats().size, 3);
    const before = statements.stats().prepared;
    await q(1);
    await q(3);
    await q(4);
    assert.equal(statements.stats().prepared, before, '1, 3 and 4 were kept');
    await q(2);
    assert.equal(statements.stats().prepared, before + 1, '2 was dropped');
    await db.destroy();
  });

  it('forgets every statement on a schema change: a select * sees the new column', async () => {
    const { db, statements } = await withTable();
    await db.insertInto('t').values({ id: 1, name: 'a' }).execute();
    const all = () => db.selectFrom('t').selectAll().execute();
    assert.deepEqual(await all(), [{ id: 1, name: 'a' }]);
    await sql`alter table t add column c text default 'z'`.execute(db);
    assert.equal(statements.stats().size, 0);
    assert.deepEqual(await all(), [{ id: 1, name: 'a', c: 'z' }]);
    await sql`drop table t`.execute(db);
    await assert.rejects(all(), /no such table/);
    await db.destroy();
  });

  it('never hands out a statement that is still being iterated', async () => {
    const { db, statements } = await withTable();
    for (let i = 0; i < 5; i++)
      await db
        .insertInto('t')
        .values({ id: i, name: `n${i}` })
        .execute();
    // Kysely's stream holds the one connection, so the cache is driven directly here.
    const text = 'select id from t order by id';
    const streamed = statements.prepare(text);
    const seen: unknown[] = [];
    for (const row of streamed.iterate([])) {
      seen.push(row);
      const again = statements.prepare(text);
      assert.notEqual(again, streamed, 'a busy statement was handed out');
      assert.equal(again.all([]).length, 5);
    }
    assert.equal(seen.length, 5);
    // Once the iteration is over, the kept statement is served again.
    assert.equal(statements.prepare(text), streamed);
    const rows = await db.selectFrom('t').select('id').orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => r.id),
      [0, 1, 2, 3, 4],
    );
    await db.destroy();
  });

  it('a failed statement can run again, and a failed transaction leaves nothing behind', async () => {
    const { db } = await withTable();
    await db.insertInto('t').values({ id: 1, name: 'a' }).execute();
    await assert.rejects(db.insertInto('t').values({ id: 2, name: 'a' }).execute(), /UNIQUE/);
    await db.insertInto('t').values({ id: 2, name: 'b' }).execute();
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: 3, name: 'c' }).execute();
        await trx.insertInto('t').values({ id: 4, name: 'a' }).execute();
      }),
      /UNIQUE/,
    );
    const rows = await db.selectFrom('t').select('id').orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => r.id),
      [1, 2],
    );
    await db.destroy();
  });
});

describe('the SQLite store uses the statement cache', () => {
  // The real method, called through: the spy only counts.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = SQLite.prototype.prepare;
  after(() => {
    SQLite.prototype.prepare = original;
  });

  it('prepares each of its statements once, whatever the number of calls', async () => {
    const store = await sqlite.open();
    let prepares = 0;
    SQLite.prototype.prepare = function (this: SQLite.Database, source: string) {
      prepares += 1;
      return original.call(this, source);
    } as typeof original;
    try {
      for (let i = 0; i < 20; i++) {
        await store.ping();
        await store.probeWrite(new Date(i * 1000).toISOString());
        await store.db.transaction().execute(async (trx) => {
          await trx.selectFrom('meta').select('value').where('key', '=', 'write_probe').execute();
        });
      }
    } finally {
      SQLite.prototype.prepare = original;
    }
    // ping, the probe's upsert, begin, the select, commit: five texts, each prepared once.
    assert.ok(prepares <= 5, `${prepares} prepares for 100 statements`);
    const probe = await store.db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', 'write_probe')
      .executeTakeFirst();
    assert.equal(probe?.value, new Date(19_000).toISOString());
    await store.dispose();
  });
});
