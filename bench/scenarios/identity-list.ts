/**
 * identity-list: latency of one page of `core.identities.list({ limit: 50, cursor })` with 1,000
 * and with 100,000 identities in the table.
 *
 * Keyset pagination seeks to the cursor through the primary-key index, so a page should cost the
 * same wherever it starts and however large the table is: the ratio p99(100k) / p99(1k) should
 * stay near 1. Pages start at random positions spread across each table (the same seeded
 * positions on every run), not only at the front where any scheme is fast. For contrast the same
 * pages are also fetched with LIMIT/OFFSET at 100k, which reads and discards every row before the
 * page; that contrast runs after the keyset measurement (see below why not interleaved).
 *
 * The two sizes live in two databases built in the same run, so that their pages can be measured
 * interleaved rather than one size before the other: on a shared machine, load that comes and
 * goes during the run then falls on both alike.
 */
import { sql, type Kysely } from 'kysely';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import type { Core } from '../../src/server/core.js';
import { isoTime, systemClock } from '../../src/shared/clock.js';
import { encodeCursor } from '../../src/shared/cursor.js';
import { newId } from '../../src/shared/ids.js';
import type { Database } from '../../src/store/index.js';
import { benchCore } from '../harness/core.js';
import { measureInterleaved } from '../harness/measure.js';
import { randomInt, seededRandom } from '../harness/random.js';
import type { Scenario } from '../harness/scenario.js';

const PAGE = 50;
const SMALL = 1_000;
const LARGE = 100_000;
const SERVICES = 10;
/** Rows per INSERT statement (15 columns: well under both engines' bound-parameter limits). */
const ROWS_PER_INSERT = 500;
/** Rows per transaction while seeding: large enough to be fast, small enough to stay modest. */
const ROWS_PER_TRANSACTION = 10_000;
/** Distinct page positions per table; calls cycle through them. */
const POSITIONS = 1_000;
const SEED = 0x5eed;

const KEYSET_SMALL = 'keyset page @ 1k';
const KEYSET_LARGE = 'keyset page @ 100k';
const OFFSET_LARGE = 'OFFSET page @ 100k';

interface Table {
  readonly core: Core;
  /** Cursors that start pages at random positions, and the OFFSET of the same pages. */
  readonly cursors: readonly string[];
  readonly offsets: readonly number[];
  readonly seedSeconds: number;
}

