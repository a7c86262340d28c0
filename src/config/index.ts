/**
 * Configuration, parsed once from the environment into a frozen, typed object.
 *
 * A bad value stops the process with a message naming the variable. Secrets may also come from
 * `<NAME>_FILE` (the Docker/Kubernetes secret-file convention). There are no default secrets.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isWellFormedSecret } from '../access/key-format.js';

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
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
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

/** The defaults of {@link Config.rateLimits}. */
export const DEFAULT_RATE_LIMITS = {
  perIdentity: { perSecond: 100, burst: 200 },
  perIdentityUpstream: { perSecond: 50, burst: 100 },
  perUpstream: { perSecond: 1000, burst: 2000 },
  unauthenticated: { perSecond: 20, burst: 100 },
} as const satisfies Config['rateLimits'];

/** The default of {@link Config.gatewayStoreTimeoutMs}: a few seconds, below common client timeouts. */
export const DEFAULT_GATEWAY_STORE_TIMEOUT_MS = 3_000;
/** The default of {@link Config.gatewayRefusalWindowSeconds}. */
export const DEFAULT_GATEWAY_REFUSAL_WINDOW_SECONDS = 60;

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

/**
 * How long verifiers may cache the JWKS (its `max-age`). A new key must be published at least
 * this long before it signs, or a verifier with a cached JWKS would refuse its tokens.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** SPIFFE trust domain: lowercase letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/**
 * Reads the configuration from `env` (normally `process.env`).
 *
 * @throws ConfigError naming the first bad variable.
 */
