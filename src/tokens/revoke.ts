import type { Kysely } from 'kysely';
import { canManageTeam } from '../access/index.js';
import { SYSTEM_ACTOR, type ChangeContext } from '../actors/index.js';
import { forbidden, invalidField, notFound } from '../errors/index.js';
import { loadServiceOwner, loadWorkload, MAX_TOKEN_LIFETIME_MS } from '../registry/index.js';
import type {
  PendingRevocation,
  Revocation,
  RevocationKind,
  RevocationList,
  RevokeWithin,
} from '../revocation/index.js';
import type { Clock } from '../shared/clock.js';
import { loadTask } from '../tasks/index.js';
import type { Database } from '../store/index.js';
import { TokenError } from './errors.js';
import type { TokenVerifier } from './verify.js';

/** What an operator asks to revoke; exactly the fields its kind needs. */
export type RevocationRequest =
  | { readonly kind: 'token'; readonly jti: string }
  | { readonly kind: 'lineage'; readonly jti: string }
  | { readonly kind: 'identity'; readonly identity: string }
  | { readonly kind: 'service_environment'; readonly service: string; readonly environment: string }
  | { readonly kind: 'task'; readonly task: string };

export interface RevocationOutcome {
  readonly kind: RevocationKind;
  /** How many entries were written (a lineage below its root is one per token). */
  readonly entries: number;
}

/** The longest a chain can be walked when revoking a lineage; renewals are minutes apart. */
const MAX_LINEAGE = 10_000;

