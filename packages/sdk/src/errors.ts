/**
 * An error answer from Steward's API, parsed from its RFC 9457 problem document. `code` is stable:
 * match on it, not on `detail`.
 *
 * @example
 * try {
 *   await agent.openTask({ deadlineSeconds: 600 });
 * } catch (error) {
 *   if (error instanceof StewardApiError && error.code === 'forbidden') console.error(error.detail, error.requestId);
 *   throw error;
 * }
 */
export class StewardApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string | undefined;
  readonly errors: readonly { pointer: string; detail: string }[];

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    requestId?: string | undefined;
    errors?: readonly { pointer: string; detail: string }[] | undefined;
  }) {
    super(`${init.code}: ${init.detail}`);
    this.name = 'StewardApiError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
  }
}

/**
 * Steward could not be reached at all (refused, DNS, timeout): nothing was decided.
 *
 * @example
 * try {
 *   await agent.start();
 * } catch (error) {
 *   if (error instanceof StewardUnreachableError) setTimeout(() => void agent.start(), 5_000); // try again later
 * }
 */
export class StewardUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach Steward at ${url}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
    this.name = 'StewardUnreachableError';
  }
}

/**
 * The codes a {@link StewardAuthError} carries: the OAuth 2.0 error codes Steward's token endpoint
 * answers (RFC 6749 §5.2, RFC 8693 §2.2.2), plus `token_file_unreadable` when the agent cannot
 * read its platform token. Match on the code, not on the message.
 *
 * @example
 * const retryable = (code: StewardAuthErrorCode) => code === 'temporarily_unavailable' || code === 'server_error';
 */
export type StewardAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'token_file_unreadable';

/**
 * What the agent offered as proof when the error happened: its join token, the token read from
 * its token file, or one of its own Steward tokens (renewal, or a task or audience change).
 *
 * @example
 * if (error instanceof StewardAuthError && error.grant === 'join_token') console.error('create a new join token');
 */
export type StewardGrant = 'join_token' | 'token_file' | 'renewal';

const OAUTH_CODES: ReadonlySet<string> = new Set<StewardAuthErrorCode>([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_target',
  'unsupported_token_type',
  'server_error',
  'temporarily_unavailable',
]);

/** Whether `code` is one of the OAuth codes a {@link StewardAuthError} may carry. */
export function isOAuthErrorCode(code: string): code is StewardAuthErrorCode {
  return OAUTH_CODES.has(code);
}

/**
 * Steward would not give the agent a token, or the agent could not ask for one. `code` is the
 * OAuth error code Steward answered (`invalid_grant` for a used, expired or revoked credential or
 * a session past its maximum lifetime; `invalid_target` for an unknown audience), `description`
 * is Steward's explanation, `grant` says what the agent offered. The message never contains a
 * token.
 *
 * @example
 * try {
 *   await agent.token();
 * } catch (error) {
 *   if (error instanceof StewardAuthError && error.code === 'invalid_grant') {
 *     // The join token was used or has expired, or the session is over: the agent needs a new one.
 *   }
 *   throw error;
 * }
 */
export class StewardAuthError extends Error {
  readonly code: StewardAuthErrorCode;
  /** Steward's `error_description`, or the SDK's own explanation; never contains a token. */
  readonly description: string;
  readonly grant: StewardGrant;
  /** The HTTP status of the token endpoint's answer; undefined when no request was made. */
  readonly status: number | undefined;

  constructor(
    init: {
      code: StewardAuthErrorCode;
      description: string;
      grant: StewardGrant;
      status?: number | undefined;
      /** What the agent's operator should do about it; appended to the message. */
      hint?: string | undefined;
    },
    options?: { cause?: unknown },
  ) {
    super(
      `${init.code}: ${init.description}${init.hint === undefined ? '' : ` ${init.hint}`}`,
      options,
    );
    this.name = 'StewardAuthError';
    this.code = init.code;
    this.description = init.description;
    this.grant = init.grant;
    this.status = init.status;
  }
}
