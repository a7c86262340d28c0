/**
 * Every environment variable Steward reads, declared once: `loadConfig` takes its defaults and
 * bounds from here, and `scripts/configuration-doc.ts` writes the tables of
 * docs/configuration.md from here. A test fails when the page is stale or when code reads a
 * `STEWARD_*` variable this table does not declare.
 */
import type { SigningAlgorithm } from '../signing/index.js';

/** What every variable declares for its documentation. */
interface VariableBase {
  readonly name: string;
  /** What it does, after its accepted values on the page. */
  readonly text?: string;
  /** May come from `<name>_FILE` instead (secrets: the Docker/Kubernetes convention). */
  readonly fromFile?: true;
  /** The `steward up` flag that also sets it (and wins over it). */
  readonly flag?: `--${string}`;
}

/** Free text (an address, a URL, a key): `loadConfig` checks it with its own rule. */
export interface TextVariable extends VariableBase {
  readonly kind: 'text';
  /** The value when unset or empty; undefined when there is none. */
  readonly default: string | undefined;
  /** How the page shows the default, when the value alone does not say it. */
  readonly defaultText?: string;
  /** What is accepted, in words. */
  readonly accepts: string;
}

/** A whole number from `min` to `max`. */
export interface WholeVariable extends VariableBase {
  readonly kind: 'whole';
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** What the number counts, for the error message (`seconds`, `milliseconds`). */
  readonly unit: string;
  /** Another bound, set by another variable, in words after the range. */
  readonly alsoAccepts?: string;
}

/** One of a fixed list of words. */
export interface ChoiceVariable<T extends string = string> extends VariableBase {
  readonly kind: 'choice';
  readonly default: T;
  readonly choices: readonly T[];
}

/** A token bucket, `<per second>/<burst>`. */
export interface RateVariable extends VariableBase {
  readonly kind: 'rate';
  readonly default: { readonly perSecond: number; readonly burst: number };
}

export type Variable = TextVariable | WholeVariable | ChoiceVariable | RateVariable;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The signing module's algorithms, named here by type only: the CLI's client commands read this
 * table and must not load the key ring. A test holds the two lists equal.
 */
const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const satisfies readonly SigningAlgorithm[];

/**
 * How long verifiers may cache the JWKS (its `max-age`). A new key must be published at least
 * this long before it signs, or a verifier with a cached JWKS would refuse its tokens.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/** The longest a signing key may sign before the next takes over: 90 days. */
const MAX_ROTATION_SECONDS = 90 * 86_400;