export function createRevoker(deps: {
  db: Kysely<Database>;
  clock: Clock;
  revocations: RevocationList;
  verifier: TokenVerifier;
}) {
  const { db, clock, revocations, verifier } = deps;

  async function ensureMayRevoke(context: ChangeContext, identityId: string): Promise<void> {
    const role = context.actor.role;
    if (role === 'admin' || role === 'security' || role === 'system') return;
    const workload = await loadWorkload(db, identityId);
    if (workload === undefined || !canManageTeam(context.actor, workload.teamId))
      throw forbidden('This key may not revoke tokens of this identity.');
  }

  /**
   * The one way a revocation is written, here or inside another service's transaction: the entry
   * and its audit event in `trx`, the announcement after the commit.
   */
  const revokeWithin: RevokeWithin = async (trx, context, entry, reason) => {
    const written = await revocations.write(trx, context, entry, reason);
    return { entry: written, announce: () => revocations.announce(written) };
  };

  async function commit(
    context: ChangeContext,
    entries: Revocation[],
    reason: string,
  ): Promise<void> {
    const written = await db.transaction().execute(async (trx) => {
      const out: PendingRevocation[] = [];
      for (const entry of entries) out.push(await revokeWithin(trx, context, entry, reason));
      return out;
    });
    for (const pending of written) await pending.announce();
  }

  /** Revokes what `request` names; effective here at once and in every replica within a second. */
  async function revoke(
    context: ChangeContext,
    request: RevocationRequest,
    reason: string,
  ): Promise<RevocationOutcome> {
    const now = clock.now();
    switch (request.kind) {
      case 'token':
      case 'lineage': {
        const token = await db
          .selectFrom('tokens')
          .selectAll()
          .where('jti', '=', request.jti)
          .executeTakeFirst();
        if (!token) throw notFound('token', request.jti);
        await ensureMayRevoke(context, token.identity_id);
        const sessionEnd = Date.parse(token.session_expires_at) + 60_000;
        if (request.kind === 'token') {
          await commit(
            context,
            [
              {
                kind: 'token',
                subject: token.jti,
                revokedAt: now,
                expiresAt: Date.parse(token.expires_at) + 60_000,
              },
            ],
            reason,
          );
          return { kind: 'token', entries: 1 };
        }
        if (token.jti === token.session_id) {
          // The root of a session: one entry covers the whole chain, present and future.
          await commit(
            context,
            [
              {
                kind: 'session',
                subject: token.session_id,
                revokedAt: now,
                expiresAt: sessionEnd,
              },
            ],
            reason,
          );
          return { kind: 'session', entries: 1 };
        }
        // Below the root: this token and everything renewed from it. Later renewals need a
        // valid parent, and every parent in the subtree is now revoked.
        const subtree = [token.jti];
        for (let i = 0; i < subtree.length && subtree.length < MAX_LINEAGE; i++) {
          const children = await db
            .selectFrom('tokens')
            .select('jti')
            .where('parent_jti', '=', subtree[i] ?? '')
            .execute();
          subtree.push(...children.map((c) => c.jti));
        }
        await commit(
          context,
          subtree.map((jti) => ({
            kind: 'token' as const,
            subject: jti,
            revokedAt: now,
            expiresAt: sessionEnd,
          })),
          reason,
        );
        return { kind: 'token', entries: subtree.length };
      }
      case 'identity': {
        await ensureMayRevoke(context, request.identity);
        if (!(await loadWorkload(db, request.identity)))
          throw notFound('identity', request.identity);
        await commit(
          context,
          [
            {
              kind: 'identity',
              subject: request.identity,
              revokedAt: now,
              expiresAt: now + MAX_TOKEN_LIFETIME_MS,
            },
          ],
          reason,
        );
        return { kind: 'identity', entries: 1 };
      }
      case 'service_environment': {
        const service = await loadServiceOwner(db, request.service);
        if (!service) throw notFound('service', request.service);
        const role = context.actor.role;
        if (
          role !== 'admin' &&
          role !== 'security' &&
          !canManageTeam(context.actor, service.teamId)
        ) {
          throw forbidden('This key may not revoke tokens of this service.');
        }
        await commit(
          context,
          [
            {
              kind: 'service_environment',
              subject: `${request.service}/${request.environment}`,
              revokedAt: now,
              expiresAt: now + MAX_TOKEN_LIFETIME_MS,
            },
          ],
          reason,
        );
        return { kind: 'service_environment', entries: 1 };
      }
      case 'task': {
        const task = await loadTask(db, request.task);
        if (!task) throw notFound('task', request.task);
        await ensureMayRevoke(context, task.identity);
        await commit(
          context,
          [
            {
              kind: 'task',
              subject: task.id,
              revokedAt: now,
              expiresAt: Math.max(Date.parse(task.deadlineAt), now) + 60_000,
            },
          ],
          reason,
        );
        return { kind: 'task', entries: 1 };
      }
      default:
        throw invalidField('/body/kind', 'Unknown revocation kind.');
    }
  }

  return {
    revoke,

    /**
     * Revokes inside a caller's transaction (a status change, a task's end): see
     * {@link RevokeWithin}. The caller has already decided that the change revokes.
     */
    revokeWithin,

    /**
     * A join token used twice means it leaked: the session it started is revoked, whoever holds
     * it (the refresh-token reuse rule of OAuth 2.0 Security BCP §4.14). Steward does this on its
     * own, so the change is the system's.
     */
    async revokeJoinSession(joinTokenId: string): Promise<void> {
      const first = await db
        .selectFrom('tokens')
        .select('jti')
        .where('attestation', '=', `join_token:${joinTokenId}`)
        .where('parent_jti', 'is', null)
        .executeTakeFirst();
      if (!first) return;
      await revoke(
        { actor: SYSTEM_ACTOR },
        { kind: 'lineage', jti: first.jti },
        'join token replayed',
      );
    },

    /**
     * RFC 7009: whoever holds a token may revoke it. An invalid, expired or foreign token is
     * answered the same way (success), so the endpoint tells an attacker nothing.
     */
    async revokePresented(token: string): Promise<void> {
      let claims;
      try {
        claims = verifier.verify(token).claims;
      } catch (error) {
        if (error instanceof TokenError) return;
        throw error;
      }
      await commit(
        {
          actor: {
            ref: `workload:${claims.client_id}`,
            role: 'workload',
            identityId: claims.client_id,
          },
        },
        [
          {
            kind: 'token',
            subject: claims.jti,
            revokedAt: clock.now(),
            expiresAt: (claims.exp + 60) * 1000,
          },
        ],
        'revoked by its holder (RFC 7009)',
      );
    },

    /** RFC 7662: the token's metadata if it is active now, else only `active: false`. */
    introspect(token: string): Record<string, unknown> {
      try {
        const { claims } = verifier.verify(token);
        return { active: true, token_type: 'Bearer', scope: '', ...claims };
      } catch (error) {
        if (error instanceof TokenError) return { active: false };
        throw error;
      }
    },
  };
}

export type Revoker = ReturnType<typeof createRevoker>;
