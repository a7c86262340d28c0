import type { Kysely, Transaction } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { loadWorkload } from '../registry/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { generateSecret, hashSecret, isWellFormedSecret } from '../shared/key-format.js';
import { newId } from '../shared/ids.js';
import type { Database } from '../store/index.js';

export interface CreatedJoinToken {
  readonly id: string;
  /** The secret, shown once. */
  readonly token: string;
  readonly identity: string;
  readonly spiffeId: string;
  readonly expiresAt: string;
}

/** Why a join token was not accepted; the exchange maps all of them to `invalid_grant`. */
export type JoinTokenRejection = 'unknown' | 'expired' | 'replayed';

export type RedeemResult =
  | { readonly ok: true; readonly identityId: string; readonly joinTokenId: string }
  | { readonly ok: false; readonly reason: JoinTokenRejection; readonly joinTokenId?: string };

export const JOIN_TOKEN_DEFAULT_TTL_SECONDS = 600;

/**
 * Single-use join tokens: a secret bound to one identity, minutes long, that a workload trades
 * once for its first access token. Only the hash is stored.
 */
export function createJoinTokenService(deps: { db: Kysely<Database>; clock: Clock }) {
  const { db, clock } = deps;
  return {
    async create(
      context: ChangeContext,
      identityId: string,
      ttlSeconds: number,
    ): Promise<CreatedJoinToken> {
      const token = generateSecret('join');
      return db.transaction().execute(async (trx) => {
        const identity = await loadWorkload(trx, identityId);
        if (!identity) throw notFound('identity', identityId);
        if (!canManageTeam(context.actor, identity.teamId)) {
          throw forbidden(
            `This key may not manage identities of team ${JSON.stringify(identity.team)}.`,
          );
        }
        if (identity.status !== 'active') {
          throw new StewardError(
            'invalid_status_transition',
            `${identity.spiffeId} is ${identity.status}: it cannot be given a join token.`,
          );
        }
        const now = clock.now();
        const id = newId(now);
        const expiresAt = isoTime(now + ttlSeconds * 1000);
        await trx
          .insertInto('join_tokens')
          .values({
            id,
            identity_id: identity.id,
            token_hash: hashSecret(token),
            created_by: context.actor.ref,
            created_at: isoTime(now),
            expires_at: expiresAt,
            used_at: null,
            used_from: null,
          })
          .execute();
        await recordChange(trx, clock, context, {
          type: 'join_token.created',
          targetKind: 'join_token',
          targetId: id,
          team: identity.team,
          service: identity.service,
          identityId: identity.id,
          after: { id, identity: identity.id, spiffeId: identity.spiffeId, expiresAt },
        });
        return { id, token, identity: identity.id, spiffeId: identity.spiffeId, expiresAt };
      });
    },

    /**
     * Marks a join token used, inside the exchange's transaction: the conditional update makes
     * "use once" hold even when two requests race with the same token.
     */
    async redeem(
      trx: Transaction<Database>,
      presented: string,
      clientAddress: string | undefined,
    ): Promise<RedeemResult> {
      if (!isWellFormedSecret(presented, 'join')) return { ok: false, reason: 'unknown' };
      const hash = hashSecret(presented);
      const now = isoTime(clock.now());
      const used = await trx
        .updateTable('join_tokens')
        .set({ used_at: now, used_from: clientAddress ?? null })
        .where('token_hash', '=', hash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['id', 'identity_id'])
        .executeTakeFirst();
      if (used) return { ok: true, identityId: used.identity_id, joinTokenId: used.id };
      const row = await trx
        .selectFrom('join_tokens')
        .select(['id', 'used_at'])
        .where('token_hash', '=', hash)
        .executeTakeFirst();
      if (!row) return { ok: false, reason: 'unknown' };
      return {
        ok: false,
        reason: row.used_at !== null ? 'replayed' : 'expired',
        joinTokenId: row.id,
      };
    },
  };
}

export type JoinTokenService = ReturnType<typeof createJoinTokenService>;
