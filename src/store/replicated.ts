import type { Notifications } from './notifications.js';

/**
 * A copy of shared state that each replica keeps in memory (signing keys, revocations, upstreams,
 * revealed secrets), and how it is kept in step with the database: a notification on `channel`
 * when another replica changed it (the fast path), and a poll every `pollMs` (the safety net
 * under lost notifications), in the way SPIRE's event tracker keeps its caches fresh.
 *
 * @example
 * ```ts
 * const replication: ReplicatedCache = {
 *   name: 'upstreams',
 *   channel: UPSTREAMS_CHANNEL,
 *   refresh: reload,
 *   pollMs: 5_000,
 * };
 * ```
 */
export interface ReplicatedCache {
  /** Names the cache in logs and metrics. */
  readonly name: string;
  /** The notification channel on which replicas announce changes to it. */
  readonly channel: string;
  /**
   * Re-reads the copy from the store: once on start (before the process serves), on every poll,
   * and on each notification unless {@link apply} takes it.
   */
  readonly refresh?: () => Promise<unknown>;
  /** How often {@link refresh} runs as the safety net; none when entries age out by themselves. */
  readonly pollMs?: number;
  /**
   * Applies a notification's payload directly, without a refresh: for a notification that carries
   * the change itself (a revocation) or names the one entry to drop (a rotated secret).
   */
  readonly apply?: (payload: string) => void;
  /**
   * Told when the subscriptions are lost, before the failure is reported: for a cache that must
   * stop trusting its copy until it knows it hears notifications again (API-key lookups).
   */
  readonly lost?: () => void;
}

/** Something that kept a replica's copy from following the others, reported and counted. */
export type ReplicationFailure =
  /** A refresh (poll or notification) failed, or a notification could not be applied. */
  | { readonly kind: 'refresh'; readonly cache: string; readonly error: unknown }
  /** The subscriptions were lost: notifications are missed until they are back; polls go on. */
  | { readonly kind: 'subscription'; readonly error: unknown };

/** How many failures of each kind a process has had since it started, for `/metrics`. */
export interface ReplicationFailureCounts {
  /** Failed refreshes by cache name; every cache is listed, from zero. */
  readonly refresh: ReadonlyMap<string, number>;
  readonly subscriptionsLost: number;
  /**
   * Changes stored here but not announced to the other replicas, by channel (they see the change
   * at their next poll); every cache's channel is listed, from zero.
   */
  readonly announce: ReadonlyMap<string, number>;
}

export interface Replication {
  /**
   * Subscribes every cache, then fills each one that refreshes (a failure here is thrown: the
   * process must not serve without its copies), then, with `poll`, starts the safety-net polls.
   * `onFailure` hears of every later failure, after it is counted.
   */
  start(options: {
    poll: boolean;
    onFailure?: ((failure: ReplicationFailure) => void) | undefined;
  }): Promise<void>;
  /** Unsubscribes, stops the polls, and waits for refreshes in flight. */
  stop(): Promise<void>;
  failures(): ReplicationFailureCounts;
  /**
   * Counts a change that was stored here but could not be announced on `channel`. The service
   * that announced reports it (and logs it): the write succeeded, so nothing is thrown.
   */
  countAnnounceFailure(channel: string): void;
}

/**
 * The one component that keeps every replicated cache fresh, so that no cache hand-copies
 * "subscribe, reload, poll" and no failure on the way is dropped.
 *
 * @example
 * ```ts
 * const replication = createReplication(store.notifications, [keyring.replication]);
 * await replication.start({ poll: true, onFailure: (f) => logger.error(f, 'cache not fresh') });
 * ```
 */
