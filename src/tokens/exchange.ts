import type { Kysely } from 'kysely';
import type { ChangeContext } from '../access/index.js';
import type { FederationService, JoinTokenService } from '../attestation/index.js';
import { loadWorkload, whyMayNotAct } from '../registry/index.js';
import type { Clock } from '../shared/clock.js';
import { loadTask } from '../tasks/index.js';
import type { Database } from '../store/index.js';
import {
  ACCESS_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  STEWARD_AUDIENCE,
  TOKEN_EXCHANGE_GRANT,
  type ActorClaim,
} from './claims.js';
import { OAuthError, TokenError } from './errors.js';
import type { Minter, TokenIssuer, TokenSubject } from './mint.js';
import type { Revoker } from './revoke.js';
import type { TokenVerifier } from './verify.js';

/** RFC 8693 token-exchange parameters, as the form carried them. */
export type ExchangeParameters = Readonly<Record<string, string | undefined>>;

export interface TokenResponse {
  readonly access_token: string;
  readonly issued_token_type: typeof ACCESS_TOKEN_TYPE;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
}

/** The lifetime of a token when the request does not ask for less. */
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

/**
 * Decides which audiences exist: `steward` (and the issuer URL, which names it), and later the
 * gateway's upstreams. Returns the canonical audience or undefined for an unknown one.
 */
export type AudienceResolver = (requested: string) => Promise<string | undefined>;

/**
 * The token endpoint's grant: trade proof of identity (a join token, a platform token, or a
 * still-valid Steward token) for a short-lived, audience-bound access token.
 */
