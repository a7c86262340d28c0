/**
 * identity-create: identities created per second through the domain code path, against a raw
 * INSERT of an equivalent row on the same database in the same run.
 *
 * Subject: `core.identities.create`, which in one transaction loads the service and its team,
 * checks the actor and the environment admission, checks for an existing SPIFFE ID, inserts the
 * row and appends the audit event. Baseline: one `insertInto('identities')` through the same Kysely
 * instance, autocommit. The ratio is the price of the domain rules and the change record over the
 * bare write.
 *
 * A third case splits that price: the same two rows (identity and audit event) written raw in one
 * transaction, so core / that case is the cost of the domain's reads and checks alone, and that
 * case / raw INSERT the cost of the second row (with its indexes) and the transaction.
 *
 * The raw cases insert copies of rows the domain code wrote (new ids, paths and times), so they
 * write the same columns and values as the subject, whatever columns later migrations add.
 */
import type { Insertable } from 'kysely';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { isoTime, systemClock } from '../../src/shared/clock.js';
import { newId } from '../../src/shared/ids.js';
import type { Database } from '../../src/store/index.js';
import { benchCore } from '../harness/core.js';
import { measureInterleaved } from '../harness/measure.js';
import type { Scenario } from '../harness/scenario.js';

const SERVICE = 'bench-agent';

const CORE = 'core.identities.create';
const RAW = 'raw INSERT';
const RAW_WITH_AUDIT = 'raw INSERT + audit row, 1 tx';

export const identityCreate: Scenario = {
  name: 'identity-create',
  summary: 'core.identities.create (transaction + audit event) vs a raw INSERT of the same row',
  usesDatabase: true,
  async run(context) {
    const store = await context.openStore();
    const core = benchCore(store);
    const system = { actor: SYSTEM_ACTOR };
    await core.teams.create(system, {
      name: 'bench',
      contact: 'bench@example.com',
      escalation: '+1-555-0100',
    });
    await core.services.create(system, {
      name: SERVICE,
      team: 'bench',
      dataClassification: 'internal',
    });
    const created = await core.identities.create(system, {
      service: SERVICE,
      environment: 'sandbox',
      agentPath: 'template',
    });
    const identityTemplate = await store.db
      .selectFrom('identities')
      .selectAll()
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    const { seq: _seq, ...auditTemplate } = await store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_id', '=', created.id)
      .executeTakeFirstOrThrow();

    // Ids and times are made per call, as the domain path makes them.
    const rows = (prefix: string, call: number) => {
      const now = systemClock.now();
      const agentPath = `${prefix}/agent-${call}`;
      const identity: Insertable<Database['identities']> = {
        ...identityTemplate,
        id: newId(now),
        agent_path: agentPath,
        spiffe_id: `spiffe://${core.trustDomain}/sandbox/${SERVICE}/${agentPath}`,
        created_at: isoTime(now),
        updated_at: isoTime(now),
      };
      const audit: Insertable<Database['audit_events']> = {
        ...auditTemplate,
        id: newId(now),
        occurred_at: isoTime(now),
        target_id: identity.id,
        identity_id: identity.id,
      };
      return { identity, audit };
    };

    // 10,000 samples put 100 of them above the p99, enough for it to settle between runs; a
    // PostgreSQL commit waits for the WAL flush, so there a run takes tens of seconds.
    const iterations = context.iterations(10_000);
    const warmup = Math.max(100, Math.round(iterations / 10));
    context.log(`${warmup} warm-up + ${iterations} measured calls per case, interleaved`);

    const measurements = await measureInterleaved(
      [
        {
          label: CORE,
          run: (call) =>
            core.identities.create(system, {
              service: SERVICE,
              environment: 'sandbox',
              agentPath: `core/agent-${call}`,
            }),
        },
        {
          label: RAW,
          run: (call) =>
            store.db.insertInto('identities').values(rows('raw', call).identity).execute(),
        },
        {
          label: RAW_WITH_AUDIT,
          run: (call) =>
            store.db.transaction().execute(async (trx) => {
              const { identity, audit } = rows('tx', call);
              await trx.insertInto('identities').values(identity).execute();
              await trx.insertInto('audit_events').values(audit).execute();
            }),
        },
      ],
      { warmup, iterations, onProgress: (done) => context.log(`${Math.round(done * 100)}%`) },
    );

    const { count } = await store.db
      .selectFrom('identities')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return {
      measurements,
      comparisons: [
        { subject: CORE, baseline: RAW },
        { subject: CORE, baseline: RAW_WITH_AUDIT },
        { subject: RAW_WITH_AUDIT, baseline: RAW },
      ],
      details: { identitiesAtEnd: count, concurrency: 1 },
    };
  },
};
