import type { Transaction } from 'kysely';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import type { Database, ReplicatedCache, Store } from '../store/index.js';

/**
 * What can be revoked, and what a token must carry to be matched:
 * - `token`: one token, by `jti`;
 * - `session`: a token and every token renewed from it, by the chain's root `jti` (`sid`);
 * - `identity`: every token of a workload identity issued up to the revocation;
 * - `service_environment`: the kill switch, every token of a service in one environment;
 * - `task`: every token issued for a task.
 */
export const REVOCATION_KINDS = [
  'token',
  'session',
  'identity',
  'service_environment',
  'task',
] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

export interface Revocation {
  readonly kind: RevocationKind;
  /** jti, session id, identity id, `<service>/<environment>`, or task id. */
  readonly subject: string;
  readonly revokedAt: number;
  /** No token the entry covers outlives this; the entry is swept after it. */
  readonly expiresAt: number;
}

/** The claims a revocation check needs; every Steward access token has them. */
export interface RevocableToken {
  readonly jti: string;
  readonly sid: string;
  /** The identity id. */
  readonly client_id: string;
  readonly service: string;
  readonly environment: string;
  readonly task?: string | undefined;
  /** Issued at, in seconds. */
  readonly iat: number;
}

export const REVOCATIONS_CHANNEL = 'steward_revocations';

/**
 * The revocation list: an in-memory index of every unexpired revocation, kept current by
 * notifications (fast path) and polling (safety net), checked on every token verification in
 * a few map lookups.
 */
export interface RevocationList {
  isRevoked(token: RevocableToken): boolean;
  /**
   * Writes a revocation inside `trx` (with the change's audit event). Call {@link announce}
   * with the result after the transaction commits.
   */
  write(
    trx: Transaction<Database>,
    context: ChangeContext,
    entry: Revocation,
    reason: string,
  ): Promise<Revocation>;
  /** Applies `entry` here at once and tells the other replicas. */
  announce(entry: Revocation): Promise<void>;
  /** Deletes entries that can no longer match a valid token. */
  sweep(): Promise<number>;
  /**
   * How the list follows the other replicas: their revocations arrive in notifications, and a
   * poll every second reads the ones not seen (and every minute, all of them).
   */
  readonly replication: ReplicatedCache;
  size(): number;
}

/** The identity, service and team a revocation is about, for the trail's filters. */
export interface RevocationConcerns {
  readonly identityId?: string;
  readonly service?: string;
  readonly team?: string;
}

/**
 * Finds what a revocation is about, in the transaction that writes it. The list's subjects name
 * tokens, tasks and workloads, whose tables belong to folders that import this one, so the
 * composition root hands the resolver in.
 */
export type ConcernResolver = (
  trx: Transaction<Database>,
  entry: Revocation,
) => Promise<RevocationConcerns>;

/**
 * Revokes inside a caller's transaction, so that a change and the revocation it implies commit
 * or roll back together (a disabled identity, a completed task). Writes `entry` and its audit
 * event in `trx`, and returns what to call once `trx` has committed: `announce` applies the entry
 * here at once and tells the other replicas. The revoker provides it; the composition root hands
 * it to the registry and tasks services, which cannot import the tokens folder (it imports them).
 *
 * @example
 * ```ts
 * const revoked = await db.transaction().execute(async (trx) => {
 *   await closeTask(trx, id);
 *   return revokeWithin(trx, context, entry, 'task completed');
 * });
 * await revoked.announce();
 * ```
 */
export type RevokeWithin = (
  trx: Transaction<Database>,
  context: ChangeContext,
  entry: Revocation,
  reason: string,
) => Promise<PendingRevocation>;

/** A revocation written in a transaction, to be announced once that transaction commits. */
export interface PendingRevocation {
  readonly entry: Revocation;
  /** Applies the entry here and tells the other replicas; call it only after the commit. */
  announce(): Promise<void>;
}

/** Entries revoked this recently are re-read on every poll, in case commits landed out of order. */
const RECENT_WINDOW_MS = 10_000;
const POLL_MS = 1_000;
/** Every this many refreshes (the first, on start, among them) reads every entry. */
const FULL_EVERY = 60;

