import { createHash } from 'node:crypto';

/**
 * The id of a master key: the first 8 bytes of its SHA-256, hex. Stored beside every value the
 * key sealed, so a master-key rotation knows which values are still under the previous key.
 * Eight bytes name a key without helping anyone guess it.
 */
export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('hex');
}
