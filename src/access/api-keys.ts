import { timingSafeEqual } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { recordChange } from '../audit/index.js';
import { forbidden, invalidField, notFound } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import { DEFAULT_API_KEY_CACHE_SECONDS } from '../config/index.js';
import {
  claimMarker,
  type Database,
  type Notifications,
  type ReplicatedCache,
} from '../store/index.js';
import type { ApiKeyTable } from '../store/schema.js';
import {
  displayPrefix,
  generateSecret,
  hashSecret,
  isWellFormedSecret,
} from '../shared/key-format.js';
import type { Actor, ChangeContext, Role } from '../actors/index.js';
import type { TeamNames } from './team-names.js';
import { createKeyCache, API_KEYS_CHANNEL } from './key-cache.js';

/** An API key as listed: everything but the secret, which is shown once at creation. */
export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly team: string | null;
  readonly prefix: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  readonly lastUsedAt: string | null;
  readonly status: 'active' | 'expired' | 'revoked';
}

export interface CreateApiKeyInput {
  readonly name: string;
  readonly role: Role;
  /** Required for, and only for, `owner` keys. */
  readonly team?: string;
  readonly ttlSeconds?: number;
}

/** How often a key's `lastUsedAt` is written at most: a write per request would be a hot spot. */
const LAST_USED_GRANULARITY_MS = 60_000;

export interface ApiKeyService {
  /** Creates a key; the result's `key` is the only time the secret exists outside the caller. */
  create(context: ChangeContext, input: CreateApiKeyInput): Promise<ApiKey & { key: string }>;
  list(options: {
    cursor?: string | undefined;
    limit: number;
    includeRevoked?: boolean | undefined;
  }): Promise<Page<ApiKey>>;
  get(id: string): Promise<ApiKey>;
  revoke(context: ChangeContext, id: string): Promise<ApiKey>;
  /** The actor behind a bearer key, or undefined when the key is unknown, revoked or expired. */
  authenticate(presented: string): Promise<Actor | undefined>;
  /**
   * Makes the first admin key, once per database: `key` when given (STEWARD_ADMIN_KEY), else a
   * generated one. Returns the generated secret, or undefined when nothing was generated.
   */
  bootstrap(adminKey: string | undefined): Promise<{ created: boolean; generated?: string }>;
  /**
   * Mints a new admin key for an operator who lost every other (`steward admin recover`), and
   * records both `apikey.created` and `admin.recovered`, naming who ran it, in one transaction.
   * The caller proves possession of the master key first; this only writes.
   */
  recover(
    context: ChangeContext,
    input: { name: string; recoveredBy: RecoveredBy },
  ): Promise<ApiKey & { key: string }>;
  /**
   * How the cache of verified lookups follows the other replicas: a revoked key is dropped on
   * their notification, and nothing is cached while the subscription is not known to work.
   */
  readonly replication: ReplicatedCache;
}

/** Who ran a recovery, as the operating system names them: the trail's only word on it. */
export interface RecoveredBy {
  readonly osUser: string;
  readonly host: string;
}

