import type { Kysely } from 'kysely';
import type { Database, Notifications, ReplicatedCache } from '../store/index.js';
import type { Entity, EntityUid, PreparedEntities } from './engine/index.js';
import { ancestry, key, type EntitySource } from './entities.js';
import { decisionEngine } from './evaluator.js';
import { qualified } from './schema.js';

/** Registry changes, for the other replicas' entity snapshots. */
const REGISTRY_CHANNEL = 'steward_registry';
/**
 * The longest an entity snapshot is used without re-reading its fingerprint: the safety net
 * under the registry notifications, as the revocation and policy polls are under theirs.
 */
const ENTITY_RECHECK_MS = 1_000;
/** The most entity sets, snapshot plus described entities, kept prepared per snapshot. */
const DESCRIBED_CACHE_SIZE = 256;

/** Every entity the sources hold, read at one moment and prepared for the engine. */
export interface EntitySnapshot {
  readonly fingerprint: string;
  /** Entity keys (see `key`) of every entity held. */
  readonly known: ReadonlySet<string>;
  readonly byKey: ReadonlyMap<string, Entity>;
  /** Every entity's ancestors, transitively, by entity key. */
  readonly ancestors: ReadonlyMap<string, readonly EntityUid[]>;
  /** The snapshot prepared with `described` entities added; the snapshot alone when none. */
  preparedWith(described: readonly Entity[]): PreparedEntities;
}

/** The entity snapshot decisions use, kept fresh across replicas. */
export interface EntitySnapshots {
  /**
   * The snapshot, re-read when the registry said it changed or its recheck interval passed;
   * `fresh` re-reads its fingerprint now.
   */
  current(fresh?: boolean): Promise<EntitySnapshot>;
  /** The snapshot, re-read once if it does not hold workload `identityId` (one created since). */
  knowingWorkload(identityId: string): Promise<EntitySnapshot>;
  /** The registry changed in this process: the next decision re-reads, and the others are told. */
  changed(): void;
  /**
   * How the snapshot follows the other replicas' registry changes: each notification marks it
   * stale. No poll: the recheck a second after the last read is the safety net.
   */
  readonly replication: ReplicatedCache;
}

/**
 * When the snapshot must re-read its fingerprint: at once after a registry change in this
 * process, on another replica's notification, and at the latest a second after the last read
 * (the safety net under the notifications). All of the snapshot's cross-replica freshness is here.
 */
function registryFreshness(
  notifications: Notifications,
  onAnnounceFailed: (channel: string, error: unknown) => void,
) {
  let stale = true;
  let checkedAt = Number.NEGATIVE_INFINITY;
  return {
    /** True while the snapshot may be used without re-reading its fingerprint. */
    isFresh(now: number): boolean {
      return !stale && now - checkedAt < ENTITY_RECHECK_MS;
    },
    /** Called before a read: cleared first, so that a change signalled meanwhile marks it stale. */
    reading(now: number): void {
      stale = false;
      checkedAt = now;
    },
    /**
     * The registry write is durable by then: a failed announcement goes to `onAnnounceFailed`,
     * and the other replicas see the change at their next recheck instead.
     */
    changedHere(): void {
      stale = true;
      void notifications
        .publish(REGISTRY_CHANNEL, 'changed')
        .catch((error: unknown) => onAnnounceFailed(REGISTRY_CHANNEL, error));
    },
    replication: {
      name: 'registry',
      channel: REGISTRY_CHANNEL,
      apply: () => {
        stale = true;
      },
    } satisfies ReplicatedCache,
  };
}

/**
 * The entity snapshot over `sources`. Its fingerprint is re-read only when the registry said it
 * changed (in this process at once, from other replicas by notification) or a second has passed,
 * rather than on every decision; the entities are re-read only when the fingerprint moved.
 */
export function createEntitySnapshots(deps: {
  db: Kysely<Database>;
  notifications: Notifications;
  sources: readonly EntitySource[];
  /** Told when a registry change could not be announced to the other replicas. */
  onAnnounceFailed: (channel: string, error: unknown) => void;
}): EntitySnapshots {
  const { db, sources } = deps;
  const freshness = registryFreshness(deps.notifications, deps.onAnnounceFailed);
  let snapshot: EntitySnapshot | undefined;

  async function current(fresh = false): Promise<EntitySnapshot> {
    const now = performance.now();
    if (snapshot && !fresh && freshness.isFresh(now)) return snapshot;
    freshness.reading(now);
    const fingerprint = (await Promise.all(sources.map((s) => s.fingerprint(db)))).join('#');
    if (snapshot && snapshot.fingerprint === fingerprint) return snapshot;
    const list = (await Promise.all(sources.map((s) => s.load(db)))).flat();
    snapshot = snapshotOf(fingerprint, list);
    return snapshot;
  }

  return {
    current,
    async knowingWorkload(identityId) {
      const snap = await current();
      return snap.known.has(key({ type: qualified('Workload'), id: identityId }))
        ? snap
        : current(true);
    },
    changed: () => freshness.changedHere(),
    replication: freshness.replication,
  };
}

function snapshotOf(fingerprint: string, entities: Entity[]): EntitySnapshot {
  const prepared = decisionEngine.prepareEntities(entities);
  // The gateway describes the same few upstream entities on every call, so their prepared forms
  // are kept with the snapshot they extend (bounded, oldest out first).
  const withDescribed = new Map<string, PreparedEntities>();
  return {
    fingerprint,
    known: new Set(entities.map((e) => key(e.uid))),
    byKey: new Map(entities.map((e) => [key(e.uid), e])),
    ancestors: ancestry(entities),
    preparedWith(described) {
      if (described.length === 0) return prepared;
      const cacheKey = JSON.stringify(described);
      let found = withDescribed.get(cacheKey);
      if (found === undefined) {
        found = decisionEngine.prepareEntities([...entities, ...described]);
        if (withDescribed.size >= DESCRIBED_CACHE_SIZE) {
          const oldest = withDescribed.keys().next();
          if (!oldest.done) withDescribed.delete(oldest.value);
        }
        withDescribed.set(cacheKey, found);
      }
      return found;
    },
  };
}
