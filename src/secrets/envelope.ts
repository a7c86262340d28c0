import { randomBytes } from 'node:crypto';
import { masterKeyId, open, seal } from '../crypto/index.js';

/**
 * Envelope encryption of one secret version: the value is sealed under a fresh 32-byte data key,
 * and the data key is sealed under the master key. Both seals bind the secret's id and version as
 * context (AAD), so a row copied onto another secret, or an old version replayed as the current
 * one, does not open. Rotating the master key re-seals the small data keys, never the values.
 */
export interface SealedVersion {
  readonly ciphertext: string;
  readonly dataKey: string;
  /** {@link masterKeyId} of the master key that sealed `dataKey`. */
  readonly wrappedBy: string;
}

/** The AAD of a version's value. */
export function valueContext(secretId: string, version: number): string {
  return `secret-value:${secretId}:${version}`;
}

/** The AAD of a version's data key under the master key. */
export function dataKeyContext(secretId: string, version: number): string {
  return `secret-data-key:${secretId}:${version}`;
}

export function sealVersion(
  masterKey: Buffer,
  secretId: string,
  version: number,
  value: string,
): SealedVersion {
  const dataKey = randomBytes(32);
  try {
    return {
      ciphertext: seal(dataKey, Buffer.from(value, 'utf8'), valueContext(secretId, version)),
      dataKey: seal(masterKey, dataKey, dataKeyContext(secretId, version)),
      wrappedBy: masterKeyId(masterKey),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** Opens a version; throws when a key, the context or the bytes do not match. */
export function openVersion(
  masterKey: Buffer,
  secretId: string,
  version: number,
  sealed: Pick<SealedVersion, 'ciphertext' | 'dataKey'>,
): string {
  const dataKey = open(masterKey, sealed.dataKey, dataKeyContext(secretId, version));
  try {
    return open(dataKey, sealed.ciphertext, valueContext(secretId, version)).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}
