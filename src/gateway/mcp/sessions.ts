import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { isoTime, type Clock } from '../../shared/clock.js';
import type { Database, Notifications } from '../../store/index.js';

/** Channel that tells every replica a session has ended. */
const CHANNEL = 'mcp_sessions';
/** A session unused for this long ends (each request extends it). */
export const DEFAULT_SESSION_IDLE_MS = 60 * 60_000;
/** Live sessions one identity may hold per upstream; the oldest ends when it opens one more. */
export const DEFAULT_MAX_SESSIONS_PER_IDENTITY = 32;
/** How long a replica trusts its cached copy of a session (a missed "ended" costs at most this). */
const CACHE_MS = 5_000;
const MAX_CACHED = 10_000;
/** A session's expiry is written at most this often by one replica. */
const TOUCH_MS = 60_000;
/** The capabilities a session keeps, each as the agent declared it, at most this large as JSON. */
const MAX_CAPABILITY_BYTES = 1_024;

/** The client capabilities the gateway relays: what the agent declared of them, nothing more. */
export type RelayedCapabilities = Pick<ClientCapabilities, 'elicitation' | 'sampling' | 'roots'>;

/** An agent's MCP session at the gateway: created by `initialize`, served by any replica. */
export interface McpSession {
  /** SHA-256 of the session id (hex): how the session is named everywhere but on the wire. */
  readonly hash: string;
  /** The workload identity that opened it: only a token of that identity may use it. */
  readonly identityId: string;
  readonly upstream: string;
  readonly capabilities: RelayedCapabilities;
  readonly protocolVersion: string;
  readonly expiresAt: number;
}

export interface McpSessionStore {
  /** Creates a session for `identityId`; returns its id (for `Mcp-Session-Id`) and record. */
  create(input: {
    readonly identityId: string;
    readonly upstream: string;
    readonly capabilities: unknown;
    readonly protocolVersion: string;
  }): Promise<{ readonly id: string; readonly session: McpSession; readonly ended: string[] }>;
  /** The live session with this id on this upstream, or undefined (unknown, ended or expired). */
  find(id: string, upstream: string): Promise<McpSession | undefined>;
  /** Extends the session's life (written at most once a minute per replica; best effort). */
  touch(session: McpSession): void;
  /** Ends the session everywhere. */
  end(hash: string): Promise<void>;
  /**
   * Records `upstreamSession` as the session's upstream session unless another replica recorded
   * one first; returns the one recorded (theirs or this).
   */
  claimUpstream(
    hash: string,
    upstreamSession: { readonly id: string; readonly protocolVersion: string },
  ): Promise<{ readonly id: string; readonly protocolVersion: string } | undefined>;
  /** Forgets the upstream session `id` (the upstream no longer knows it), so the next opens one. */
  forgetUpstream(hash: string, id: string): Promise<void>;
  /** The session's recorded upstream session, read from the database. */
  upstreamOf(
    hash: string,
  ): Promise<{ readonly id: string; readonly protocolVersion: string } | undefined>;
  /** Calls `listener` with the hash of each session that ends, here or on another replica. */
  onEnded(listener: (hash: string) => void): () => void;
  /** Deletes expired sessions; returns their hashes. */
  sweep(): Promise<string[]>;
  close(): void;
}

export interface McpSessionStoreOptions {
  readonly db: Kysely<Database>;
  readonly notifications: Notifications;
  readonly clock: Clock;
  readonly idleMs?: number | undefined;
  readonly maxPerIdentity?: number | undefined;
}

/** SHA-256 of a session id, hex. */
export function sessionHash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Session ids: 32 random bytes, base64url (visible ASCII, as the spec asks). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Agent-facing MCP sessions in the database, so that no replica needs to have seen `initialize`
 * to serve a session's requests. The id is unguessable (256 random bits), stored only as a
 * hash, and bound to the identity that opened it. Each replica caches what it read for a few
 * seconds; an ended session reaches the other replicas by notification at once, and by the
 * cache's expiry at the latest.
 */