export function createReplication(
  notifications: Notifications,
  caches: readonly ReplicatedCache[],
): Replication {
  const names = new Set<string>();
  for (const cache of caches) {
    if (names.has(cache.name)) throw new Error(`replicated cache ${cache.name} is listed twice`);
    names.add(cache.name);
    if (!cache.refresh && !cache.apply) {
      throw new Error(`replicated cache ${cache.name} has neither refresh nor apply`);
    }
    if (cache.pollMs !== undefined && (!cache.refresh || !(cache.pollMs > 0))) {
      throw new Error(
        `replicated cache ${cache.name} polls without a refresh or a positive interval`,
      );
    }
  }
  const refreshFailures = new Map(caches.map((cache) => [cache.name, 0]));
  let subscriptionsLost = 0;
  const announceFailures = new Map(caches.map((cache) => [cache.channel, 0]));
  let onFailure: ((failure: ReplicationFailure) => void) | undefined;
  const stops: (() => void)[] = [];
  const timers: NodeJS.Timeout[] = [];
  const runners: Runner[] = [];
  let stopped = false;

  function report(failure: ReplicationFailure): void {
    if (failure.kind === 'refresh') {
      refreshFailures.set(failure.cache, (refreshFailures.get(failure.cache) ?? 0) + 1);
    } else {
      subscriptionsLost += 1;
    }
    onFailure?.(failure);
  }

  return {
    async start(options) {
      onFailure = options.onFailure;
      stopped = false;
      stops.push(
        notifications.onLost((error) => {
          for (const cache of caches) cache.lost?.();
          report({ kind: 'subscription', error });
        }),
      );
      const started: { cache: ReplicatedCache; runner: Runner | undefined }[] = [];
      for (const cache of caches) {
        const { refresh, apply } = cache;
        const runner = refresh
          ? createRunner(refresh, (error) => report({ kind: 'refresh', cache: cache.name, error }))
          : undefined;
        if (runner) runners.push(runner);
        const notified = apply
          ? (payload: string) => {
              try {
                apply(payload);
              } catch (error) {
                report({ kind: 'refresh', cache: cache.name, error });
              }
            }
          : () => void runner?.run({ queue: true });
        // Before the first refresh, so that no change falls between the two.
        stops.push(notifications.subscribe(cache.channel, notified));
        started.push({ cache, runner });
      }
      for (const { cache } of started) await cache.refresh?.();
      if (!options.poll) return;
      for (const { cache, runner } of started) {
        if (cache.pollMs === undefined || !runner) continue;
        const timer = setInterval(() => {
          if (!stopped) void runner.run({ queue: false });
        }, cache.pollMs);
        // Polls never keep the process alive on their own.
        timer.unref();
        timers.push(timer);
      }
    },

    async stop() {
      stopped = true;
      for (const stop of stops.splice(0)) stop();
      for (const timer of timers.splice(0)) clearInterval(timer);
      await Promise.all(runners.splice(0).map((runner) => runner.idle()));
    },

    failures() {
      return {
        refresh: new Map(refreshFailures),
        subscriptionsLost,
        announce: new Map(announceFailures),
      };
    },

    countAnnounceFailure(channel) {
      announceFailures.set(channel, (announceFailures.get(channel) ?? 0) + 1);
    },
  };
}

/** Runs one cache's refreshes one at a time, and reports each failure. */
interface Runner {
  /**
   * Refreshes now, or, while a refresh runs: with `queue` once more after it (a notification
   * must see the change it announced, which the running read may have missed); without, not
   * at all (a poll).
   */
  run(options: { queue: boolean }): Promise<void>;
  /** Resolves when no refresh runs. */
  idle(): Promise<void>;
}

function createRunner(refresh: () => Promise<unknown>, fail: (error: unknown) => void): Runner {
  let running: Promise<void> | undefined;
  let again = false;

  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        await refresh();
      } catch (error) {
        fail(error);
      }
    } while (again);
  }

  return {
    run({ queue }) {
      if (running) {
        if (queue) again = true;
        return running;
      }
      running = loop().finally(() => {
        running = undefined;
      });
      return running;
    },
    async idle() {
      again = false;
      await running;
    },
  };
}
