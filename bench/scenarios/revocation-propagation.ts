/**
 * revocation-propagation: how long a revocation made on one replica takes to be enforced by
 * another, on PostgreSQL, from the start of the revoke call to the first refusal.
 *
 * Two real replicas, A and B: two `up()` servers (configuration through `loadConfig`, port 0, one
 * issuer, one master key), each with its own store, connection pool, LISTEN connection and
 * background jobs, on one fresh database. Real servers rather than two bare cores because that
 * is what runs in production, jobs included (the 1 s revocation poll, the key and task jobs), at
 * no cost to the measurement: HTTP is not on the measured path, which is the revocation list, its
 * notifications and its poll, all in the core.
 *
 * Per sample: a token is minted on A (the minter, in a transaction, with its inventory row) and
 * verified on B, which caches it; after a short random pause, A revokes it
 * (`core.revoker.revoke`, kind `token`: the transaction, then `pg_notify`) while B's verifier is
 * called in a tight loop, once per `setImmediate` turn, so that the figure is the notification's
 * latency and not a polling interval of the bench. The sample ends at B's first `token_revoked`.
 *
 * Fallback: then B's notification connection is closed (as if LISTEN had been lost and not yet
 * re-established) and the same is measured again with only B's 1 s poll job to bring the
 * revocation. Those samples each wait up to a second, so there are fewer of them, and each one
 * starts after a random pause of up to a second so that revocations fall at every point of the
 * poll's cycle instead of always just after the poll that found the previous one.
 */
import { randomBytes } from 'node:crypto';
import { SYSTEM_ACTOR, type ChangeContext } from '../../src/actors/index.js';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { createMinter, STEWARD_AUDIENCE, TokenError } from '../../src/tokens/index.js';
import { benchWorkload } from '../harness/core.js';
import { postgresUrlOf } from '../harness/databases.js';
import type { Measured } from '../harness/measure.js';
import { seededRandom } from '../harness/random.js';
import type { Scenario } from '../harness/scenario.js';
import { summarize, type Stats } from '../harness/stats.js';

const NOTIFY = 'revoke on A → refused on B (LISTEN/NOTIFY)';
const REVOKE_CALL = 'revoke call on A (commit + pg_notify)';
const POLL = 'revoke on A → refused on B (poll only)';

/** A sample that has not propagated after this long fails the scenario. */
const GIVE_UP_MS = 5_000;
const SEED = 0x7e70c;

const microseconds = (ns: number) => Math.round(ns / 10) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise((resolve) => setImmediate(resolve));

