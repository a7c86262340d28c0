import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing under a 32-byte key, for secrets at rest (signing keys, data keys).
 *
 * The output is `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`. `context` is bound as additional
 * authenticated data, so a sealed value cannot be moved to another row or purpose: opening it
 * with a different context fails.
 */
const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function seal(key: Buffer, plaintext: Buffer, context: string): string {
  if (key.length !== 32) throw new Error('seal: the key must be 32 bytes');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${VERSION}.${Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
}

/** Opens a value made by {@link seal}; throws when the key, context or bytes do not match. */
export function open(key: Buffer, sealed: string, context: string): Buffer {
  const [version, body] = sealed.split('.');
  if (version !== VERSION || body === undefined) throw new Error('open: not a sealed value');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new Error('open: sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  return Buffer.concat([
    decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
    decipher.final(),
  ]);
}
