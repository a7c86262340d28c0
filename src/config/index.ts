/**
 * Configuration, parsed once from the environment into a frozen, typed object.
 *
 * A bad value stops the process with a message naming the variable. Secrets may also come from
 * `<NAME>_FILE` (the Docker/Kubernetes secret-file convention). There are no default secrets.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isWellFormedSecret } from '../shared/key-format.js';
import {
  SERVER_VARIABLES,
  type ChoiceVariable,
  type RateVariable,
  type WholeVariable,
} from './variables.js';

export {
  CLIENT_VARIABLES,
  INTERNAL_VARIABLES,
  JWKS_MAX_AGE_SECONDS,
  SERVER_VARIABLES,
} from './variables.js';
export type {
  ChoiceVariable,
  RateVariable,
  TextVariable,
  Variable,
  WholeVariable,
} from './variables.js';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Embedded-mode state: SQLite database, generated master key. Absolute path. */
  readonly dataDir: string;
  /** `postgres://…` selects PostgreSQL; undefined selects SQLite in `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** 32-byte master key from `STEWARD_MASTER_KEY`; undefined means generate one (SQLite only). */
  readonly masterKey: Buffer | undefined;
  /**
   * The master key being rotated away from (`STEWARD_MASTER_KEY_PREVIOUS`): on start, every data
   * key and signing key still sealed under it is re-sealed under `masterKey`.
   */
  readonly previousMasterKey: Buffer | undefined;
  /** Bootstrap admin key for automation, used only on first start. */
  readonly adminKey: string | undefined;
  readonly trustDomain: string;
  /** Issuer URL for tokens and metadata; defaults to `http://<host>:<port>`. */
  readonly issuer: string;
  /** True when `issuer` was derived from host and port rather than set by STEWARD_ISSUER. */
  readonly issuerIsDefault: boolean;
  /** STEWARD_OTLP_ENDPOINT: OTLP/HTTP collector base URL for gateway spans; unset, none are made. */
  readonly otlpEndpoint: string | undefined;
  readonly logLevel: (typeof SERVER_VARIABLES.logLevel.choices)[number];
  /**
   * The gateway's default rate limits (token buckets, per replica): every call of one identity,
   * one identity on one upstream (an upstream's own `rateLimit` replaces it), and all calls to
   * one upstream. `STEWARD_RATE_PER_IDENTITY`, `…_PER_IDENTITY_UPSTREAM`, `…_PER_UPSTREAM` as
   * `<per second>/<burst>`.
   */
  readonly rateLimits: {
    readonly perIdentity: RateLimitConfig;
    readonly perIdentityUpstream: RateLimitConfig;
    readonly perUpstream: RateLimitConfig;
    /**
     * Gateway requests without a valid access token, per client address
     * (`STEWARD_RATE_UNAUTHENTICATED`): beyond it they are answered 429 before anything else.
     */
    readonly unauthenticated: RateLimitConfig;
  };
  /**
   * `STEWARD_GATEWAY_STORE_TIMEOUT_MS`: how long a gateway call may wait on the database (its
   * lookups and its decision record) before it is refused with 503 and nothing is forwarded.
   */
  readonly gatewayStoreTimeoutMs: number;
  /**
   * `STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS`: refusals of callers without a valid token (and
   * rate-limited ones) are counted into one record per client address, code and upstream per
   * window of this length.
   */
  readonly gatewayRefusalWindowSeconds: number;
  /** `STEWARD_API_KEY_CACHE_SECONDS`: how long a verified API-key lookup is reused; 0: never. */
  readonly apiKeyCacheSeconds: number;
  /** Token signing: algorithm, how often keys rotate, how early a new key is published. */
  readonly signing: {
    readonly algorithm: 'EdDSA' | 'ES256';
    readonly rotationSeconds: number;
    readonly leadSeconds: number;
  };
}

/** A token bucket: a steady rate, and how far above it a caller may burst. */
export interface RateLimitConfig {
  readonly perSecond: number;
  readonly burst: number;
}

/** The server's variables, short: `V.port.name`, `V.port.default` read as the table does. */
const V = SERVER_VARIABLES;