/** The variables `steward up` reads (through `loadConfig`), in the order the page lists them. */
export const SERVER_VARIABLES = {
  host: {
    kind: 'text',
    name: 'STEWARD_HOST',
    default: '127.0.0.1',
    accepts: 'the address to listen on',
    text: '`0.0.0.0` or `::` without an `https://` issuer logs a warning',
    flag: '--host',
  },
  port: {
    kind: 'whole',
    name: 'STEWARD_PORT',
    default: 8080,
    min: 0,
    max: 65_535,
    unit: 'port',
    text: '0 picks a free port',
    flag: '--port',
  },
  dataDir: {
    kind: 'text',
    name: 'STEWARD_DATA_DIR',
    default: './.steward',
    accepts: 'a directory, relative to the working directory or absolute',
    text: 'Created with mode 0700 if missing. Used in embedded mode only',
    flag: '--data-dir',
  },
  databaseUrl: {
    kind: 'text',
    name: 'DATABASE_URL',
    default: undefined,
    defaultText: 'unset (embedded)',
    accepts: 'a `postgres://` or `postgresql://` URL',
    text: 'Selects PostgreSQL mode',
    fromFile: true,
  },
  masterKey: {
    kind: 'text',
    name: 'STEWARD_MASTER_KEY',
    default: undefined,
    accepts:
      '32 bytes, as 64 hex digits or as base64/base64url (43 characters, optional `=`). Required with `DATABASE_URL`',
    fromFile: true,
  },
  previousMasterKey: {
    kind: 'text',
    name: 'STEWARD_MASTER_KEY_PREVIOUS',
    default: undefined,
    accepts: 'the master key being rotated away from, in the same forms',
    text: 'Needs `STEWARD_MASTER_KEY`; on start everything sealed under it is re-sealed under `STEWARD_MASTER_KEY` (see [operations](operations.md#rotating-the-master-key))',
    fromFile: true,
  },
  adminKey: {
    kind: 'text',
    name: 'STEWARD_ADMIN_KEY',
    default: undefined,
    accepts: '32 to 512 printable ASCII characters without spaces',
    text: 'used on the first start only (see below)',
    fromFile: true,
  },
  trustDomain: {
    kind: 'text',
    name: 'STEWARD_TRUST_DOMAIN',
    default: 'steward.local',
    accepts: '1 to 255 of lowercase letters, digits, `.`, `-`, `_` (a SPIFFE trust domain)',
    flag: '--trust-domain',
  },
  issuer: {
    kind: 'text',
    name: 'STEWARD_ISSUER',
    default: undefined,
    defaultText: '`http://<host>:<port>`',
    accepts: 'an `http://` or `https://` URL; trailing slashes are removed',
    text: 'An IPv6 host is bracketed in the default',
    flag: '--issuer',
  },
  logLevel: {
    kind: 'choice',
    name: 'STEWARD_LOG_LEVEL',
    default: 'info',
    choices: LOG_LEVELS,
    flag: '--log-level',
  },
  signingAlgorithm: {
    kind: 'choice',
    name: 'STEWARD_SIGNING_ALGORITHM',
    default: 'EdDSA',
    choices: SIGNING_ALGORITHMS,
    text: 'the algorithm of new signing keys (`EdDSA` is Ed25519, `ES256` is P-256)',
  },
  keyRotationSeconds: {
    kind: 'whole',
    name: 'STEWARD_KEY_ROTATION_SECONDS',
    default: 86_400,
    min: 3_600,
    max: MAX_ROTATION_SECONDS,
    unit: 'seconds',
    text: 'how long each signing key signs before the next takes over (at most 90 days)',
  },
  keyLeadSeconds: {
    kind: 'whole',
    name: 'STEWARD_KEY_LEAD_SECONDS',
    default: 3_600,
    // Verifiers may hold a JWKS this long: a key published later than that would be refused.
    min: JWKS_MAX_AGE_SECONDS,
    max: MAX_ROTATION_SECONDS - 1,
    unit: 'seconds',
    alsoAccepts: 'less than `STEWARD_KEY_ROTATION_SECONDS`',
    text: 'how long a new key is published before it signs',
  },
  otlpEndpoint: {
    kind: 'text',
    name: 'STEWARD_OTLP_ENDPOINT',
    default: undefined,
    accepts:
      'an `http://` or `https://` URL of an OTLP/HTTP collector (`http://collector:4318`; `/v1/traces` is added)',
    text: 'Set, the gateway exports a span per call (OTLP/HTTP JSON); unset, no spans are made',
  },
  ratePerIdentity: {
    kind: 'rate',
    name: 'STEWARD_RATE_PER_IDENTITY',
    default: { perSecond: 100, burst: 200 },
    text: "the gateway's default limit on every call of one identity (token bucket, per replica)",
    flag: '--rate-per-identity',
  },
  ratePerIdentityUpstream: {
    kind: 'rate',
    name: 'STEWARD_RATE_PER_IDENTITY_UPSTREAM',
    default: { perSecond: 50, burst: 100 },
    text: "the default limit on one identity's calls to one upstream; an upstream's own `rateLimit` replaces it",
    flag: '--rate-per-identity-upstream',
  },
  ratePerUpstream: {
    kind: 'rate',
    name: 'STEWARD_RATE_PER_UPSTREAM',
    default: { perSecond: 1000, burst: 2000 },
    text: 'the limit on all calls to one upstream, whoever makes them: it protects the upstream',
    flag: '--rate-per-upstream',
  },
  rateUnauthenticated: {
    kind: 'rate',
    name: 'STEWARD_RATE_UNAUTHENTICATED',
    default: { perSecond: 20, burst: 100 },
    text: "the gateway's limit on requests without a valid access token (none, a malformed, expired or revoked one, an API key), per client address. Past it they are answered 429 before anything else is done; requests with a valid token are never counted against it",
    flag: '--rate-unauthenticated',
  },
  gatewayStoreTimeoutMs: {
    kind: 'whole',
    name: 'STEWARD_GATEWAY_STORE_TIMEOUT_MS',
    // A few seconds, below common client timeouts.
    default: 3_000,
    min: 100,
    max: 60_000,
    unit: 'milliseconds',
    text: "how long one gateway call may wait on the database (its lookups, a revocation, its decision record), counted from the request's arrival. Past it the call is refused with 503 `audit_unavailable` and nothing is forwarded. Keep it below your agents' own client timeout",
    flag: '--gateway-store-timeout',
  },
  gatewayRefusalWindowSeconds: {
    kind: 'whole',
    name: 'STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS',
    default: 60,
    min: 1,
    max: 3_600,
    unit: 'seconds',
    text: 'the window in which the gateway counts refusals of callers without a valid token, rate-limited calls and calls refused for a slow database into one `gateway.refused` record per client address, code and upstream (see [gateway](gateway.md#recording-and-scanning))',
  },
  apiKeyCacheSeconds: {
    kind: 'whole',
    name: 'STEWARD_API_KEY_CACHE_SECONDS',
    // Seconds: a revocation reaches every replica by notification; this bounds a lost one.
    default: 5,
    min: 0,
    max: 60,
    unit: 'seconds',
    text: 'how long a verified API-key lookup is reused without a query. A revoked key is refused at once on the replica that revoked it and on the others as soon as they hear of it; should the announcement be lost, no later than this. Nothing is cached while a replica is not sure it hears the others. 0 turns the cache off',
  },
} as const satisfies Record<string, Variable>;

/** The variables the CLI's client commands read (all commands but `up` and `admin recover`). */
export const CLIENT_VARIABLES = {
  url: {
    kind: 'text',
    name: 'STEWARD_URL',
    default: 'http://127.0.0.1:8080',
    accepts: "the server's base URL, `http://` or `https://`",
    text: 'The `--url` flag overrides it',
  },
  adminKey: {
    kind: 'text',
    name: 'STEWARD_ADMIN_KEY',
    default: undefined,
    defaultText: 'none',
    accepts: 'the API key the CLI sends as `Authorization: Bearer <key>`',
  },
} as const satisfies Record<string, Variable>;

/**
 * Read by Steward's own entry points, not by operators: documented so that nothing the code reads
 * goes unlisted.
 */
export const INTERNAL_VARIABLES = {
  cliEntry: {
    kind: 'text',
    name: 'STEWARD_CLI_ENTRY',
    default: undefined,
    accepts: '`1`',
    text: 'runs the CLI from `src/cli/main.ts` when it is loaded through another module (`node --import tsx`), as the CLI tests do',
  },
} as const satisfies Record<string, Variable>;
