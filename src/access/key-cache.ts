import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ReplicatedCache } from '../store/index.js';
import type { Actor } from '../actors/index.js';

/** The channel on which replicas announce revoked API keys (and check that they hear it). */
export const API_KEYS_CHANNEL = 'steward_api_keys';

/** At most this many keys are kept; the oldest goes first (only verified keys ever get in). */
const MAX_ENTRIES = 10_000;

/** While the subscription is not confirmed, a probe goes out at most this often. */
const PROBE_EVERY_MS = 1_000;

/** A key's verified lookup, as reused until it leaves the cache. */
export interface CachedKey {
  /** The SHA-256 of the presented key, as stored: the raw key is never kept. */
  readonly hash: string;
  readonly id: string;
  readonly actor: Actor;
  /** `expires_at` in ms, honoured on every hit; null: never. */
  readonly expiresAt: number | null;
  /** When "last used" was last written, as far as this process knows. */
  lastUsedAt: number | null;
  readonly cachedAt: number;
}

export interface KeyCache {
  /** The entry for `hash`, unless it is absent, older than the lifetime, or the key expired. */
  get(hash: string, now: number): CachedKey | undefined;
  /** A token taken before a lookup: {@link put} drops an entry read before an invalidation. */
  generation(): number;
  /** Keeps a verified lookup, unless caching is off or something was invalidated since `generation`. */
  put(generation: number, entry: CachedKey): void;
  /** A key was revoked here: dropped at once, then announced to the other replicas. */
  revoked(id: string): Promise<void>;
  readonly replication: ReplicatedCache;
  /** How many entries are kept (tests and metrics). */
  size(): number;
}

/**
 * The cache of verified API-key lookups behind `authenticate`. Fail closed: it serves an entry
 * only while the replica can hear the others' revocations. Until a probe published on
 * {@link API_KEYS_CHANNEL} has come back through this replica's own subscription (on start, and
 * again after every lost subscription, which also empties it) nothing is cached, so a key revoked
 * elsewhere is never served from memory past the moment this replica hears of it; and no entry
 * outlives `ttlMs`, which bounds the harm of an announcement lost on the way.
 */
export function createKeyCache(deps: {
  /** 0 turns the cache off. */
  ttlMs: number;
  publish: (payload: string) => Promise<void>;
  onAnnounceFailed: (error: unknown) => void;
}): KeyCache {
  const { ttlMs, publish, onAnnounceFailed } = deps;
  const entries = new Map<string, CachedKey>();
  /** This process's probes: `probe:<nonce>:<epoch>`; another replica's are ignored. */
  const nonce = randomBytes(12).toString('hex');
  let epoch = 0;
  let confirmed = false;
  let lastProbe = Number.NEGATIVE_INFINITY;
  let generation = 0;

  function invalidate(id?: string): void {
    generation += 1;
    if (id === undefined) {
      entries.clear();
      return;
    }
    for (const [hash, entry] of entries) if (entry.id === id) entries.delete(hash);
  }

  async function probe(): Promise<void> {
    if (ttlMs === 0 || confirmed) return;
    lastProbe = performance.now();
    await publish(`probe:${nonce}:${epoch}`);
  }

  function lost(): void {
    confirmed = false;
    epoch += 1;
    lastProbe = Number.NEGATIVE_INFINITY;
    invalidate();
  }

  return {
    get(hash, now) {
      if (ttlMs === 0) return undefined;
      if (!confirmed) {
        // Fire and forget, at most once a second: the answer comes on the subscription.
        if (performance.now() - lastProbe >= PROBE_EVERY_MS) void probe().catch(() => {});
        return undefined;
      }
      const entry = entries.get(hash);
      if (!entry) return undefined;
      const fresh =
        now >= entry.cachedAt &&
        now < entry.cachedAt + ttlMs &&
        (entry.expiresAt === null || now < entry.expiresAt);
      if (!fresh || !timingSafeEqual(Buffer.from(entry.hash, 'hex'), Buffer.from(hash, 'hex'))) {
        entries.delete(hash);
        return undefined;
      }
      return entry;
    },

    generation: () => generation,

    put(taken, entry) {
      if (ttlMs === 0 || !confirmed || taken !== generation) return;
      entries.delete(entry.hash);
      if (entries.size >= MAX_ENTRIES) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(entry.hash, { ...entry, actor: Object.freeze({ ...entry.actor }) });
    },

    async revoked(id) {
      invalidate(id);
      if (ttlMs === 0) return;
      await publish(`revoked:${id}`).catch(onAnnounceFailed);
    },

    replication: {
      name: 'api-keys',
      channel: API_KEYS_CHANNEL,
      // On start: the first probe (its echo turns caching on); if it cannot go out, the next
      // lookups send it again, and until then they go to the database.
      refresh: () => probe().catch(() => {}),
      apply(payload) {
        if (payload.startsWith('revoked:')) {
          invalidate(payload.slice('revoked:'.length));
        } else if (payload.startsWith('probe:')) {
          if (payload === `probe:${nonce}:${epoch}`) confirmed = true;
        } else {
          // Unknown: the safe reading is "anything may have changed".
          invalidate();
          throw new Error(
            `a notification on ${API_KEYS_CHANNEL} is neither a revocation nor a probe`,
          );
        }
      },
      lost,
    },

    size: () => entries.size,
  };
}