/** The defaults of {@link Config.rateLimits}. */
export const DEFAULT_RATE_LIMITS = {
  perIdentity: V.ratePerIdentity.default,
  perIdentityUpstream: V.ratePerIdentityUpstream.default,
  perUpstream: V.ratePerUpstream.default,
  unauthenticated: V.rateUnauthenticated.default,
} as const satisfies Config['rateLimits'];

/** The default of {@link Config.gatewayStoreTimeoutMs}. */
export const DEFAULT_GATEWAY_STORE_TIMEOUT_MS = V.gatewayStoreTimeoutMs.default;
/** The default of {@link Config.gatewayRefusalWindowSeconds}. */
export const DEFAULT_GATEWAY_REFUSAL_WINDOW_SECONDS = V.gatewayRefusalWindowSeconds.default;
/** The default of {@link Config.apiKeyCacheSeconds}. */
export const DEFAULT_API_KEY_CACHE_SECONDS = V.apiKeyCacheSeconds.default;
/** The default of {@link Config.signing}: what a core built without a configuration signs with. */
export const DEFAULT_SIGNING = {
  algorithm: V.signingAlgorithm.default,
  rotationSeconds: V.keyRotationSeconds.default,
  leadSeconds: V.keyLeadSeconds.default,
} as const satisfies Config['signing'];

/** Raised for a bad configuration value; the CLI prints `message` and exits 2. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** SPIFFE trust domain: lowercase letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/**
 * Reads the configuration from `env` (normally `process.env`).
 *
 * @throws ConfigError naming the first bad variable.
 */
export function loadConfig(env: Env = process.env): Config {
  const host = env[V.host.name] || V.host.default;
  const port = parsePort(env[V.port.name]);
  const dataDir = path.resolve(env[V.dataDir.name] || V.dataDir.default);
  const databaseUrl = secret(env, V.databaseUrl.name);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(V.databaseUrl.name, 'must be a postgres:// or postgresql:// URL');
  }
  const masterKeyText = secret(env, V.masterKey.name);
  const masterKey = masterKeyText === undefined ? undefined : parseMasterKey(masterKeyText);
  if (databaseUrl !== undefined && masterKey === undefined) {
    throw new ConfigError(
      V.masterKey.name,
      'is required with DATABASE_URL: replicas must share one master key, so Steward will not generate one',
    );
  }
  const previousText = secret(env, V.previousMasterKey.name);
  const previousMasterKey =
    previousText === undefined ? undefined : parseMasterKey(previousText, V.previousMasterKey.name);
  if (previousMasterKey !== undefined && masterKey === undefined) {
    throw new ConfigError(
      V.previousMasterKey.name,
      'needs STEWARD_MASTER_KEY: the previous key is re-wrapped under the new one, which must be given',
    );
  }
  if (previousMasterKey !== undefined && masterKey?.equals(previousMasterKey)) {
    throw new ConfigError(
      V.previousMasterKey.name,
      'is the same key as STEWARD_MASTER_KEY; remove it, or set STEWARD_MASTER_KEY to the new key',
    );
  }
  const adminKey = secret(env, V.adminKey.name);
  if (adminKey !== undefined) checkAdminKey(adminKey);
  const trustDomain = env[V.trustDomain.name] || V.trustDomain.default;
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw new ConfigError(
      V.trustDomain.name,
      'must be lowercase letters, digits, ".", "-" or "_" (a SPIFFE trust domain)',
    );
  }
  const issuerSet = env[V.issuer.name] || undefined;
  const issuer = (issuerSet ?? `http://${hostForUrl(host)}:${port}`).replace(/\/+$/, '');
  if (!isHttpUrl(issuer)) {
    throw new ConfigError(V.issuer.name, 'must be an http:// or https:// URL');
  }
  const logLevel = parseChoice(env, V.logLevel);
  const algorithm = parseChoice(env, V.signingAlgorithm, 'EdDSA (Ed25519) or ES256');
  const rotationSeconds = parseWhole(env, V.keyRotationSeconds);
  const leadSeconds = parseWhole(env, V.keyLeadSeconds, rotationSeconds - 1);
  const otlpEndpoint = env[V.otlpEndpoint.name] || undefined;
  if (otlpEndpoint !== undefined && !isHttpUrl(otlpEndpoint)) {
    throw new ConfigError(V.otlpEndpoint.name, 'must be an http:// or https:// URL');
  }
  const rateLimits = Object.freeze({
    perIdentity: parseRate(env, V.ratePerIdentity),
    perIdentityUpstream: parseRate(env, V.ratePerIdentityUpstream),
    perUpstream: parseRate(env, V.ratePerUpstream),
    unauthenticated: parseRate(env, V.rateUnauthenticated),
  });
  const gatewayStoreTimeoutMs = parseWhole(env, V.gatewayStoreTimeoutMs);
  const gatewayRefusalWindowSeconds = parseWhole(env, V.gatewayRefusalWindowSeconds);
  const apiKeyCacheSeconds = parseWhole(env, V.apiKeyCacheSeconds);
  return Object.freeze({
    signing: Object.freeze({ algorithm, rotationSeconds, leadSeconds }),
    rateLimits,
    gatewayStoreTimeoutMs,
    gatewayRefusalWindowSeconds,
    apiKeyCacheSeconds,
    otlpEndpoint,
    host,
    port,
    dataDir,
    databaseUrl,
    masterKey,
    previousMasterKey,
    adminKey,
    trustDomain,
    issuer,
    issuerIsDefault: issuerSet === undefined,
    logLevel,
  });
}

