import type { Keyring } from '../signing/index.js';
import { SIGNING_ALGORITHMS, verifyInput, type SigningAlgorithm } from '../signing/index.js';
import type { RevocationList } from '../revocation/index.js';
import type { Clock } from '../shared/clock.js';
import type { AccessTokenClaims } from './claims.js';
import { TokenError } from './errors.js';

export interface VerifiedToken {
  readonly claims: AccessTokenClaims;
  readonly kid: string;
}

export interface TokenVerifier {
  /**
   * Verifies a Steward access token: structure, `typ`, algorithm, key, signature, `iss`, `aud`
   * (when `audience` is given), `exp`/`nbf` with leeway, and revocation.
   *
   * @throws TokenError with a stable code.
   */
  verify(token: string, audience?: string | readonly string[]): VerifiedToken;
  /** Cache entries, for metrics and the bench. */
  cacheSize(): number;
}

/** Clock skew tolerated on `exp` and `nbf`. */
export const LEEWAY_SECONDS = 30;
/** Tokens longer than this are not Steward's and are not parsed. */
const MAX_TOKEN_LENGTH = 8192;

/**
 * The verifier, with a cache of tokens whose signature has been checked. A cache hit skips the
 * parsing and the signature (the expensive part) but never the expiry or the revocation check,
 * so a cached token cannot outlive either. Entries are dropped once expired, and the cache is
 * bounded (oldest first out).
 */
export function createTokenVerifier(deps: {
  keyring: Keyring;
  revocations: RevocationList;
  clock: Clock;
  issuer: string;
  cacheSize?: number;
}): TokenVerifier {
  const { keyring, revocations, clock, issuer } = deps;
  const capacity = deps.cacheSize ?? 10_000;
  const cache = new Map<string, VerifiedToken>();

  function checkTime(claims: AccessTokenClaims, now: number): void {
    if (claims.exp + LEEWAY_SECONDS <= now)
      throw new TokenError('token_expired', 'The token has expired.');
    if (claims.nbf - LEEWAY_SECONDS > now)
      throw new TokenError('token_not_yet_valid', 'The token is not valid yet.');
  }

  function checkAudience(
    claims: AccessTokenClaims,
    audience: string | readonly string[] | undefined,
  ): void {
    if (audience === undefined) return;
    const wanted = typeof audience === 'string' ? [audience] : audience;
    if (!wanted.includes(claims.aud)) {
      throw new TokenError('token_wrong_audience', 'The token was not issued for this audience.');
    }
  }

  function checkRevocation(claims: AccessTokenClaims): void {
    if (revocations.isRevoked(claims))
      throw new TokenError('token_revoked', 'The token has been revoked.');
  }

  function verifyUncached(token: string): VerifiedToken {
    const parts = token.split('.');
    if (parts.length !== 3) throw malformed();
    const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = parts;
    const header = decodeJson(encodedHeader);
    const alg = header['alg'];
    if (typeof alg !== 'string' || !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TokenError(
        'token_unsupported_algorithm',
        'The token is not signed with an accepted algorithm.',
      );
    }
    const typ = header['typ'];
    if (typeof typ !== 'string' || !/^(application\/)?at\+jwt$/i.test(typ)) {
      throw new TokenError('token_wrong_type', 'The token is not an access token (typ at+jwt).');
    }
    if (header['crit'] !== undefined) throw malformed();
    const kid = header['kid'];
    const key = typeof kid === 'string' ? keyring.verificationKey(kid) : undefined;
    if (!key || typeof kid !== 'string')
      throw new TokenError('token_unknown_key', 'The token was signed with an unknown key.');
    // The key decides the algorithm, never the token: no RS/HS/none confusion is possible.
    if (key.alg !== (alg as SigningAlgorithm)) {
      throw new TokenError(
        'token_unsupported_algorithm',
        'The token algorithm does not match its key.',
      );
    }
    if (!/^[A-Za-z0-9_-]+$/.test(encodedSignature)) throw malformed();
    const valid = verifyInput(
      key.alg,
      key.publicKey,
      `${encodedHeader}.${encodedPayload}`,
      Buffer.from(encodedSignature, 'base64url'),
    );
    if (!valid) throw new TokenError('token_bad_signature', 'The token signature is not valid.');
    const claims = decodeJson(encodedPayload);
    if (claims['iss'] !== issuer)
      throw new TokenError('token_wrong_issuer', 'The token was issued by someone else.');
    if (!hasClaims(claims)) throw malformed();
    return { claims, kid };
  }

  return {
    verify(token, audience) {
      if (token.length > MAX_TOKEN_LENGTH) throw malformed();
      const now = clock.now() / 1000;
      let verified = cache.get(token);
      if (verified === undefined) {
        verified = verifyUncached(token);
        checkTime(verified.claims, now);
        if (cache.size >= capacity) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(token, verified);
      } else if (keyring.verificationKey(verified.kid) === undefined) {
        // The key was withdrawn since: the cached verdict no longer holds.
        cache.delete(token);
        throw new TokenError('token_unknown_key', 'The token was signed with an unknown key.');
      } else {
        try {
          checkTime(verified.claims, now);
        } catch (error) {
          cache.delete(token);
          throw error;
        }
      }
      checkAudience(verified.claims, audience);
      checkRevocation(verified.claims);
      return verified;
    },
    cacheSize: () => cache.size,
  };
}

function malformed(): TokenError {
  return new TokenError('token_malformed', 'The token is not a well-formed JWT.');
}

function decodeJson(segment: string): Record<string, unknown> {
  if (segment.length === 0 || !/^[A-Za-z0-9_-]+$/.test(segment)) throw malformed();
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed();
    return value as Record<string, unknown>;
  } catch {
    throw malformed();
  }
}

function hasClaims(
  claims: Record<string, unknown>,
): claims is Record<string, unknown> & AccessTokenClaims {
  const strings = ['sub', 'aud', 'jti', 'client_id', 'sid', 'environment', 'service', 'agent_path'];
  const numbers = ['exp', 'iat', 'nbf'];
  return (
    strings.every((name) => typeof claims[name] === 'string') &&
    numbers.every((name) => typeof claims[name] === 'number' && Number.isFinite(claims[name])) &&
    (claims['task'] === undefined || typeof claims['task'] === 'string')
  );
}
