/**
 * Why a token was not accepted. The code is stable and safe to show; the token itself never
 * appears in a message.
 */
export type TokenErrorCode =
  | 'token_malformed'
  | 'token_unsupported_algorithm'
  | 'token_wrong_type'
  | 'token_unknown_key'
  | 'token_bad_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_wrong_issuer'
  | 'token_wrong_audience'
  | 'token_revoked';

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** OAuth 2.0 error codes (RFC 6749 §5.2, RFC 8693 §2.2.2), kept apart from the API's codes. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'server_error'
  | 'temporarily_unavailable';

/** An error answered by the `/oauth2/*` endpoints as `{"error", "error_description"}`. */
export class OAuthError extends Error {
  readonly status: number;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    status?: number,
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
    this.status =
      status ??
      (error === 'invalid_client'
        ? 401
        : error === 'server_error'
          ? 500
          : error === 'temporarily_unavailable'
            ? 503
            : 400);
  }
}