/** `NAME` or the contents of the file named by `NAME_FILE` (trailing newline trimmed); not both. */
function secret(env: Env, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw new ConfigError(name, `set ${name} or ${name}_FILE, not both`);
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(`${name}_FILE`, `cannot read ${file}: ${(error as Error).message}`);
    }
  }
  return direct || undefined;
}

/** `<per second>/<burst>`, e.g. `100/200`: whole numbers, burst at least 1 and at least the rate. */
function parseRate(env: Env, { name, default: fallback }: RateVariable): RateLimitConfig {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const match = /^(\d{1,9})\/(\d{1,9})$/.exec(value.trim());
  const perSecond = Number(match?.[1]);
  const burst = Number(match?.[2]);
  if (!match || perSecond < 1 || burst < perSecond) {
    throw new ConfigError(
      name,
      'must be "<calls per second>/<burst>", whole numbers with 1 <= per second <= burst (e.g. 100/200)',
    );
  }
  return Object.freeze({ perSecond, burst });
}

/** A whole number within the variable's bounds; `max` narrows them by another variable. */
function parseWhole(env: Env, variable: WholeVariable, max = variable.max): number {
  const { name, default: fallback, min, unit } = variable;
  const upper = Math.min(max, variable.max);
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > upper) {
    throw new ConfigError(name, `must be a whole number of ${unit} from ${min} to ${upper}`);
  }
  return Number(value);
}

/** One of the variable's words; `accepted` says which in the error. */
function parseChoice<T extends string>(
  env: Env,
  { name, default: fallback, choices }: ChoiceVariable<T>,
  accepted = `one of ${choices.join(', ')}`,
): T {
  const value = env[name] || fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be ${accepted}`);
  }
  return value as T;
}

/**
 * The bootstrap key must be one the API will accept later: printable ASCII without spaces, 32 to
 * 512 characters, and if it looks like a Steward key (`stw_`), a well-formed one; otherwise the
 * operator would lock themselves out.
 */
function checkAdminKey(key: string): void {
  if (key.length < 32 || key.length > 512) {
    throw new ConfigError(V.adminKey.name, 'must be 32 to 512 characters long');
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new ConfigError(V.adminKey.name, 'must be printable ASCII without spaces');
  }
  if (key.startsWith('stw_') && !isWellFormedSecret(key, 'key')) {
    throw new ConfigError(
      V.adminKey.name,
      'starts with stw_ but is not a valid Steward key (bad kind or checksum); use a generated key or another string',
    );
  }
}

function parsePort(value: string | undefined): number {
  const { name, default: fallback, min, max } = V.port;
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

/** Accepts 32 bytes as 64 hex digits or as base64/base64url. */
export function parseMasterKey(text: string, variable: string = V.masterKey.name): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64')
      : undefined;
  if (key === undefined || key.length !== 32) {
    throw new ConfigError(
      variable,
      'must be 32 random bytes, as 64 hex digits or base64 (try: openssl rand -base64 32)',
    );
  }
  return key;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