export function createMcpSessionStore(options: McpSessionStoreOptions): McpSessionStore {
  const { db, clock, notifications } = options;
  const idleMs = options.idleMs ?? DEFAULT_SESSION_IDLE_MS;
  const maxPerIdentity = options.maxPerIdentity ?? DEFAULT_MAX_SESSIONS_PER_IDENTITY;
  const cache = new Map<string, { session: McpSession; until: number; touched: number }>();
  const listeners = new Set<(hash: string) => void>();

  function forget(hash: string): void {
    cache.delete(hash);
    for (const listener of listeners) listener(hash);
  }
  const unsubscribe = notifications.subscribe(CHANNEL, forget);

  function remember(session: McpSession, touched: number): void {
    if (cache.size >= MAX_CACHED) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(session.hash, { session, until: clock.now() + CACHE_MS, touched });
  }

  async function announce(hashes: readonly string[]): Promise<void> {
    for (const hash of hashes) {
      forget(hash);
      await notifications.publish(CHANNEL, hash).catch(() => {});
    }
  }

  return {
    async create(input) {
      const id = randomBytes(32).toString('base64url');
      const hash = sessionHash(id);
      const now = clock.now();
      const session: McpSession = {
        hash,
        identityId: input.identityId,
        upstream: input.upstream,
        capabilities: relayedCapabilities(input.capabilities),
        protocolVersion: input.protocolVersion,
        expiresAt: now + idleMs,
      };
      const ended = await db.transaction().execute(async (trx) => {
        const live = await trx
          .selectFrom('mcp_sessions')
          .select(['id_hash', 'created_at'])
          .where('identity_id', '=', input.identityId)
          .where('upstream', '=', input.upstream)
          .where('expires_at', '>', isoTime(now))
          .orderBy('created_at', 'desc')
          .orderBy('id_hash')
          .execute();
        const over = live.slice(maxPerIdentity - 1).map((row) => row.id_hash);
        if (over.length > 0)
          await trx.deleteFrom('mcp_sessions').where('id_hash', 'in', over).execute();
        await trx
          .insertInto('mcp_sessions')
          .values({
            id_hash: hash,
            identity_id: session.identityId,
            upstream: session.upstream,
            capabilities: JSON.stringify(session.capabilities),
            protocol_version: session.protocolVersion,
            upstream_session_id: null,
            upstream_protocol_version: null,
            created_at: isoTime(now),
            expires_at: isoTime(session.expiresAt),
          })
          .execute();
        return over;
      });
      await announce(ended);
      remember(session, now);
      return { id, session, ended };
    },

    async find(id, upstream) {
      if (!SESSION_ID.test(id)) return undefined;
      const hash = sessionHash(id);
      const now = clock.now();
      const cached = cache.get(hash);
      if (cached !== undefined && cached.until > now) {
        const { session } = cached;
        return session.upstream === upstream && session.expiresAt > now ? session : undefined;
      }
      const row = await db
        .selectFrom('mcp_sessions')
        .selectAll()
        .where('id_hash', '=', hash)
        .executeTakeFirst();
      if (row === undefined) {
        cache.delete(hash);
        return undefined;
      }
      const session: McpSession = {
        hash,
        identityId: row.identity_id,
        upstream: row.upstream,
        capabilities: relayedCapabilities(JSON.parse(row.capabilities)),
        protocolVersion: row.protocol_version,
        expiresAt: Date.parse(row.expires_at),
      };
      remember(session, cached?.touched ?? 0);
      return session.upstream === upstream && session.expiresAt > now ? session : undefined;
    },

    touch(session) {
      const now = clock.now();
      const cached = cache.get(session.hash);
      if (cached !== undefined && now - cached.touched < TOUCH_MS) return;
      const expiresAt = now + idleMs;
      remember({ ...session, expiresAt }, now);
      void db
        .updateTable('mcp_sessions')
        .set({ expires_at: isoTime(expiresAt) })
        .where('id_hash', '=', session.hash)
        .execute()
        .catch(() => {});
    },

    async end(hash) {
      await db.deleteFrom('mcp_sessions').where('id_hash', '=', hash).execute();
      await announce([hash]);
    },

    async claimUpstream(hash, upstreamSession) {
      await db
        .updateTable('mcp_sessions')
        .set({
          upstream_session_id: upstreamSession.id,
          upstream_protocol_version: upstreamSession.protocolVersion,
        })
        .where('id_hash', '=', hash)
        .where('upstream_session_id', 'is', null)
        .execute();
      cache.delete(hash);
      return this.upstreamOf(hash);
    },

    async forgetUpstream(hash, id) {
      await db
        .updateTable('mcp_sessions')
        .set({ upstream_session_id: null, upstream_protocol_version: null })
        .where('id_hash', '=', hash)
        .where('upstream_session_id', '=', id)
        .execute();
      cache.delete(hash);
    },

    async upstreamOf(hash) {
      const row = await db
        .selectFrom('mcp_sessions')
        .select(['upstream_session_id', 'upstream_protocol_version'])
        .where('id_hash', '=', hash)
        .executeTakeFirst();
      return row?.upstream_session_id != null && row.upstream_protocol_version != null
        ? { id: row.upstream_session_id, protocolVersion: row.upstream_protocol_version }
        : undefined;
    },

    onEnded(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async sweep() {
      const rows = await db
        .deleteFrom('mcp_sessions')
        .where('expires_at', '<=', isoTime(clock.now()))
        .returning('id_hash')
        .execute();
      const hashes = rows.map((row) => row.id_hash);
      await announce(hashes);
      return hashes;
    },

    close() {
      unsubscribe();
      listeners.clear();
      cache.clear();
    },
  };
}

/**
 * Of what the agent declared, the capabilities the gateway relays, each kept only when it is an
 * object of bounded size: the rest of a declaration means nothing to the gateway.
 */
function relayedCapabilities(declared: unknown): RelayedCapabilities {
  const kept: Record<string, Record<string, unknown>> = {};
  if (typeof declared !== 'object' || declared === null) return kept;
  for (const name of ['elicitation', 'sampling', 'roots'] as const) {
    const value = (declared as Record<string, unknown>)[name];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    if (JSON.stringify(value).length > MAX_CAPABILITY_BYTES) continue;
    kept[name] = value as Record<string, unknown>;
  }
  return kept;
}
