/**
 * Claims of a Steward access token: RFC 9068 (`typ: at+jwt`) with the workload's SPIFFE ID as
 * `sub`, plus what policy and the trail need about the caller.
 */
export interface AccessTokenClaims {
  readonly iss: string;
  /** The workload's SPIFFE ID. */
  readonly sub: string;
  readonly aud: string;
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number;
  readonly jti: string;
  /** The workload identity's id. */
  readonly client_id: string;
  /** The session: the jti of the first token of this renewal chain. */
  readonly sid: string;
  readonly environment: string;
  readonly service: string;
  readonly agent_path: string;
  /** The task the token was issued for; it dies with the task. */
  readonly task?: string;
  /** RFC 8693 delegation chain: who acts for whom, outermost is the most recent actor. */
  readonly act?: ActorClaim;
}

/** RFC 8693 §4.1 `act`: the acting party, and whoever it in turn acted for. */
export interface ActorClaim {
  readonly sub: string;
  readonly act?: ActorClaim;
}

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const JOIN_TOKEN_TYPE = 'urn:steward:token-type:join-token';
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Steward's own API as an audience. */
export const STEWARD_AUDIENCE = 'steward';
