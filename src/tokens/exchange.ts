import {
  ACCESS_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  STEWARD_AUDIENCE,
  TOKEN_EXCHANGE_GRANT,
  type ActorClaim,
} from './claims.js';
import { OAuthError } from './errors.js';
import { renewAccessToken } from './subject-tokens/access-token.js';
import { exchangeJoinToken } from './subject-tokens/join-token.js';
import { exchangeFederatedJwt } from './subject-tokens/jwt.js';
import {
  createExchangeSteps,
  type ExchangeDeps,
  type SubjectTokenExchange,
} from './subject-tokens/steps.js';

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
 * What each `subject_token_type` is exchanged by: one module per type, as node-oidc-provider
 * keeps one per grant type. A type not in this table is `unsupported_token_type`.
 */
const SUBJECT_TOKEN_TYPES: Readonly<Record<string, SubjectTokenExchange>> = {
  [JOIN_TOKEN_TYPE]: exchangeJoinToken,
  [JWT_TOKEN_TYPE]: exchangeFederatedJwt,
  [ACCESS_TOKEN_TYPE]: renewAccessToken,
};

/**
 * The token endpoint's grant: trade proof of identity (a join token, a platform token, or a
 * still-valid Steward token) for a short-lived, audience-bound access token.
 */
export function createTokenExchange(deps: ExchangeDeps & { resolveAudience: AudienceResolver }) {
  const { resolveAudience } = deps;
  const steps = createExchangeSteps(deps);

  function required(params: ExchangeParameters, name: string): string {
    const value = params[name];
    if (value === undefined || value === '')
      throw new OAuthError('invalid_request', `${name} is required.`);
    return value;
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
      const actor = steps.verifySteward(params['actor_token'], 'actor token').claims;
      act = { sub: actor.sub, ...(actor.act ? { act: actor.act } : {}) };
    }

    // Own-property lookup: a type named like an Object.prototype member is not a handler.
    const exchangeSubject = Object.hasOwn(SUBJECT_TOKEN_TYPES, subjectType)
      ? SUBJECT_TOKEN_TYPES[subjectType]
      : undefined;
    if (exchangeSubject === undefined) {
      throw new OAuthError(
        'unsupported_token_type',
        'subject_token_type must be a join token, a JWT or a Steward access token.',
      );
    }
    const minted = await exchangeSubject(
      {
        subjectToken,
        task: params['task'],
        audience,
        ttlSeconds,
        act,
        clientAddress,
        requestId,
      },
      deps,
      steps,
    );
    return respond(minted);
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