export function createApiKeyService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  /**
   * The registry's team names: a key carries its team's id, and its name comes from memory (no
   * query on `authenticate`, the admin API's hot path, once the team has been seen).
   */
  teams: TeamNames;
  /**
   * Where a revocation is announced to the other replicas, and where this process checks that it
   * hears them. Without it (a one-shot command) nothing is cached.
   */
  notifications?: Pick<Notifications, 'publish'> | undefined;
  /** How long a verified lookup is reused, in ms (`STEWARD_API_KEY_CACHE_SECONDS`); 0: never. */
  cacheTtlMs?: number | undefined;
  /** Told when a revocation was stored but could not be announced to the other replicas. */
  onAnnounceFailed?: ((channel: string, error: unknown) => void) | undefined;
}): ApiKeyService {
  const { db, clock, teams, notifications, onAnnounceFailed } = deps;
  const cache = createKeyCache({
    ttlMs: notifications ? (deps.cacheTtlMs ?? DEFAULT_API_KEY_CACHE_SECONDS * 1000) : 0,
    publish: (payload) =>
      notifications
        ? notifications.publish(API_KEYS_CHANNEL, payload)
        : Promise.reject(new Error('no notifications')),
    onAnnounceFailed: (error) => onAnnounceFailed?.(API_KEYS_CHANNEL, error),
  });

  /** The "last used" write: at most once a minute per key, as seen by the row or the cache. */
  async function touch(id: string, lastUsedAt: number | null, now: number): Promise<boolean> {
    if (lastUsedAt !== null && lastUsedAt >= now - LAST_USED_GRANULARITY_MS) return false;
    await db
      .updateTable('api_keys')
      .set({ last_used_at: isoTime(now) })
      .where('id', '=', id)
      .execute();
    return true;
  }

  async function teamNameOf(source: Kysely<Database>, teamId: string | null) {
    return teamId === null ? null : ((await teams.namesOf(source, [teamId])).get(teamId) ?? null);
  }

  async function view(row: ApiKeyTable, trx: Kysely<Database> = db): Promise<ApiKey> {
    return toApiKey(row, await teamNameOf(trx, row.team_id), clock.now());
  }

  async function insertKey(
    trx: Transaction<Database>,
    context: ChangeContext,
    input: {
      name: string;
      role: Role;
      teamId: string | null;
      teamName: string | null;
      secret: string;
      ttlSeconds?: number | undefined;
    },
  ): Promise<ApiKey> {
    const now = clock.now();
    const row: ApiKeyTable = {
      id: newId(now),
      name: input.name,
      role: input.role,
      team_id: input.teamId,
      key_hash: hashSecret(input.secret),
      key_prefix: displayPrefix(input.secret),
      created_by: context.actor.ref,
      created_at: isoTime(now),
      expires_at: input.ttlSeconds === undefined ? null : isoTime(now + input.ttlSeconds * 1000),
      revoked_at: null,
      revoked_by: null,
      last_used_at: null,
    };
    await trx.insertInto('api_keys').values(row).execute();
    const created = toApiKey(row, input.teamName, now);
    await recordChange(trx, clock, context, {
      type: 'apikey.created',
      targetKind: 'apikey',
      targetId: row.id,
      team: input.teamName ?? undefined,
      after: created,
    });
    return created;
  }

  return {
    async create(context, input) {
      if ((input.role === 'owner') !== (input.team !== undefined)) {
        throw invalidField('/body/team', 'An owner key needs a team; other roles take none.');
      }
      const secret = generateSecret('key');
      const created = await db.transaction().execute(async (trx) => {
        let teamId: string | null = null;
        if (input.team !== undefined) {
          teamId = (await teams.idOf(trx, input.team)) ?? null;
          if (teamId === null) throw notFound('team', input.team);
        }
        return insertKey(trx, context, {
          name: input.name,
          role: input.role,
          teamId,
          teamName: input.team ?? null,
          secret,
          ttlSeconds: input.ttlSeconds,
        });
      });
      return { ...created, key: secret };
    },

    async list({ cursor, limit, includeRevoked }) {
      let query = db.selectFrom('api_keys').selectAll();
      if (!includeRevoked) query = query.where('revoked_at', 'is', null);
      if (cursor !== undefined)
        query = query.where('id', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      // The teams' names for the whole page at once (from memory once seen), not one per key.
      const names = await teams.namesOf(
        db,
        rows.map((row) => row.team_id),
      );
      const now = clock.now();
      return toPage(
        rows,
        limit,
        (row) => row.id,
        (row) => toApiKey(row, row.team_id === null ? null : (names.get(row.team_id) ?? null), now),
      );
    },

    async get(id) {
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw notFound('API key', id);
      return view(row);
    },

    async revoke(context, id) {
      const revoked = await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('api_keys')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirst();
        if (!row) throw notFound('API key', id);
        const before = await view(row, trx);
        if (row.revoked_at !== null) return before; // revoking twice is a no-op, not an error
        if (context.actor.ref === `apikey:${id}`) {
          throw forbidden('A key cannot revoke itself; use another admin key.');
        }
        const now = isoTime(clock.now());
        await trx
          .updateTable('api_keys')
          .set({ revoked_at: now, revoked_by: context.actor.ref })
          .where('id', '=', id)
          .execute();
        const after = await view({ ...row, revoked_at: now, revoked_by: context.actor.ref }, trx);
        await recordChange(trx, clock, context, {
          type: 'apikey.revoked',
          targetKind: 'apikey',
          targetId: id,
          team: after.team ?? undefined,
          before,
          after,
        });
        return after;
      });
      // Committed: refused at once here, and on the other replicas when they hear of it (within
      // the cache's lifetime at worst, should the announcement be lost).
      if (revoked.revokedAt !== null) await cache.revoked(id);
      return revoked;
    },

    async authenticate(presented) {
      // A `stw_key_` look-alike with a bad checksum is rejected without touching the database.
      if (presented.startsWith('stw_') && !isWellFormedSecret(presented, 'key')) return undefined;
      if (presented.length < 32 || presented.length > 512) return undefined;
      const hash = hashSecret(presented);
      const now = clock.now();
      // A verified lookup, reused: found by the hash of the presented key (never the key), the
      // hashes compared in constant time all the same, the expiry checked against the clock.
      const cached = cache.get(hash, now);
      if (cached) {
        if (await touch(cached.id, cached.lastUsedAt, now)) cached.lastUsedAt = now;
        return cached.actor;
      }
      const generation = cache.generation();
      const row = await db
        .selectFrom('api_keys')
        .select(['id', 'role', 'team_id', 'key_hash', 'expires_at', 'revoked_at', 'last_used_at'])
        .where('key_hash', '=', hash)
        .executeTakeFirst();
      // The lookup is by the hash of a high-entropy key, which leaks nothing useful; the
      // constant-time comparison keeps the check itself free of early exits all the same.
      if (!row || !timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(hash, 'hex')))
        return undefined;
      if (row.revoked_at !== null) return undefined;
      const expiresAt = row.expires_at === null ? null : Date.parse(row.expires_at);
      if (expiresAt !== null && expiresAt <= now) return undefined;
      const lastUsedAt = row.last_used_at === null ? null : Date.parse(row.last_used_at);
      const touched = await touch(row.id, lastUsedAt, now);
      const teamName = await teamNameOf(db, row.team_id);
      const actor: Actor = {
        ref: `apikey:${row.id}`,
        role: row.role as Role,
        ...(row.team_id !== null ? { teamId: row.team_id } : {}),
        ...(teamName ? { teamName } : {}),
      };
      cache.put(generation, {
        hash,
        id: row.id,
        actor,
        expiresAt,
        lastUsedAt: touched ? now : lastUsedAt,
        cachedAt: now,
      });
      return actor;
    },

    async bootstrap(adminKey) {
      return db.transaction().execute(async (trx) => {
        // Once per database, even when several replicas start together.
        if (!(await claimMarker(trx, 'bootstrap_admin_key', isoTime(clock.now()))))
          return { created: false };
        const secret = adminKey ?? generateSecret('key');
        await insertKey(
          trx,
          { actor: { ref: 'system', role: 'system' } },
          {
            name: 'bootstrap',
            role: 'admin',
            teamId: null,
            teamName: null,
            secret,
          },
        );
        return adminKey === undefined ? { created: true, generated: secret } : { created: true };
      });
    },

    async recover(context, input) {
      const secret = generateSecret('key');
      const created = await db.transaction().execute(async (trx) => {
        const key = await insertKey(trx, context, {
          name: input.name,
          role: 'admin',
          teamId: null,
          teamName: null,
          secret,
        });
        await recordChange(trx, clock, context, {
          type: 'admin.recovered',
          targetKind: 'apikey',
          targetId: key.id,
          after: {
            apiKey: { id: key.id, name: key.name, role: key.role, prefix: key.prefix },
            osUser: input.recoveredBy.osUser,
            host: input.recoveredBy.host,
          },
        });
        return key;
      });
      return { ...created, key: secret };
    },

    replication: cache.replication,
  };
}

function toApiKey(row: ApiKeyTable, team: string | null, now: number): ApiKey {
  const status =
    row.revoked_at !== null
      ? 'revoked'
      : row.expires_at !== null && Date.parse(row.expires_at) <= now
        ? 'expired'
        : 'active';
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    team,
    prefix: row.key_prefix,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    lastUsedAt: row.last_used_at,
    status,
  };
}
