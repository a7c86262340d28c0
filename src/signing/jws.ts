import { createHash, sign, verify, type KeyObject } from 'node:crypto';

/**
 * Compact JWS with the two algorithms Steward signs with, on node:crypto directly.
 *
 * Written by hand because it sits on the hot path of every token issued and every gateway call,
 * and is small: a fixed, pre-encoded header per key, one `crypto.sign`, no async hops. Tokens are
 * checked against jose in the tests (interop) and in the bench (speed).
 */
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Signs `signingInput` (`<header>.<payload>`, both base64url) and returns the signature. */
export function signInput(alg: SigningAlgorithm, key: KeyObject, signingInput: string): string {
  const data = Buffer.from(signingInput, 'ascii');
  const signature =
    alg === 'EdDSA'
      ? sign(null, data, key)
      : sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  return signature.toString('base64url');
}

/** Checks a signature made by {@link signInput}. */
export function verifyInput(
  alg: SigningAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): boolean {
  const data = Buffer.from(signingInput, 'ascii');
  return alg === 'EdDSA'
    ? verify(null, data, key, signature)
    : verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** RFC 7638 JWK thumbprint: the key id is derived from the key, so it cannot collide or lie. */
export function thumbprint(jwk: Readonly<Record<string, unknown>>): string {
  const members =
    jwk['kty'] === 'OKP'
      ? { crv: jwk['crv'], kty: jwk['kty'], x: jwk['x'] }
      : { crv: jwk['crv'], kty: jwk['kty'], x: jwk['x'], y: jwk['y'] };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
