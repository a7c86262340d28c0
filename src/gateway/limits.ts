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

/**
 * Bounds on the arguments of one call (MCP tool and prompt arguments, HTTP query parameters),
 * checked before anything scans or decides them: every later step (the credential scanner, the
 * Cedar request, the record) then works on a value of bounded size and depth, whatever the
 * evaluator's own costs are.
 */
export interface ArgumentBounds {
  /** Nesting of objects and arrays below the arguments object (which is level 1). */
  readonly maxDepth: number;
  /** Keys of any one object, the arguments object included (each becomes a Cedar set element). */
  readonly maxKeysPerObject: number;
  /** Keys and array items over the whole value. */
  readonly maxEntries: number;
  /** Characters of any one string, key or value. */
  readonly maxStringLength: number;
  /** Characters of all keys and strings together, plus 8 for every other value. */
  readonly maxTotalSize: number;
}

/** The gateway's argument bounds: far above what a tool call needs, far below what hurts. */
export const ARGUMENT_BOUNDS: ArgumentBounds = Object.freeze({
  maxDepth: 32,
  maxKeysPerObject: 512,
  maxEntries: 10_000,
  maxStringLength: 256 * 1024,
  maxTotalSize: 1024 * 1024,
});

/** Why arguments were refused: a stable code and a message naming the bound. */
export interface BoundsViolation {
  readonly code: 'payload_too_large' | 'arguments_too_deep';
  readonly message: string;
}

/**
 * Checks `value` against `bounds` in one pass that stops at the first bound crossed, so its cost
 * is linear in the part of the value it reads and never more than the bounds allow. Iterative:
 * a deeply nested value cannot exhaust the stack.
 */
export function checkArgumentBounds(
  value: unknown,
  bounds: ArgumentBounds = ARGUMENT_BOUNDS,
): BoundsViolation | undefined {
  const tooLarge = (what: string): BoundsViolation => ({
    code: 'payload_too_large',
    message: `The arguments are too large: ${what}.`,
  });
  let entries = 0;
  let size = 0;
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { node, depth } = next;
    if (typeof node === 'string') {
      if (node.length > bounds.maxStringLength) {
        return tooLarge(`a string is longer than ${bounds.maxStringLength} characters`);
      }
      size += node.length;
    } else if (node === null || typeof node !== 'object') {
      size += 8;
    } else {
      if (depth > bounds.maxDepth) {
        return {
          code: 'arguments_too_deep',
          message: `The arguments are nested deeper than ${bounds.maxDepth} levels.`,
        };
      }
      let keys = 0;
      if (Array.isArray(node)) {
        for (const item of node as unknown[]) {
          if (++entries > bounds.maxEntries) {
            return tooLarge(`more than ${bounds.maxEntries} keys and items in all`);
          }
          stack.push({ node: item, depth: depth + 1 });
        }
      } else {
        // `for…in` reads keys one at a time, so an object of a million keys costs only the
        // first few hundred before it is refused.
        for (const key in node) {
          if (!Object.hasOwn(node, key)) continue;
          if (++keys > bounds.maxKeysPerObject) {
            return tooLarge(`an object has more than ${bounds.maxKeysPerObject} keys`);
          }
          if (++entries > bounds.maxEntries) {
            return tooLarge(`more than ${bounds.maxEntries} keys and items in all`);
          }
          if (key.length > bounds.maxStringLength) {
            return tooLarge(`a key is longer than ${bounds.maxStringLength} characters`);
          }
          size += key.length;
          stack.push({ node: (node as Record<string, unknown>)[key], depth: depth + 1 });
        }
      }
    }
    if (size > bounds.maxTotalSize) {
      return tooLarge(`more than ${bounds.maxTotalSize} characters in all`);
    }
  }
  return undefined;
}

/** What {@link checkJsonTextBounds} checks: the bounds a parser cannot apply while it parses. */
export type JsonTextBounds = Pick<ArgumentBounds, 'maxDepth' | 'maxKeysPerObject' | 'maxEntries'>;

/**
 * Checks the JSON text of a whole message against `bounds` before it is parsed, in one linear scan
 * of the raw characters (brackets, colons and commas inside strings do not count): nesting depth,
 * keys of any one object, and keys and array items in all. Parsing and validating a megabyte of
 * deep nesting or of tens of thousands of keys takes the event loop for a second or more (the MCP
 * SDK validates a tool call's arguments key by key); this tells first that it is not worth it.
 * Text that is not JSON passes, for the parser to refuse.
 */
export function checkJsonTextBounds(
  text: string,
  bounds: JsonTextBounds,
): BoundsViolation | undefined {
  const tooLarge = (what: string): BoundsViolation => ({
    code: 'payload_too_large',
    message: `The message is too large: ${what}.`,
  });
  /** One open object or array: how many keys or items it has so far. */
  const open: { object: boolean; count: number }[] = [];
  let entries = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c <= SPACE) continue;
    const top = open[open.length - 1];
    // An array's first item is counted where it starts; the others at their commas.
    if (top !== undefined && !top.object && top.count === 0 && c !== CLOSE_BRACKET) {
      top.count = 1;
      if (++entries > bounds.maxEntries) {
        return tooLarge(`more than ${bounds.maxEntries} keys and items in all`);
      }
    }
    if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (open.length >= bounds.maxDepth) {
        return {
          code: 'arguments_too_deep',
          message: `The message is nested deeper than ${bounds.maxDepth} levels.`,
        };
      }
      open.push({ object: c === OPEN_BRACE, count: 0 });
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      open.pop();
    } else if (top !== undefined && (c === COLON) === top.object && (c === COLON || c === COMMA)) {
      if (top.object && ++top.count > bounds.maxKeysPerObject) {
        return tooLarge(`an object has more than ${bounds.maxKeysPerObject} keys`);
      }
      if (!top.object) top.count += 1;
      if (++entries > bounds.maxEntries) {
        return tooLarge(`more than ${bounds.maxEntries} keys and items in all`);
      }
    }
  }
  return undefined;
}

const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
