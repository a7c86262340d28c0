import { DEFAULT_RATE_LIMITS } from '../config/index.js';
import type { Clock } from '../shared/clock.js';

/** A token bucket's shape: a steady rate and how far a caller may burst above it. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** The answer of one take: allowed, or refused with how long until a token is back. */
export type RateDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes one token from the bucket `key` (created full, with `limit`), or says when to retry. */
  take(key: string, limit: RateLimit): RateDecision;
  /** Buckets held, for metrics and tests. */
  size(): number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Token buckets in memory, per replica. Limits are per replica on purpose: a shared counter
 * would put a database round trip on every call, and the limits protect upstreams from bursts
 * rather than meter usage. Buckets refill lazily on `take`, and full idle buckets are swept so
 * that the map does not grow with every identity ever seen.
 */
export function createRateLimiter(deps: { clock: Clock; maxBuckets?: number }): RateLimiter {
  const { clock } = deps;
  const maxBuckets = deps.maxBuckets ?? 100_000;
  const buckets = new Map<string, Bucket>();

  function sweep(now: number): void {
    for (const [key, bucket] of buckets) {
      // A bucket idle long enough to be full again holds nothing worth keeping.
      if (now - bucket.updatedMs > 60_000) buckets.delete(key);
    }
    // Still too many (a flood of distinct keys): drop the oldest.
    while (buckets.size >= maxBuckets) {
      const oldest = buckets.keys().next();
      if (oldest.done) break;
      buckets.delete(oldest.value);
    }
  }

  return {
    take(key, limit) {
      const now = clock.now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        if (buckets.size >= maxBuckets) sweep(now);
        bucket = { tokens: limit.burst, updatedMs: now };
        buckets.set(key, bucket);
      } else {
        const elapsed = Math.max(0, now - bucket.updatedMs) / 1000;
        bucket.tokens = Math.min(limit.burst, bucket.tokens + elapsed * limit.perSecond);
        bucket.updatedMs = now;
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { allowed: true };
      }
      const wait = limit.perSecond > 0 ? (1 - bucket.tokens) / limit.perSecond : 3600;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait)) };
    },
    size: () => buckets.size,
  };
}

/** The gateway's default limits when neither the configuration nor the upstream sets one. */
export const DEFAULT_LIMITS = DEFAULT_RATE_LIMITS;
