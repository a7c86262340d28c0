import type { Kysely } from 'kysely';
import type { ChangeContext } from '../../actors/index.js';
import type { FederationService, JoinTokenService } from '../../attestation/index.js';
import { loadWorkload, whyMayNotAct } from '../../registry/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Database } from '../../store/index.js';
import { loadTask } from '../../tasks/index.js';
import type { ActorClaim } from '../claims.js';
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

export function createExchangeSteps(deps: ExchangeDeps): ExchangeSteps {
  const { clock, verifier } = deps;
  return {
    async loadSubject(source, identityId) {
      const workload = await loadWorkload(source, identityId);
      if (!workload) throw new OAuthError('invalid_grant', 'The identity no longer exists.');
      const refusal = whyMayNotAct(workload);
      if (refusal) throw new OAuthError('invalid_grant', refusal.message);
      return workload;
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
