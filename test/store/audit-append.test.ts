/**
 * The audit trail's batch append (`Store.appendAuditEvents`), on every database: the rows read
 * back are exactly the rows given, whatever their text holds, in one transaction, all or nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEventRow } from '../../src/store/index.js';
import { testDatabases, type TestStore } from '../support/databases.js';

const databases = await testDatabases();

/** Text that array literals, JSON and UTF-8 each have to take care of. */
const AWKWARD = [
  'plain',
  'with "quotes", commas, {braces} and \\backslashes\\',
  'NULL',
  '',
  'line\nbreak\ttab',
  'ünïcödé ✓ 🐢',
  '\\ud800 as text',
  "it's",
];

function row(i: number, text: string): AuditEventRow {
  return {
    id: `evt_append_${i}`,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60, i % 1000)).toISOString(),
    type: 'gateway.call',
    actor: `workload:${text}`,
    actor_role: 'workload',
    request_id: i % 2 === 0 ? `req-${i}` : null,
    client_request_id: i % 3 === 0 ? text : null,
    target_kind: 'upstream',
    target_id: text,
    team: i % 4 === 0 ? null : 'payments',
    service: 'refund-agent',
    identity_id: i % 5 === 0 ? null : `id_${i}`,
    before: null,
    after: JSON.stringify({ text, i, nested: { list: [text, null, i] } }),
  };
}

const COLUMNS = [
  'id',
  'occurred_at',
  'type',
  'actor',
  'actor_role',
  'request_id',
  'client_request_id',
  'target_kind',
  'target_id',
  'team',
  'service',
  'identity_id',
  'before',
  'after',
] as const;

async function readBack(store: TestStore, prefix: string) {
  return store.db
    .selectFrom('audit_events')
    .select(COLUMNS)
    .where('id', 'like', `${prefix}%`)
    .orderBy('seq')
    .execute();
}

for (const database of databases) {
  describe(`audit batch append on ${database.name}`, () => {
    let store: TestStore;
    before(async () => {
      store = await database.open();
    });
    after(async () => {
      await store?.dispose();
    });

    it('writes every row as given, in order, whatever the text holds', async () => {
      const rows = Array.from({ length: 300 }, (_, i) => row(i, AWKWARD[i % AWKWARD.length] ?? ''));
      await store.appendAuditEvents(rows.slice(0, 1));
      await store.appendAuditEvents(rows.slice(1, 17));
      await store.appendAuditEvents(rows.slice(17));
      await store.appendAuditEvents([]);
      assert.deepEqual(await readBack(store, 'evt_append_'), rows);
    });

    it('stores a lone surrogate as replacement characters and fails nothing', async () => {
      const lone = row(1000, 'a\ud800b');
      lone.id = 'evt_lone_1';
      lone.after = `{"raw":"x\udc00y"}`;
      const paired = row(1001, 'pair 🐢');
      paired.id = 'evt_lone_2';
      await store.appendAuditEvents([lone, paired]);
      const [first, second] = await readBack(store, 'evt_lone_');
      // PostgreSQL: one U+FFFD, as node-pg's UTF-8 encoding of a plain parameter always stored.
      // SQLite keeps the surrogate's three bytes, each read back as one U+FFFD.
      const replaced = database.name === 'postgres' ? '\ufffd' : '\ufffd\ufffd\ufffd';
      assert.equal(first?.target_id, `a${replaced}b`);
      assert.equal(first?.actor, `workload:a${replaced}b`);
      assert.equal(first?.after, `{"raw":"x${replaced}y"}`);
      assert.equal(second?.target_id, 'pair 🐢');
    });

    it('is all or nothing: a batch with one bad row writes none, and the next batch works', async () => {
      const taken = row(2000, 'first');
      taken.id = 'evt_all_taken';
      await store.appendAuditEvents([taken]);
      const fresh = row(2001, 'fresh');
      fresh.id = 'evt_all_fresh';
      await assert.rejects(store.appendAuditEvents([fresh, { ...taken }]));
      assert.deepEqual(
        (await readBack(store, 'evt_all_')).map((r) => r.id),
        ['evt_all_taken'],
      );
      assert.equal(store.writesFailing(), false, 'a constraint violation is the database working');
      for (let i = 0; i < 12; i++) {
        const next = row(2100 + i, 'again');
        next.id = `evt_all_next_${i}`;
        await store.appendAuditEvents([next]);
      }
      assert.equal((await readBack(store, 'evt_all_next_')).length, 12);
    });
  });
}
