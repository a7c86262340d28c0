/**
 * The registry's fixed vocabularies and name rules.
 *
 * Names become SPIFFE path segments and URL path segments, so they follow the SPIFFE rules
 * (letters, digits, `.`, `-`, `_`; never `.` or `..`) made stricter: lowercase only, so that
 * `Payments` and `payments` cannot be two teams, and starting and ending with a letter or digit.
 */
export const ENVIRONMENTS = ['sandbox', 'pilot', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** `sandbox` < `pilot` < `production`: a service enters a later one only by admission. */
export function environmentRank(environment: Environment): number {
  return ENVIRONMENTS.indexOf(environment);
}

export const DATA_CLASSIFICATIONS = ['public', 'internal', 'confidential', 'restricted'] as const;
export type DataClassification = (typeof DATA_CLASSIFICATIONS)[number];

export const IDENTITY_STATUSES = ['active', 'disabled', 'decommissioned'] as const;
export type IdentityStatus = (typeof IDENTITY_STATUSES)[number];

/** A team, service or agent-path segment name: 1 to 63 characters. */
export const NAME_PATTERN = '^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$';

/** An agent path: 1 to 8 name segments joined by `/`, at most 200 characters. */
export const AGENT_PATH_PATTERN =
  '^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?(?:/[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?){0,7}$';
export const AGENT_PATH_MAX_LENGTH = 200;

/**
 * The longest access-token lifetime each environment allows, in seconds. An identity's own
 * maximum may be lower, never higher: production credentials live minutes, not hours.
 */
export const MAX_TOKEN_TTL_SECONDS: Readonly<Record<Environment, number>> = {
  sandbox: 3600,
  pilot: 1800,
  production: 900,
};
export const MIN_TOKEN_TTL_SECONDS = 60;

/** No access token lives longer than this, whatever its environment (plus clock leeway). */
export const MAX_TOKEN_LIFETIME_MS =
  (Math.max(...Object.values(MAX_TOKEN_TTL_SECONDS)) + 60) * 1000;
export const DEFAULT_MAX_TOKEN_TTL_SECONDS = 900;

/**
 * How long a workload may keep renewing its token from one attestation, by default: a working
 * day. After that it must prove who it is again (a new join token or platform token).
 */
export const DEFAULT_MAX_SESSION_SECONDS = 8 * 3600;
export const MAX_SESSION_SECONDS = 7 * 24 * 3600;

/** `spiffe://<trust-domain>/<environment>/<service>/<agent-path>` */
export function spiffeId(
  trustDomain: string,
  environment: Environment,
  service: string,
  agentPath: string,
): string {
  return `spiffe://${trustDomain}/${environment}/${service}/${agentPath}`;
}
