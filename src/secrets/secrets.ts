import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { TeamNames } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { masterKeyId } from '../crypto/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import {
  isUniqueViolation,
  type Database,
  type ReplicatedCache,
  type Store,
} from '../store/index.js';
import type { SecretTable } from '../store/schema.js';
import { canManageCredential, canReadCredential } from './access.js';
import { openVersion, sealVersion } from './envelope.js';
import type { SecretReader } from './types.js';

/** The notification channel on which secret rotations and deletions are announced. */
export const SECRETS_CHANNEL = 'steward_secrets';

/** How long a revealed value stays in memory: the gateway reads it on every call. */
export const REVEAL_CACHE_MS = 30_000;

/** A secret as the API shows it: metadata only. There is no field that could hold the value. */
export interface SecretInfo {
  readonly id: string;
  readonly name: string;
  readonly team: string | null;
  readonly description: string;
  /** The current version; the first value is version 1 and every rotation adds one. */
  readonly version: number;
  readonly versions: { readonly version: number; readonly createdAt: string }[];
  readonly rotationPeriodSeconds: number | null;
  readonly lastRotatedAt: string;
  /**
   * True when the current value was exposed (`exposedAt`), or when a rotation period is set and
   * it has passed since the last rotation.
   */
  readonly rotationDue: boolean;
  /**
   * When the gateway saw the current value come back from an upstream (and scrubbed it): the
   * value may have reached an agent, so it is due for rotation. Null when not; a rotation clears it.
   */
  readonly exposedAt: string | null;
  /** Upstreams whose credential this secret is: while there are any, it cannot be deleted. */
  readonly usedBy: string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CreateSecretInput {
  readonly name: string;
  readonly value: string;
  readonly team?: string | undefined;
  readonly rotationPeriodSeconds?: number | undefined;
  readonly description?: string | undefined;
}

export interface SecretService extends SecretReader {
  create(context: ChangeContext, input: CreateSecretInput): Promise<SecretInfo>;
  /** Metadata of the secrets `context` may read (owners: their team's), by name. */
  list(
    context: ChangeContext,
    options: { team?: string | undefined; cursor?: string | undefined; limit: number },
  ): Promise<Page<SecretInfo>>;
  get(context: ChangeContext, name: string): Promise<SecretInfo>;
  /** Stores a new value as the next version; the old versions stay, sealed, for the record. */
  rotate(context: ChangeContext, name: string, value: string): Promise<SecretInfo>;
  /** Deletes a secret and all its versions; refused (`secret_in_use`) while an upstream uses it. */
  delete(context: ChangeContext, name: string): Promise<void>;
  /**
   * How revealed values follow the other replicas: a rotation or deletion there drops the value
   * here at once (by notification); otherwise a value is re-read after {@link REVEAL_CACHE_MS}.
   */
  readonly replication: ReplicatedCache;
}

type SecretRow = SecretTable & { team_name: string | null };

function secretExists(name: string): StewardError {
  return new StewardError(
    'secret_exists',
    `A secret named ${JSON.stringify(name)} already exists.`,
  );
}

/**
 * The secret store. `masterKey` seals new data keys; `previousMasterKey`, during a master-key
 * rotation, still opens data keys that the start-up re-wrap has not reached (a replica on the old
 * key may write one meanwhile).
 */
/**
 * The upstreams that send each of `secretIds` as their credential, ordered by upstream name. The
 * upstreams folder owns them and imports this one, so the composition root hands the reader in.
 */
export type CredentialUsers = (
  source: Kysely<Database>,
  secretIds: readonly string[],
) => Promise<readonly { readonly secretId: string; readonly upstream: string }[]>;

export function createSecretService(deps: {
  store: Store;
  clock: Clock;
  masterKey: Buffer;
  previousMasterKey?: Buffer | undefined;
  credentialUsers: CredentialUsers;
  /** The registry's team names: a secret carries its team's id, and shows its name. */
  teams: TeamNames;
}): SecretService {
  const { store, clock, masterKey, credentialUsers, teams } = deps;
  const db = store.db;
  const keys = new Map<string, Buffer>([[masterKeyId(masterKey), masterKey]]);
  if (deps.previousMasterKey) keys.set(masterKeyId(deps.previousMasterKey), deps.previousMasterKey);
  const cache = new Map<string, { value: string; until: number }>();
  // Bumped on every invalidation: a reveal that read the row before a rotation committed must
  // not put the old value back into the cache after the rotation cleared it.
  let generation = 0;

  /** `rows` with their teams' names, all at once (from memory once seen: no query then). */
  async function named(trx: Kysely<Database>, rows: readonly SecretTable[]): Promise<SecretRow[]> {
    const names = await teams.namesOf(
      trx,
      rows.map((row) => row.team_id),
    );
    return rows.map((row) => ({
      ...row,
      team_name: row.team_id === null ? null : (names.get(row.team_id) ?? null),
    }));
  }

  async function findSecret(trx: Kysely<Database>, name: string): Promise<SecretRow> {
    const row = await trx
      .selectFrom('secrets')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw notFound('secret', name);
    const [withName] = await named(trx, [row]);
    if (!withName) throw new Error('unreachable: one row names as one row');
    return withName;
  }

  /** The API views of `rows`, with their versions and users, in two queries. */
  async function describe(
    trx: Kysely<Database>,
    rows: readonly SecretRow[],
  ): Promise<SecretInfo[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id);
    const [versions, users] = await Promise.all([
      trx
        .selectFrom('secret_versions')
        .select(['secret_id', 'version', 'created_at'])
        .where('secret_id', 'in', ids)
        .orderBy('version')
        .execute(),
      credentialUsers(trx, ids),
    ]);
    const now = clock.now();
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      team: row.team_name,
      description: row.description,
      version: row.current_version,
      versions: versions
        .filter((v) => v.secret_id === row.id)
        .map((v) => ({ version: v.version, createdAt: v.created_at })),
      rotationPeriodSeconds: row.rotation_period_seconds,
      lastRotatedAt: row.last_rotated_at,
      rotationDue:
        row.exposed_at !== null ||
        (row.rotation_period_seconds !== null &&
          Date.parse(row.last_rotated_at) + row.rotation_period_seconds * 1000 <= now),
      exposedAt: row.exposed_at,
      usedBy: users.filter((u) => u.secretId === row.id).map((u) => u.upstream),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  async function describeOne(trx: Kysely<Database>, row: SecretRow): Promise<SecretInfo> {
    const [info] = await describe(trx, [row]);
    if (!info) throw new Error('unreachable: one row describes as one secret');
    return info;
  }

  function mayNotManage(name: string): StewardError {
    return forbidden(`This key may not manage secret ${JSON.stringify(name)}.`);
  }

  async function insertVersion(
    trx: Transaction<Database>,
    context: ChangeContext,
    secretId: string,
    version: number,
    value: string,
    now: string,
  ): Promise<void> {
    const sealed = sealVersion(masterKey, secretId, version, value);
    await trx
      .insertInto('secret_versions')
      .values({
        secret_id: secretId,
        version,
        ciphertext: sealed.ciphertext,
        data_key: sealed.dataKey,
        wrapped_by: sealed.wrappedBy,
        created_by: context.actor.ref,
        created_at: now,
      })
      .execute();
  }

  /** Drops the cached value here and in every replica. */
  async function forget(name: string): Promise<void> {
    generation += 1;
    cache.delete(name);
    await store.notifications.publish(SECRETS_CHANNEL, name);
  }

  /** The current version of a secret, opened: its id, version and value. */
  async function openCurrent(
    trx: Kysely<Database>,
    name: string,
  ): Promise<{ id: string; version: number; value: string }> {
    const row = await trx
      .selectFrom('secrets')
      .innerJoin('secret_versions', (join) =>
        join
          .onRef('secret_versions.secret_id', '=', 'secrets.id')
          .onRef('secret_versions.version', '=', 'secrets.current_version'),
      )
      .select([
        'secrets.id',
        'secret_versions.version',
        'secret_versions.ciphertext',
        'secret_versions.data_key',
        'secret_versions.wrapped_by',
      ])
      .where('secrets.name', '=', name)
      .executeTakeFirst();
    if (!row) throw notFound('secret', name);
    const key = keys.get(row.wrapped_by);
    if (!key) {
      throw new Error(
        `secret ${JSON.stringify(name)} is sealed under master key ${row.wrapped_by}, which is neither STEWARD_MASTER_KEY nor STEWARD_MASTER_KEY_PREVIOUS`,
      );
    }
    try {
      const value = openVersion(key, row.id, row.version, {
        ciphertext: row.ciphertext,
        dataKey: row.data_key,
      });
      return { id: row.id, version: row.version, value };
    } catch {
      // Never the cause: it could carry bytes of the sealed value.
      throw new Error(`secret ${JSON.stringify(name)} does not open: wrong key or altered row`);
    }
  }

  return {
    async create(context, input) {
      try {
        return await db.transaction().execute(async (trx) => {
          let team: { id: string; name: string } | null = null;
          const teamName =
            input.team ?? (context.actor.role === 'owner' ? context.actor.teamName : undefined);
          if (teamName !== undefined) {
            const id = await teams.idOf(trx, teamName);
            if (id === undefined) throw notFound('team', teamName);
            team = { id, name: teamName };
          }
          if (!canManageCredential(context.actor, team?.id ?? null)) {
            throw forbidden(
              `This key may not create secrets for ${team ? `team ${JSON.stringify(team.name)}` : 'no team'}.`,
            );
          }
          const existing = await trx
            .selectFrom('secrets')
            .select('id')
            .where('name', '=', input.name)
            .executeTakeFirst();
          if (existing) throw secretExists(input.name);
          const nowMs = clock.now();
          const now = isoTime(nowMs);
          const row: SecretTable = {
            id: newId(nowMs),
            name: input.name,
            team_id: team?.id ?? null,
            description: input.description ?? '',
            rotation_period_seconds: input.rotationPeriodSeconds ?? null,
            current_version: 1,
            created_by: context.actor.ref,
            created_at: now,
            updated_at: now,
            last_rotated_at: now,
            exposed_at: null,
          };
          await trx.insertInto('secrets').values(row).execute();
          await insertVersion(trx, context, row.id, 1, input.value, now);
          const info = await describeOne(trx, { ...row, team_name: team?.name ?? null });
          await recordChange(trx, clock, context, {
            type: 'secret.created',
            targetKind: 'secret',
            targetId: row.id,
            team: team?.name,
            after: info,
          });
          return info;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? secretExists(input.name) : error;
      }
    },

    async list(context, { team, cursor, limit }) {
      let query = db.selectFrom('secrets').selectAll();
      if (context.actor.role === 'owner') {
        // Owners see their own team's secrets only: the others' names are not theirs to know.
        query = query.where('team_id', '=', context.actor.teamId ?? '');
      }
      // The team is found by name inside this query: no query of its own.
      if (team !== undefined) query = query.where('team_id', '=', teams.idExpression(db, team));
      if (cursor !== undefined)
        query = query.where('name', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      const page = toPage(
        rows,
        limit,
        (row) => row.name,
        (row) => row,
      );
      const items = await describe(db, await named(db, page.items));
      return page.nextCursor === undefined ? { items } : { items, nextCursor: page.nextCursor };
    },

    async get(context, name) {
      const row = await findSecret(db, name);
      if (!canReadCredential(context.actor, row.team_id)) {
        throw forbidden(`This key may not read secret ${JSON.stringify(name)}.`);
      }
      return describeOne(db, row);
    },

    async rotate(context, name, value) {
      let info: SecretInfo;
      try {
        info = await db.transaction().execute(async (trx) => {
          const row = await findSecret(trx, name);
          if (!canManageCredential(context.actor, row.team_id)) throw mayNotManage(name);
          const version = row.current_version + 1;
          const now = isoTime(clock.now());
          // The primary key (secret, version) makes a concurrent rotation fail, not interleave.
          await insertVersion(trx, context, row.id, version, value, now);
          // The new value has not been seen anywhere: an exposure mark was the old value's.
          const updated: SecretRow = {
            ...row,
            current_version: version,
            last_rotated_at: now,
            updated_at: now,
            exposed_at: null,
          };
          await trx
            .updateTable('secrets')
            .set({
              current_version: version,
              last_rotated_at: now,
              updated_at: now,
              exposed_at: null,
            })
            .where('id', '=', row.id)
            .execute();
          const before = await describeOne(trx, row);
          const after = await describeOne(trx, updated);
          await recordChange(trx, clock, context, {
            type: 'secret.rotated',
            targetKind: 'secret',
            targetId: row.id,
            team: row.team_name ?? undefined,
            before: { version: before.version, lastRotatedAt: before.lastRotatedAt },
            after: { version: after.version, lastRotatedAt: after.lastRotatedAt },
          });
          return after;
        });
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw new StewardError(
          'conflict',
          `Secret ${JSON.stringify(name)} was rotated by another request at the same time; try again.`,
        );
      }
      await forget(name);
      return info;
    },

    async delete(context, name) {
      await db.transaction().execute(async (trx) => {
        const row = await findSecret(trx, name);
        if (!canManageCredential(context.actor, row.team_id)) throw mayNotManage(name);
        const users = await credentialUsers(trx, [row.id]);
        if (users.length > 0) {
          throw new StewardError(
            'secret_in_use',
            `Secret ${JSON.stringify(name)} is the credential of upstream ${users.map((u) => JSON.stringify(u.upstream)).join(', ')}; change or delete those first.`,
          );
        }
        const before = await describeOne(trx, row);
        await trx.deleteFrom('secret_versions').where('secret_id', '=', row.id).execute();
        await trx.deleteFrom('secrets').where('id', '=', row.id).execute();
        await recordChange(trx, clock, context, {
          type: 'secret.deleted',
          targetKind: 'secret',
          targetId: row.id,
          team: row.team_name ?? undefined,
          before,
        });
      });
      await forget(name);
    },

    async reveal(name) {
      const now = clock.now();
      const cached = cache.get(name);
      if (cached && cached.until > now) return cached.value;
      const readAt = generation;
      const { value } = await openCurrent(db, name);
      if (readAt === generation) cache.set(name, { value, until: now + REVEAL_CACHE_MS });
      return value;
    },

    async markExposed(name, value) {
      return db.transaction().execute(async (trx) => {
        const current = await openCurrent(trx, name);
        const a = Buffer.from(current.value, 'utf8');
        const b = Buffer.from(value, 'utf8');
        if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
        // Only while that version is current: a rotation racing this one wins. The first
        // exposure's time is kept.
        const marked = await trx
          .updateTable('secrets')
          .set({ exposed_at: sql<string>`coalesce(exposed_at, ${isoTime(clock.now())})` })
          .where('id', '=', current.id)
          .where('current_version', '=', current.version)
          .executeTakeFirst();
        return marked.numUpdatedRows > 0n;
      });
    },

    replication: {
      name: 'secrets',
      channel: SECRETS_CHANNEL,
      apply(name) {
        generation += 1;
        cache.delete(name);
      },
    },
  };
}

/** Who a secret belongs to, as an upstream that would send it somewhere needs to know. */
export interface SecretOwner {
  readonly id: string;
  readonly name: string;
  readonly teamId: string | null;
}

/**
 * The secrets folder's read port for other folders: loads the secret named `by.name` (or with
 * id `by.id`) and its team's id, in `source` (the database or the caller's transaction); `undefined`
 * when there is none. Never its value.
 */
export async function loadSecretOwner(
  source: Kysely<Database>,
  by: { readonly name: string } | { readonly id: string },
): Promise<SecretOwner | undefined> {
  const query = source.selectFrom('secrets').select(['id', 'name', 'team_id']);
  const row = await (
    'name' in by ? query.where('name', '=', by.name) : query.where('id', '=', by.id)
  ).executeTakeFirst();
  return row && { id: row.id, name: row.name, teamId: row.team_id };
}