export function createRevocationList(deps: {
  store: Store;
  clock: Clock;
  concerning: ConcernResolver;
}): RevocationList {
  const { store, clock, concerning } = deps;
  const db = store.db;
  const entries = new Map<RevocationKind, Map<string, Revocation>>(
    REVOCATION_KINDS.map((k) => [k, new Map()]),
  );
  let lastSeq = 0;
  let refreshes = 0;

  function apply(entry: Revocation): void {
    const byKind = entries.get(entry.kind);
    const existing = byKind?.get(entry.subject);
    // A later revocation of the same subject widens it (identity re-disabled after re-enable).
    if (!existing || existing.revokedAt < entry.revokedAt) byKind?.set(entry.subject, entry);
  }

  /** Re-reads recent entries (the poll), or all of them (`full`). */
  async function refresh(full: boolean): Promise<void> {
    const now = clock.now();
    let query = db.selectFrom('revocations').selectAll().where('expires_at', '>', isoTime(now));
    if (!full) {
      query = query.where((eb) =>
        eb.or([eb('seq', '>', lastSeq), eb('revoked_at', '>=', isoTime(now - RECENT_WINDOW_MS))]),
      );
    }
    const rows = await query.execute();
    for (const row of rows) {
      apply({
        kind: row.kind as RevocationKind,
        subject: row.subject,
        revokedAt: Date.parse(row.revoked_at),
        expiresAt: Date.parse(row.expires_at),
      });
      if (row.seq > lastSeq) lastSeq = row.seq;
    }
  }

  function revokedAt(kind: RevocationKind, subject: string | undefined): number | undefined {
    return subject === undefined ? undefined : entries.get(kind)?.get(subject)?.revokedAt;
  }

  return {
    isRevoked(token) {
      if (revokedAt('token', token.jti) !== undefined) return true;
      if (revokedAt('session', token.sid) !== undefined) return true;
      if (revokedAt('task', token.task) !== undefined) return true;
      // Identity and kill-switch revocations cover tokens issued up to the revocation, so that
      // an identity re-enabled later can be issued new tokens. iat has whole seconds: a token
      // issued in the same second as the revocation counts as revoked (the safe side).
      const issuedMs = token.iat * 1000;
      const identity = revokedAt('identity', token.client_id);
      if (identity !== undefined && issuedMs <= identity) return true;
      const killed = revokedAt('service_environment', `${token.service}/${token.environment}`);
      return killed !== undefined && issuedMs <= killed;
    },

    async write(trx, context, entry, reason) {
      await trx
        .insertInto('revocations')
        .values({
          kind: entry.kind,
          subject: entry.subject,
          revoked_at: isoTime(entry.revokedAt),
          expires_at: isoTime(entry.expiresAt),
          reason,
          revoked_by: context.actor.ref,
        })
        .onConflict((oc) =>
          oc.columns(['kind', 'subject']).doUpdateSet({
            revoked_at: isoTime(entry.revokedAt),
            expires_at: isoTime(entry.expiresAt),
            reason,
            revoked_by: context.actor.ref,
          }),
        )
        .execute();
      await recordChange(trx, clock, context, {
        type: `revocation.${entry.kind}`,
        targetKind: entry.kind,
        targetId: entry.subject,
        ...(await concerning(trx, entry)),
        after: {
          kind: entry.kind,
          subject: entry.subject,
          reason,
          expiresAt: isoTime(entry.expiresAt),
        },
      });
      return entry;
    },

    async announce(entry) {
      apply(entry);
      await store.notifications.publish(REVOCATIONS_CHANNEL, JSON.stringify(entry));
    },

    async sweep() {
      const now = clock.now();
      for (const byKind of entries.values()) {
        for (const [subject, entry] of byKind) if (entry.expiresAt <= now) byKind.delete(subject);
      }
      const result = await db
        .deleteFrom('revocations')
        .where('expires_at', '<=', isoTime(now))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    replication: {
      name: 'revocations',
      channel: REVOCATIONS_CHANNEL,
      refresh: () => refresh(refreshes++ % FULL_EVERY === 0),
      pollMs: POLL_MS,
      apply(payload) {
        const entry = JSON.parse(payload) as Revocation;
        if (
          !(REVOCATION_KINDS as readonly string[]).includes(entry.kind) ||
          typeof entry.subject !== 'string'
        ) {
          throw new Error(`a notification on ${REVOCATIONS_CHANNEL} is not a revocation`);
        }
        apply(entry);
      },
    },

    size() {
      let total = 0;
      for (const byKind of entries.values()) total += byKind.size;
      return total;
    },
  };
}