export function loadConfig(env: Env = process.env): Config {
  const host = env['STEWARD_HOST'] || '127.0.0.1';
  const port = parsePort(env['STEWARD_PORT']);
  const dataDir = path.resolve(env['STEWARD_DATA_DIR'] || './.steward');
  const databaseUrl = secret(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  const masterKeyText = secret(env, 'STEWARD_MASTER_KEY');
  const masterKey = masterKeyText === undefined ? undefined : parseMasterKey(masterKeyText);
  if (databaseUrl !== undefined && masterKey === undefined) {
    throw new ConfigError(
      'STEWARD_MASTER_KEY',
      'is required with DATABASE_URL: replicas must share one master key, so Steward will not generate one',
    );
  }
  const previousText = secret(env, 'STEWARD_MASTER_KEY_PREVIOUS');
  const previousMasterKey =
    previousText === undefined
      ? undefined
      : parseMasterKey(previousText, 'STEWARD_MASTER_KEY_PREVIOUS');
  if (previousMasterKey !== undefined && masterKey === undefined) {
    throw new ConfigError(
      'STEWARD_MASTER_KEY_PREVIOUS',
      'needs STEWARD_MASTER_KEY: the previous key is re-wrapped under the new one, which must be given',
    );
  }
  if (previousMasterKey !== undefined && masterKey?.equals(previousMasterKey)) {
    throw new ConfigError(
      'STEWARD_MASTER_KEY_PREVIOUS',
      'is the same key as STEWARD_MASTER_KEY; remove it, or set STEWARD_MASTER_KEY to the new key',
    );
  }
  const adminKey = secret(env, 'STEWARD_ADMIN_KEY');
  if (adminKey !== undefined) checkAdminKey(adminKey);
  const trustDomain = env['STEWARD_TRUST_DOMAIN'] || 'steward.local';
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw new ConfigError(
      'STEWARD_TRUST_DOMAIN',
      'must be lowercase letters, digits, ".", "-" or "_" (a SPIFFE trust domain)',
    );
  }
  const issuer = (env['STEWARD_ISSUER'] || `http://${hostForUrl(host)}:${port}`).replace(
    /\/+$/,
    '',
  );
  if (!isHttpUrl(issuer)) {
    throw new ConfigError('STEWARD_ISSUER', 'must be an http:// or https:// URL');
  }
  const logLevel = env['STEWARD_LOG_LEVEL'] || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('STEWARD_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const algorithm = env['STEWARD_SIGNING_ALGORITHM'] || 'EdDSA';
  if (algorithm !== 'EdDSA' && algorithm !== 'ES256') {
    throw new ConfigError('STEWARD_SIGNING_ALGORITHM', 'must be EdDSA (Ed25519) or ES256');
  }
  const rotationSeconds = parseSeconds(
    env,
    'STEWARD_KEY_ROTATION_SECONDS',
    86_400,
    3_600,
    90 * 86_400,
  );
  const leadSeconds = parseSeconds(
    env,
    'STEWARD_KEY_LEAD_SECONDS',
    3_600,
    JWKS_MAX_AGE_SECONDS,
    rotationSeconds - 1,
  );
  const otlpEndpoint = env['STEWARD_OTLP_ENDPOINT'] || undefined;
  if (otlpEndpoint !== undefined && !isHttpUrl(otlpEndpoint)) {
    throw new ConfigError('STEWARD_OTLP_ENDPOINT', 'must be an http:// or https:// URL');
  }
  const rateLimits = Object.freeze({
    perIdentity: parseRate(env, 'STEWARD_RATE_PER_IDENTITY', DEFAULT_RATE_LIMITS.perIdentity),
    perIdentityUpstream: parseRate(
      env,
      'STEWARD_RATE_PER_IDENTITY_UPSTREAM',
      DEFAULT_RATE_LIMITS.perIdentityUpstream,
    ),
    perUpstream: parseRate(env, 'STEWARD_RATE_PER_UPSTREAM', DEFAULT_RATE_LIMITS.perUpstream),
    unauthenticated: parseRate(
      env,
      'STEWARD_RATE_UNAUTHENTICATED',
      DEFAULT_RATE_LIMITS.unauthenticated,
    ),
  });
  const gatewayStoreTimeoutMs = parseWhole(
    env,
    'STEWARD_GATEWAY_STORE_TIMEOUT_MS',
    DEFAULT_GATEWAY_STORE_TIMEOUT_MS,
    100,
    60_000,
    'milliseconds',
  );
  const gatewayRefusalWindowSeconds = parseWhole(
    env,
    'STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS',
    DEFAULT_GATEWAY_REFUSAL_WINDOW_SECONDS,
    1,
    3_600,
    'seconds',
  );
  return Object.freeze({
    signing: Object.freeze({ algorithm, rotationSeconds, leadSeconds }),
    rateLimits,
    gatewayStoreTimeoutMs,
    gatewayRefusalWindowSeconds,
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
    issuerIsDefault: !env['STEWARD_ISSUER'],
    logLevel: logLevel as Config['logLevel'],
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
function parseRate(env: Env, name: string, fallback: RateLimitConfig): RateLimitConfig {
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

function parseSeconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  return parseWhole(env, name, fallback, min, max, 'seconds');
}

function parseWhole(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  unit: string,
): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be a whole number of ${unit} from ${min} to ${max}`);
  }
  return Number(value);
}

/**
 * The bootstrap key must be one the API will accept later: printable ASCII without spaces, 32 to
 * 512 characters, and if it looks like a Steward key (`stw_`), a well-formed one; otherwise the
 * operator would lock themselves out.
 */
function checkAdminKey(key: string): void {
  if (key.length < 32 || key.length > 512) {
    throw new ConfigError('STEWARD_ADMIN_KEY', 'must be 32 to 512 characters long');
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new ConfigError('STEWARD_ADMIN_KEY', 'must be printable ASCII without spaces');
  }
  if (key.startsWith('stw_') && !isWellFormedSecret(key, 'key')) {
    throw new ConfigError(
      'STEWARD_ADMIN_KEY',
      'starts with stw_ but is not a valid Steward key (bad kind or checksum); use a generated key or another string',
    );
  }
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 8080;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new ConfigError('STEWARD_PORT', 'must be an integer from 0 to 65535');
  }
  return Number(value);
}

/** Accepts 32 bytes as 64 hex digits or as base64/base64url. */
export function parseMasterKey(text: string, variable = 'STEWARD_MASTER_KEY'): Buffer {
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
