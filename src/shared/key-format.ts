import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Steward's secret formats: `stw_<kind>_<random><checksum>`.
 *
 * The fixed prefix lets secret scanners (GitHub push protection, trufflehog, gitleaks) find a
 * leaked key; the CRC-32 checksum lets them, and Steward, reject a look-alike without a database
 * round trip. The random part is 32 base62 characters (about 190 bits), so a plain SHA-256 of the
 * whole key is a safe stored hash: there is nothing to brute-force.
 */
export type SecretKind = 'key' | 'join';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;

/** Generates a fresh secret of `kind`. */
export function generateSecret(kind: SecretKind): string {
  let random = '';
  // Rejection sampling keeps every base62 digit uniform (248 = 4 × 62).
  while (random.length < RANDOM_LENGTH) {
    for (const byte of randomBytes(RANDOM_LENGTH * 2)) {
      if (byte < 248 && random.length < RANDOM_LENGTH) random += BASE62.charAt(byte % 62);
    }
  }
  const body = `stw_${kind}_${random}`;
  return body + checksum(body);
}

/** True when `text` has the shape and checksum of a Steward secret of `kind`. */
export function isWellFormedSecret(text: string, kind: SecretKind): boolean {
  const prefix = `stw_${kind}_`;
  if (text.length !== prefix.length + RANDOM_LENGTH + CHECKSUM_LENGTH || !text.startsWith(prefix)) {
    return false;
  }
  const body = text.slice(0, -CHECKSUM_LENGTH);
  if (!/^[0-9A-Za-z]+$/.test(text.slice(prefix.length))) return false;
  return checksum(body) === text.slice(-CHECKSUM_LENGTH);
}

/** The stored form of a secret: SHA-256, hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A display prefix that identifies a key in a list without revealing enough to use it. */
export function displayPrefix(secret: string): string {
  return secret.startsWith('stw_')
    ? secret.slice(0, secret.indexOf('_', 4) + 5)
    : secret.slice(0, 4);
}

function checksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62.charAt(value % 62) + out;
    value = Math.floor(value / 62);
  }
  return out;
}