export const revocationPropagation: Scenario = {
  name: 'revocation-propagation',
  summary: 'revoke on replica A until replica B refuses the token: p50/p99, LISTEN/NOTIFY and poll',
  usesDatabase: true,
  databases: ['postgres'],
  async run(context) {
    // A fresh, migrated database from the harness (which drops it at the end); the replicas
    // open their own connections to it, as two `steward up` processes would.
    const store = await context.openStore();
    const env = {
      STEWARD_PORT: '0',
      DATABASE_URL: await postgresUrlOf(store),
      STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
      STEWARD_ADMIN_KEY: `bench-admin-${randomBytes(16).toString('hex')}`,
      STEWARD_LOG_LEVEL: 'silent',
      // Behind one load balancer both replicas are the same issuer.
      STEWARD_ISSUER: 'http://steward.bench',
    };
    const replicas: RunningSteward[] = [];
    try {
      const a = await up(loadConfig(env), { announce: () => {} });
      replicas.push(a);
      const b = await up(loadConfig(env), { announce: () => {} });
      replicas.push(b);

      const subject = await benchWorkload(a.core);
      const { mint } = createMinter({
        keyring: a.core.keyring,
        clock: a.core.clock,
        issuer: a.core.issuer,
      });
      const workload: ChangeContext = {
        actor: { ref: `workload:${subject.id}`, role: 'workload', identityId: subject.id },
      };
      const random = seededRandom(SEED);

      /** `ok`, or the code B's verifier refuses `token` with. */
      const onB = (token: string): string => {
        try {
          b.core.verifier.verify(token, STEWARD_AUDIENCE);
          return 'ok';
        } catch (error) {
          if (error instanceof TokenError) return error.code;
          throw error;
        }
      };

      /** One revocation: [revoke start → B refuses, revoke start → revoke returned], in ns. */
      const sample = async (pauseMs: number): Promise<[number, number]> => {
        const minted = await a.core.store.db.transaction().execute((trx) =>
          mint(trx, workload, {
            subject,
            audience: STEWARD_AUDIENCE,
            attestation: 'bench',
            ttlSeconds: 300,
          }),
        );
        const before = onB(minted.token);
        if (before !== 'ok') throw new Error(`B refused a fresh token: ${before}`);
        await sleep(pauseMs);
        const start = process.hrtime.bigint();
        let revoked: bigint | undefined;
        let failure: Error | undefined;
        const revoking = a.core.revoker
          .revoke({ actor: SYSTEM_ACTOR }, { kind: 'token', jti: minted.claims.jti }, 'bench')
          .then(
            () => void (revoked = process.hrtime.bigint()),
            (error: unknown) =>
              void (failure = error instanceof Error ? error : new Error(String(error))),
          );
        for (;;) {
          const verdict = onB(minted.token);
          if (verdict === 'token_revoked') break;
          if (verdict !== 'ok') throw new Error(`B refused the token with ${verdict}`);
          if (failure !== undefined) throw failure;
          if (Number(process.hrtime.bigint() - start) / 1e6 > GIVE_UP_MS)
            throw new Error(`B still accepted a revoked token after ${GIVE_UP_MS} ms`);
          await turn();
        }
        const refused = process.hrtime.bigint();
        await revoking;
        if (failure !== undefined) throw failure;
        if (revoked === undefined) throw new Error('the revoke call did not finish');
        return [Number(refused - start), Number(revoked - start)];
      };

      const measure = async (
        label: string,
        count: number,
        warmup: number,
        pauseMs: () => number,
      ): Promise<{ propagation: Measured; call: Measured; afterCall: Stats }> => {
        for (let i = 0; i < warmup; i++) await sample(pauseMs());
        const propagation = new Float64Array(count);
        const call = new Float64Array(count);
        for (let i = 0; i < count; i++) {
          [propagation[i], call[i]] = await sample(pauseMs());
          if (i > 0 && i % Math.ceil(count / 10) === 0)
            context.log(`${label}: ${Math.round((i / count) * 100)}%`);
        }
        return {
          propagation: { label, warmup, stats: summarize(propagation) },
          // B's refusal minus the end of A's call; negative when B refused first.
          afterCall: summarize(propagation.map((total, i) => total - (call[i] ?? 0))),
          call: { label: REVOKE_CALL, warmup, stats: summarize(call) },
        };
      };

      const count = context.iterations(300);
      const warmup = Math.max(10, Math.round(count / 10));
      context.log(`LISTEN/NOTIFY: ${warmup} warm-up + ${count} revocations`);
      // A pause of 0–10 ms keeps the revocations from settling into step with anything.
      const notified = await measure(NOTIFY, count, warmup, () => random() * 10);

      // B loses its notifications: only its poll job is left to bring revocations.
      await b.core.store.notifications.close();
      const slow = Math.max(20, Math.round(count / 6));
      context.log(`poll only: 2 warm-up + ${slow} revocations, about a second each`);
      const polled = await measure(POLL, slow, 2, () => random() * 1_000);

      return {
        measurements: [notified.propagation, notified.call, polled.propagation],
        comparisons: [{ subject: POLL, baseline: NOTIFY }],
        limits: [{ measurement: NOTIFY, metric: 'p99', atMostMs: 1_000, text: 'p99 under 1 s' }],
        details: {
          replicas: 2,
          revocationKind: 'token',
          pollIntervalMs: 1_000,
          refusedOnBAfterRevokeReturnedMedianUs: microseconds(notified.afterCall.medianNs),
          refusedOnBAfterRevokeReturnedP99Us: microseconds(notified.afterCall.p99Ns),
          revocationsAtEnd: a.core.revocations.size(),
        },
      };
    } finally {
      for (const replica of replicas.reverse()) await replica.close();
    }
  },
};
