import { randomBytes } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.
 *
 * Ids sort by creation time, so keyset pagination on the id alone is stable and the primary-key
 * index stays append-mostly on both SQLite and PostgreSQL.
 */
export function newId(nowMs: number = Date.now()): string {
  const bytes = Buffer.alloc(16);
  takeRandom(bytes, 6);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70; // version 7
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Random bytes are drawn from the CSPRNG in blocks and handed out in slices: one `randomBytes`
 * call per id cost more than the rest of the id. Each byte is used once.
 */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

function takeRandom(target: Buffer, from: number): void {
  const needed = target.length - from;
  if (poolOffset + needed > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  pool.copy(target, from, poolOffset, poolOffset + needed);
  poolOffset += needed;
}

/** `bytes` random bytes as lowercase hex, from the same pool (trace and span ids). */
export function randomHex(bytes: number): string {
  const target = Buffer.allocUnsafe(bytes);
  takeRandom(target, 0);
  return target.toString('hex');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a lowercase canonical UUID; used to reject junk ids before they reach a query. */
export function isId(text: string): boolean {
  return UUID.test(text);
}