export const identityList: Scenario = {
  name: 'identity-list',
  summary:
    'keyset page of 50 identities at 1k vs 100k rows (p99 should stay flat), OFFSET contrast',
  usesDatabase: true,
  async run(context) {
    const random = seededRandom(SEED);
    const build = async (size: number): Promise<Table> => {
      const store = await context.openStore();
      const core = benchCore(store);
      const started = performance.now();
      await seed(core, size);
      // PostgreSQL's autovacuum would gather statistics on the new rows within a minute or so;
      // doing it now measures that steady state rather than the planner's guesses before it.
      if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);
      const seedSeconds = (performance.now() - started) / 1000;
      context.log(`${size.toLocaleString('en-US')} identities in ${seedSeconds.toFixed(1)} s`);
      const ids = (
        await store.db.selectFrom('identities').select('id').orderBy('id').execute()
      ).map((row) => row.id);
      const cursors: string[] = [];
      const offsets: number[] = [];
      for (let i = 0; i < POSITIONS; i++) {
        // A page after row p: rows p+1 … p+50, always a full page.
        const p = randomInt(random, size - PAGE);
        cursors.push(encodeCursor(ids[p] ?? ''));
        offsets.push(p + 1);
      }
      return { core, cursors, offsets, seedSeconds };
    };
    const small = await build(SMALL);
    const large = await build(LARGE);

    const offsetPage = (db: Kysely<Database>, offset: number) =>
      // The list's own query (same joins, columns and order) with OFFSET in place of the cursor.
      db
        .selectFrom('identities')
        .innerJoin('services', 'services.id', 'identities.service_id')
        .innerJoin('teams', 'teams.id', 'services.team_id')
        .selectAll('identities')
        .select(['services.name as service_name', 'teams.name as team_name'])
        .orderBy('identities.id')
        .limit(PAGE + 1)
        .offset(offset)
        .execute();

    // Both ways must fetch the same rows, or the contrast would compare different work.
    const keysetIds = (
      await large.core.identities.list({ limit: PAGE, cursor: large.cursors[0] })
    ).items.map((identity) => identity.id);
    const offsetIds = (await offsetPage(large.core.store.db, large.offsets[0] ?? 0))
      .slice(0, PAGE)
      .map((row) => row.id);
    if (keysetIds.length !== PAGE || keysetIds.join() !== offsetIds.join()) {
      throw new Error('keyset and OFFSET pages differ; the scenario is measuring different work');
    }

    // 10,000 pages per size put 100 samples above the p99.
    const iterations = context.iterations(10_000);
    const warmup = Math.max(100, Math.round(iterations / 10));
    const at = (list: readonly string[], call: number) => list[call % list.length];
    const progress = (done: number) => context.log(`${Math.round(done * 100)}%`);
    context.log(`keyset: ${warmup} warm-up + ${iterations} measured pages per size, interleaved`);
    const keyset = await measureInterleaved(
      [
        {
          label: KEYSET_SMALL,
          run: (call) =>
            small.core.identities.list({ limit: PAGE, cursor: at(small.cursors, call) }),
        },
        {
          label: KEYSET_LARGE,
          run: (call) =>
            large.core.identities.list({ limit: PAGE, cursor: at(large.cursors, call) }),
        },
      ],
      { warmup, iterations, onProgress: progress },
    );

    // OFFSET pages come after, not interleaved: each one reads half the large table on average,
    // evicting from the cache the pages the next keyset call would find there. Mixed in, they
    // tripled the keyset p99 at 100k in one SQLite run, measuring themselves rather than keyset
    // pagination. They cost tens of milliseconds, so they take a twentieth of the samples.
    const slow = Math.max(50, Math.round(iterations / 20));
    context.log(`OFFSET: ${Math.min(warmup, 20)} warm-up + ${slow} measured pages`);
    const offset = await measureInterleaved(
      [
        {
          label: OFFSET_LARGE,
          run: (call) =>
            offsetPage(large.core.store.db, large.offsets[call % large.offsets.length] ?? 0),
        },
      ],
      { warmup: Math.min(warmup, 20), iterations: slow, onProgress: progress },
    );
    const measurements = [...keyset, ...offset];

    return {
      measurements,
      comparisons: [
        {
          subject: KEYSET_LARGE,
          baseline: KEYSET_SMALL,
          goal: { metric: 'p99', atMost: 1.5, text: 'p99 at 100k at most 1.5x p99 at 1k (flat)' },
        },
        { subject: OFFSET_LARGE, baseline: KEYSET_LARGE },
      ],
      details: {
        pageSize: PAGE,
        smallRows: SMALL,
        largeRows: LARGE,
        distinctPositions: POSITIONS,
        seedSecondsSmall: Math.round(small.seedSeconds * 10) / 10,
        seedSecondsLarge: Math.round(large.seedSeconds * 10) / 10,
      },
    };
  },
};

/**
 * Fills the registry with `size` identities spread over a few services: the team and services go
 * through the domain code, the identities through multi-row INSERTs in large transactions
 * (without audit events, which listing never reads), so that 100,000 rows take seconds.
 */
async function seed(core: Core, size: number): Promise<void> {
  const system = { actor: SYSTEM_ACTOR };
  await core.teams.create(system, {
    name: 'bench',
    contact: 'bench@example.com',
    escalation: '+1-555-0100',
  });
  const services: { id: string; name: string }[] = [];
  for (let s = 0; s < SERVICES; s++) {
    services.push(
      await core.services.create(system, {
        name: `bench-agent-${s}`,
        team: 'bench',
        dataClassification: 'internal',
      }),
    );
  }
  // Rows are copies of one the domain code wrote, so every column holds what it would hold,
  // whatever columns later migrations add; the first identity is that template itself.
  const first = await core.identities.create(system, {
    service: `bench-agent-0`,
    environment: 'sandbox',
    agentPath: 'worker/agent-0',
  });
  const template = await core.store.db
    .selectFrom('identities')
    .selectAll()
    .where('id', '=', first.id)
    .executeTakeFirstOrThrow();
  for (let start = 1; start < size; start += ROWS_PER_TRANSACTION) {
    const end = Math.min(size, start + ROWS_PER_TRANSACTION);
    await core.store.db.transaction().execute(async (trx) => {
      for (let first = start; first < end; first += ROWS_PER_INSERT) {
        const rows: (typeof template)[] = [];
        for (let n = first; n < Math.min(end, first + ROWS_PER_INSERT); n++) {
          const service = services[n % SERVICES];
          if (!service) throw new Error('no service');
          const now = systemClock.now();
          const agentPath = `worker/agent-${n}`;
          rows.push({
            ...template,
            id: newId(now),
            service_id: service.id,
            agent_path: agentPath,
            spiffe_id: `spiffe://${core.trustDomain}/sandbox/${service.name}/${agentPath}`,
            description: `bench identity ${n}`,
            created_at: isoTime(now),
            updated_at: isoTime(now),
          });
        }
        await trx.insertInto('identities').values(rows).execute();
      }
    });
  }
}
