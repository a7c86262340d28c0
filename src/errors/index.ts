/**
 * Steward's errors: one base class with a stable string `code`, one factory per failure.
 *
 * The `code` is part of the API contract (clients and tests match on it); the `detail` is safe to
 * show a client; anything private goes in `internal`, which is logged and never sent. No message
 * may contain a secret or a token.
 */

/** Every error code the admin API can return. Adding one is an API change: document it. */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'route_not_found'
  | 'conflict'
  | 'team_exists'
  | 'team_not_empty'
  | 'person_exists'
  | 'service_exists'
  | 'identity_exists'
  | 'identity_decommissioned'
  | 'environment_not_admitted'
  | 'invalid_status_transition'
  | 'invalid_cursor'
  | 'policy_invalid'
  | 'policy_set_too_large'
  | 'policy_request_invalid'
  | 'policy_version_mismatch'
  | 'principal_invalid'
  | 'secret_exists'
  | 'secret_in_use'
  | 'upstream_exists'
  | 'egress_refused'
  | 'tool_hash_mismatch'
  | 'not_ready'
  | 'storage_unavailable'
  | 'internal_error';

/** HTTP status and human title for each code, kept in one table so the mapping lives in one place. */
export const ERROR_CATALOG: Readonly<Record<ErrorCode, { status: number; title: string }>> = {
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  route_not_found: { status: 404, title: 'No such route' },
  conflict: { status: 409, title: 'Conflict' },
  team_exists: { status: 409, title: 'Team already exists' },
  team_not_empty: { status: 409, title: 'Team still owns resources' },
  person_exists: { status: 409, title: 'Person already exists' },
  service_exists: { status: 409, title: 'Service already exists' },
  identity_exists: { status: 409, title: 'Workload identity already exists' },
  identity_decommissioned: { status: 409, title: 'Workload identity is decommissioned' },
  environment_not_admitted: { status: 409, title: 'Service not admitted to environment' },
  invalid_status_transition: { status: 409, title: 'Invalid status transition' },
  invalid_cursor: { status: 400, title: 'Invalid pagination cursor' },
  policy_invalid: { status: 400, title: 'Policy set is not valid' },
  policy_set_too_large: { status: 413, title: 'Policy set is over a size limit' },
  policy_request_invalid: { status: 400, title: 'Authorization request is not valid' },
  policy_version_mismatch: { status: 412, title: 'Policy set changed since it was read' },
  principal_invalid: { status: 400, title: 'Principal cannot be used' },
  secret_exists: { status: 409, title: 'Secret already exists' },
  secret_in_use: { status: 409, title: 'Secret is used by an upstream' },
  upstream_exists: { status: 409, title: 'Upstream already exists' },
  egress_refused: { status: 400, title: 'Upstream address not allowed' },
  tool_hash_mismatch: { status: 409, title: 'Not the current tool definition' },
  not_ready: { status: 503, title: 'Not ready' },
  storage_unavailable: { status: 503, title: 'Storage unavailable' },
  internal_error: { status: 500, title: 'Internal server error' },
};

/** One field-level problem, as returned in a problem document's `errors` list. */
export interface FieldError {
  /** JSON Pointer into the request (`/body/name`, `/query/limit`). */
  readonly pointer: string;
  readonly detail: string;
  /** For errors in a text field (Cedar policies): the 1-based line and column. */
  readonly line?: number;
  readonly column?: number;
  /** For errors in one policy of a policy set: its id. */
  readonly policyId?: string;
}

export interface StewardErrorOptions {
  /** Field-level problems, shown to the client. */
  readonly errors?: readonly FieldError[];
  /** Private detail for the server log only; never sent. */
  readonly internal?: unknown;
  /** Sent as `Retry-After` (seconds): when a client may try again (a 503, a 429). */
  readonly retryAfterSeconds?: number;
}

/**
 * What becomes an RFC 9457 problem document, in the one place errors become HTTP
 * (`src/http/plugins/problem.ts`): a {@link StewardError}, or a gateway refusal.
 */
export interface Problem {
  /** The stable code: `code` and the last segment of `type`. */
  readonly code: string;
  readonly status: number;
  readonly title: string;
  /** The `detail`, safe to show the client. */
  readonly message: string;
  readonly errors?: readonly FieldError[] | undefined;
  /** Sent as `Retry-After` (seconds). */
  readonly retryAfterSeconds?: number | undefined;
  /** Private detail, logged for a 5xx and never sent. */
  readonly internal?: unknown;
  /** The audit event that records a gateway refusal: `recordId` and `x-steward-record`. */
  readonly recordId?: string | undefined;
  /** The `WWW-Authenticate` challenge of a 401, when not the admin API's `Bearer realm="steward"`. */
  readonly challenge?: string | undefined;
}

/**
 * The base of every error Steward raises on purpose.
 *
 * @example
 * throw new StewardError('team_exists', 'A team named "payments" already exists.');
 */
export class StewardError extends Error implements Problem {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors: readonly FieldError[];
  readonly internal: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, detail: string, options: StewardErrorOptions = {}) {
    super(detail);
    this.name = 'StewardError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.title = ERROR_CATALOG[code].title;
    this.errors = options.errors ?? [];
    this.internal = options.internal;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A missing resource, named for the client: `notFound('team', 'payments')`. */
export function notFound(kind: string, key: string): StewardError {
  return new StewardError('not_found', `No ${kind} ${JSON.stringify(key)} exists.`);
}

/** The caller is authenticated but its role or team does not allow this. */
export function forbidden(detail: string): StewardError {
  return new StewardError('forbidden', detail);
}

/** One invalid field, when a check beyond the schema fails. */
export function invalidField(pointer: string, detail: string): StewardError {
  return new StewardError('validation_failed', detail, { errors: [{ pointer, detail }] });
}

/** How long a client is asked to wait after a storage failure before it retries. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/**
 * The database is down, full, read-only or refusing work: a 503 the client may retry, saying
 * nothing of the SQL or the driver. `cause` goes to the server log, once.
 */
export function storageUnavailable(cause: unknown): StewardError {
  return new StewardError('storage_unavailable', "Steward's store is unavailable; retry later.", {
    internal: cause,
    retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS,
  });
}