export function createTokenExchange(deps: {
  db: Kysely<Database>;
  clock: Clock;
  joinTokens: JoinTokenService;
  federation: FederationService;
  verifier: TokenVerifier;
  /** Revokes the session of a replayed join token. */
  revoker: Pick<Revoker, 'revokeJoinSession'>;
  minter: Minter;
  issuer: TokenIssuer;
  resolveAudience: AudienceResolver;
}) {
  const { db, clock, joinTokens, federation, verifier, revoker, minter, issuer, resolveAudience } =
    deps;

  /** The workload a token is for, refused unless the registry says it may act. */
  async function loadSubject(trx: Kysely<Database>, identityId: string): Promise<TokenSubject> {
    const workload = await loadWorkload(trx, identityId);
    if (!workload) throw new OAuthError('invalid_grant', 'The identity no longer exists.');
    const refusal = whyMayNotAct(workload);
    if (refusal) throw new OAuthError('invalid_grant', refusal.message);
    return workload;
  }

  /** Verifies a Steward token for renewal or as an actor token, mapping failures to invalid_grant. */
  function verifySteward(token: string, what: string) {
    try {
      return verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenError)
        throw new OAuthError('invalid_grant', `The ${what} is not valid: ${error.message}`);
      throw error;
    }
  }

  function required(params: ExchangeParameters, name: string): string {
    const value = params[name];
    if (value === undefined || value === '')
      throw new OAuthError('invalid_request', `${name} is required.`);
    return value;
  }

  async function taskFor(trx: Kysely<Database>, taskId: string | undefined, identityId: string) {
    if (taskId === undefined) return undefined;
    const task = await loadTask(trx, taskId);
    if (!task || task.identity !== identityId)
      throw new OAuthError('invalid_request', 'No such task for this identity.');
    if (task.status !== 'open' || Date.parse(task.deadlineAt) <= clock.now()) {
      throw new OAuthError(
        'invalid_grant',
        `The task is ${task.status === 'open' ? 'past its deadline' : task.status}.`,
      );
    }
    return { id: task.id, deadlineMs: Date.parse(task.deadlineAt) };
  }

  return async function exchange(
    params: ExchangeParameters,
    clientAddress: string | undefined,
    requestId?: string,
  ): Promise<TokenResponse> {
    const grantType = required(params, 'grant_type');
    if (grantType !== TOKEN_EXCHANGE_GRANT)
      throw new OAuthError(
        'unsupported_grant_type',
        'Only token exchange (RFC 8693) is supported.',
      );
    const subjectToken = required(params, 'subject_token');
    const subjectType = required(params, 'subject_token_type');
    if (
      params['requested_token_type'] !== undefined &&
      params['requested_token_type'] !== ACCESS_TOKEN_TYPE
    ) {
      throw new OAuthError('invalid_request', 'Only access tokens can be requested.');
    }
    // RFC 8707 `resource` (what MCP clients send) and RFC 8693 `audience` name the same thing.
    const requestedAudience = params['audience'] ?? params['resource'] ?? STEWARD_AUDIENCE;
    const audience = await resolveAudience(requestedAudience);
    if (audience === undefined)
      throw new OAuthError('invalid_target', 'The requested audience is not known to Steward.');
    const ttlParam = params['expires_in'];
    const ttlSeconds = ttlParam === undefined ? DEFAULT_TOKEN_TTL_SECONDS : Number(ttlParam);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 30)
      throw new OAuthError(
        'invalid_request',
        'expires_in must be a whole number of seconds, at least 30.',
      );

    let act: ActorClaim | undefined;
    if (params['actor_token'] !== undefined) {
      if (params['actor_token_type'] !== ACCESS_TOKEN_TYPE) {
        throw new OAuthError(
          'invalid_request',
          'actor_token_type must be an access token issued by Steward.',
        );
      }
      const actor = verifySteward(params['actor_token'], 'actor token').claims;
      act = { sub: actor.sub, ...(actor.act ? { act: actor.act } : {}) };
    }

    const context = (identityId: string): ChangeContext => ({
      actor: { ref: `workload:${identityId}`, role: 'workload', identityId },
      ...(requestId !== undefined ? { requestId } : {}),
    });

    if (subjectType === JOIN_TOKEN_TYPE) {
      const outcome = await db.transaction().execute(async (trx) => {
        const redeemed = await joinTokens.redeem(trx, subjectToken, clientAddress);
        if (!redeemed.ok) return redeemed;
        const subject = await loadSubject(trx, redeemed.identityId);
        const task = await taskFor(trx, params['task'], subject.id);
        // The first token of a session is recorded in the transaction that spends the join
        // token: a join token is never used up without its token on record.
        const minted = await minter.mint(trx, context(subject.id), {
          subject,
          audience,
          attestation: `join_token:${redeemed.joinTokenId}`,
          ttlSeconds,
          task,
          act,
          clientAddress,
        });
        return { ok: true as const, minted };
      });
      if (!outcome.ok) {
        if (outcome.reason === 'replayed' && outcome.joinTokenId !== undefined)
          await revoker.revokeJoinSession(outcome.joinTokenId);
        throw new OAuthError(
          'invalid_grant',
          outcome.reason === 'replayed'
            ? 'The join token was already used.'
            : outcome.reason === 'expired'
              ? 'The join token has expired.'
              : 'The join token is not valid.',
        );
      }
      return respond(outcome.minted);
    }

    if (subjectType === JWT_TOKEN_TYPE) {
      const federated = await federation.authenticate(subjectToken);
      if (!federated.ok) throw new OAuthError('invalid_grant', federated.reason);
      const subject = await loadSubject(db, federated.identityId);
      const task = await taskFor(db, params['task'], subject.id);
      return respond(
        await issuer.issue(context(subject.id), {
          subject,
          audience,
          attestation: `federation:${federated.trust}`,
          ttlSeconds,
          task,
          act,
          clientAddress,
        }),
      );
    }

    if (subjectType === ACCESS_TOKEN_TYPE) {
      const current = verifySteward(subjectToken, 'subject token').claims;
      // A token given to an upstream must not be turned into a token for anything else: only
      // a token for Steward itself (the agent's session token) may be exchanged across audiences.
      if (current.aud !== STEWARD_AUDIENCE && current.aud !== audience) {
        throw new OAuthError(
          'invalid_target',
          `A token for ${current.aud} can only be renewed for ${current.aud}.`,
        );
      }
      // Renewals are the steady load of the token service: they are issued with group commit.
      const parent = await db
        .selectFrom('tokens')
        .select(['jti', 'session_id', 'session_expires_at'])
        .where('jti', '=', current.jti)
        .executeTakeFirst();
      if (!parent)
        throw new OAuthError('invalid_grant', 'The subject token is not in the inventory.');
      const sessionExpiresMs = Date.parse(parent.session_expires_at);
      if (sessionExpiresMs <= clock.now()) {
        throw new OAuthError(
          'invalid_grant',
          'The session has reached its maximum lifetime: attest again.',
        );
      }
      const subject = await loadSubject(db, current.client_id);
      // A renewal keeps the task unless another one of the same identity is named.
      const task = await taskFor(db, params['task'] ?? current.task, subject.id);
      return respond(
        await issuer.issue(context(subject.id), {
          subject,
          audience,
          attestation: 'renewal',
          ttlSeconds,
          task,
          parent: { jti: parent.jti, sid: parent.session_id, sessionExpiresMs },
          act: act ?? current.act,
          clientAddress,
        }),
      );
    }

    throw new OAuthError(
      'unsupported_token_type',
      'subject_token_type must be a join token, a JWT or a Steward access token.',
    );
  };

  function respond(minted: { token: string; expiresIn: number }): TokenResponse {
    return {
      access_token: minted.token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: minted.expiresIn,
    };
  }
}

export type TokenExchange = ReturnType<typeof createTokenExchange>;
