import type { Kysely } from 'kysely';
import type { ChangeContext } from '../../actors/index.js';
import type { FederationService, JoinTokenService } from '../../attestation/index.js';
import { loadWorkload, whyMayNotAct } from '../../registry/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Database } from '../../store/index.js';
import { loadTask } from '../../tasks/index.js';
import type { AccessTokenClaims, ActorClaim } from '../claims.js';
import { OAuthError, TokenError } from '../errors.js';
import type { MintedToken, Minter, MintRequest, TokenIssuer, TokenSubject } from '../mint.js';
import type { Revoker } from '../revoke.js';
import type { TokenVerifier, VerifiedToken } from '../verify.js';

/** What the token exchange is built from; each subject token type uses its part. */
export interface ExchangeDeps {
  readonly db: Kysely<Database>;
  readonly clock: Clock;
  readonly joinTokens: JoinTokenService;
  readonly federation: FederationService;
  readonly verifier: TokenVerifier;
  /** Revokes the session of a replayed join token. */
  readonly revoker: Pick<Revoker, 'revokeJoinSession'>;
  readonly minter: Minter;
  readonly issuer: TokenIssuer;
}

/** One token-exchange request once its common parameters are checked. */
export interface SubjectTokenRequest {
  readonly subjectToken: string;
  /** The `task` parameter, when the request names one. */
  readonly task: string | undefined;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly act: ActorClaim | undefined;
  readonly clientAddress: string | undefined;
  readonly requestId: string | undefined;
}

/** The steps every subject token type shares, over the exchange's dependencies. */
export interface ExchangeSteps {
  /** The workload a token is for, refused with `invalid_grant` unless the registry says it may act. */
  loadSubject(source: Kysely<Database>, identityId: string): Promise<TokenSubject>;
  /**
   * The workload of a renewal, from the cache of workloads this process loaded or issued for, or
   * else loaded (and checked) as {@link loadSubject} does. A cached workload may be stale: it must
   * be issued for with `confirmSubject`, which checks it again in the issuing transaction.
   */
  cachedSubject(identityId: string): Promise<TokenSubject>;
  /** The workload a token was finally issued for (fresher than the cache's, at times). */
  rememberSubject(subject: TokenSubject): void;
  /** Drops a workload from the cache: it was refused. */
  forgetSubject(identityId: string): void;
  /**
   * The session of a verified Steward token: its end, from the cache of sessions this process
   * issued or renewed in (a session's end never changes), or else read from the token's
   * inventory row, which is then also proof that the token is on record.
   */
  session(claims: AccessTokenClaims): Promise<{ readonly sid: string; readonly expiresMs: number }>;
  /** Notes the end of the session of a token just issued. */
  rememberSession(minted: MintedToken): void;
  /** The open task `taskId` of the identity, or undefined when none is named. */
  taskFor(
    source: Kysely<Database>,
    taskId: string | undefined,
    identityId: string,
  ): Promise<MintRequest['task']>;
  /** Verifies a Steward token for renewal or as an actor token, failures as `invalid_grant`. */
  verifySteward(token: string, what: string): VerifiedToken;
  /** The change context of a workload acting for itself, in this request. */
  context(identityId: string, requestId: string | undefined): ChangeContext;
}

/**
 * One `subject_token_type` of RFC 8693: checks its subject token, finds the workload and mints
 * (node-oidc-provider's one module per grant type, dispatched by a table).
 */
export type SubjectTokenExchange = (
  request: SubjectTokenRequest,
  deps: ExchangeDeps,
  steps: ExchangeSteps,
) => Promise<MintedToken>;

/** The most workloads and sessions each cache keeps; the least recently used goes first. */
const CACHE_SIZE = 10_000;

/** A bounded map that forgets its least recently used entry first. */
function lruCache<V>(capacity: number) {
  const entries = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      const found = entries.get(key);
      if (found !== undefined) {
        entries.delete(key);
        entries.set(key, found);
      }
      return found;
    },
    set(key: string, value: V): void {
      entries.delete(key);
      if (entries.size >= capacity) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(key, value);
    },
    delete(key: string): void {
      entries.delete(key);
    },
  };
}

export function createExchangeSteps(deps: ExchangeDeps): ExchangeSteps {
  const { clock, verifier } = deps;
  const subjects = lruCache<TokenSubject>(CACHE_SIZE);
  const sessions = lruCache<number>(CACHE_SIZE);

  async function loadSubject(source: Kysely<Database>, identityId: string): Promise<TokenSubject> {
    const workload = await loadWorkload(source, identityId);
    if (!workload) {
      subjects.delete(identityId);
      throw new OAuthError('invalid_grant', 'The identity no longer exists.');
    }
    const refusal = whyMayNotAct(workload);
    if (refusal) {
      subjects.delete(identityId);
      throw new OAuthError('invalid_grant', refusal.message);
    }
    // Only what a token states of its workload is kept (status and admission are not: they are
    // always read again by the transaction that issues).
    subjects.set(identityId, subjectOf(workload));
    return workload;
  }

  return {
    loadSubject,

    async cachedSubject(identityId) {
      return subjects.get(identityId) ?? loadSubject(deps.db, identityId);
    },

    rememberSubject(subject) {
      subjects.set(subject.id, subjectOf(subject));
    },

    forgetSubject(identityId) {
      subjects.delete(identityId);
    },

    async session(claims) {
      const known = sessions.get(claims.sid);
      if (known !== undefined) return { sid: claims.sid, expiresMs: known };
      const parent = await deps.db
        .selectFrom('tokens')
        .select(['session_id', 'session_expires_at'])
        .where('jti', '=', claims.jti)
        .executeTakeFirst();
      if (!parent)
        throw new OAuthError('invalid_grant', 'The subject token is not in the inventory.');
      const expiresMs = Date.parse(parent.session_expires_at);
      sessions.set(parent.session_id, expiresMs);
      return { sid: parent.session_id, expiresMs };
    },

    rememberSession(minted) {
      sessions.set(minted.claims.sid, minted.sessionExpiresMs);
    },

    async taskFor(source, taskId, identityId) {
      if (taskId === undefined) return undefined;
      const task = await loadTask(source, taskId);
      if (!task || task.identity !== identityId)
        throw new OAuthError('invalid_request', 'No such task for this identity.');
      if (task.status !== 'open' || Date.parse(task.deadlineAt) <= clock.now()) {
        throw new OAuthError(
          'invalid_grant',
          `The task is ${task.status === 'open' ? 'past its deadline' : task.status}.`,
        );
      }
      return { id: task.id, deadlineMs: Date.parse(task.deadlineAt) };
    },

    verifySteward(token, what) {
      try {
        return verifier.verify(token);
      } catch (error) {
        if (error instanceof TokenError)
          throw new OAuthError('invalid_grant', `The ${what} is not valid: ${error.message}`);
        throw error;
      }
    },

    context(identityId, requestId) {
      return {
        actor: { ref: `workload:${identityId}`, role: 'workload', identityId },
        ...(requestId !== undefined ? { requestId } : {}),
      };
    },
  };
}

/** The fields of a workload that a token states, and nothing else. */
function subjectOf(workload: TokenSubject): TokenSubject {
  return {
    id: workload.id,
    spiffeId: workload.spiffeId,
    service: workload.service,
    team: workload.team,
    environment: workload.environment,
    agentPath: workload.agentPath,
    maxTokenTtlSeconds: workload.maxTokenTtlSeconds,
    maxSessionSeconds: workload.maxSessionSeconds,
  };
}
