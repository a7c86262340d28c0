import type { Kysely } from 'kysely';
import type { Database, Notifications, ReplicatedCache } from '../store/index.js';
import {
  compilePolicies,
  policySource,
  type CompiledPolicy,
  type PolicySetDraft,
} from './compile.js';
import type { PreparedPolicySet } from './engine/index.js';
import { decisionEngine } from './evaluator.js';
import { latestVersionNumber, latestVersionRow } from './versions.js';

/** The notification channel on which policy changes are announced to other replicas. */
export const POLICIES_CHANNEL = 'steward_policies';
/** How often each replica re-reads the current version: the safety net under the notifications. */
const POLL_MS = 5_000;

/** A policy set compiled and prepared for the engine. */
export interface PreparedSet {
  readonly version: number;
  readonly draft: PolicySetDraft;
  readonly prepared: PreparedPolicySet;
  readonly byId: ReadonlyMap<string, CompiledPolicy>;
}

/** Prepares `draft` for deciding; its engine resources are freed with `prepared.release()`. */
export function prepareSet(version: number, draft: PolicySetDraft): PreparedSet {
  return {
    version,
    draft,
    prepared: decisionEngine.prepare(policySource(draft)),
    byId: new Map(draft.policies.map((p) => [p.id, p])),
  };
}

/** The set decisions use: the newest stored version, kept current across replicas. */
export interface CurrentSet {
  /** The prepared set; read from the store the first time. */
  get(): Promise<PreparedSet>;
  /**
   * This process stored `version`: it switches at once, and the other replicas are told. The
   * version is durable by then, so a failed announcement does not fail the write: it goes to
   * `onAnnounceFailed`, and the other replicas switch at their next poll instead.
   */
  stored(version: number, draft: PolicySetDraft): Promise<void>;
  /** Re-reads the current version if it changed (on start, on notification, on a timer). */
  reload(): Promise<void>;
  /**
   * How the set follows the other replicas: re-read on their notifications and every 5 seconds,
   * should a notification be lost.
   */
  readonly replication: ReplicatedCache;
}

export function createCurrentSet(deps: {
  db: Kysely<Database>;
  notifications: Notifications;
  /** Told when a stored version could not be announced to the other replicas. */
  onAnnounceFailed: (channel: string, error: unknown) => void;
}): CurrentSet {
  const { db, notifications, onAnnounceFailed } = deps;
  let loaded: PreparedSet | undefined;
  let loading: Promise<PreparedSet> | undefined;

  /** Read from the store the first time, and when forced (it moved on). */
  async function load(force: boolean): Promise<PreparedSet> {
    if (loaded && !force) return loaded;
    loading ??= (async () => {
      try {
        const row = await latestVersionRow(db);
        const version = row?.version ?? 0;
        if (loaded && loaded.version === version) return loaded;
        const next = prepareSet(
          version,
          row ? compilePolicies(row.text) : { text: '', policies: [], warnings: [] },
        );
        loaded?.prepared.release();
        loaded = next;
        return next;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  async function reload(): Promise<void> {
    const latest = await latestVersionNumber(db);
    if (!loaded || loaded.version !== latest) await load(true);
  }

  return {
    get: () => load(false),

    async stored(version, draft) {
      // This replica switches at once; the others on the notification, or at their next poll.
      const next = prepareSet(version, draft);
      if (!loaded || loaded.version < next.version) {
        loaded?.prepared.release();
        loaded = next;
      } else {
        next.prepared.release();
      }
      await notifications
        .publish(POLICIES_CHANNEL, String(version))
        .catch((error: unknown) => onAnnounceFailed(POLICIES_CHANNEL, error));
    },

    reload,

    replication: { name: 'policies', channel: POLICIES_CHANNEL, refresh: reload, pollMs: POLL_MS },
  };
}
