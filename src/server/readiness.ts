import { isoTime, type Clock } from '../shared/clock.js';
import type { Store } from '../store/index.js';

/** Why a replica should not take traffic now. */
export type NotReadyReason = 'unreachable' | 'migrations_pending' | 'writes_failing';

export type ReadinessReport =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: NotReadyReason; readonly error?: unknown };

/** `/readyz`: can this process do its work now, reads and writes alike. */
export interface Readiness {
  check(): Promise<ReadinessReport>;
}

/** At most one write probe per this many milliseconds, however often `/readyz` is called. */
export const WRITE_PROBE_INTERVAL_MS = 2_000;

/**
 * Readiness from the store: a read round trip, the migrations, and the outcome of the latest
 * write. A database that still answers reads but refuses writes (read-only, out of space,
 * privileges revoked) would otherwise look ready while every change fails; so besides watching
 * the writes the process makes anyway, readiness makes one small write of its own, at most once
 * per {@link WRITE_PROBE_INTERVAL_MS}: `/readyz` is unauthenticated, and a flood of it must not
 * become a flood of commits. Concurrent checks share one probe.
 */
export function createReadiness(deps: {
  store: Store;
  clock: Clock;
  probeIntervalMs?: number;
}): Readiness {
  const { store, clock } = deps;
  const interval = deps.probeIntervalMs ?? WRITE_PROBE_INTERVAL_MS;
  let lastProbeAt = Number.NEGATIVE_INFINITY;
  let probing: Promise<void> | undefined;

  function probe(): Promise<void> {
    const now = clock.now();
    if (probing === undefined && now - lastProbeAt >= interval) {
      lastProbeAt = now;
      // The outcome is kept by the store (writesFailing); the error itself is not needed here.
      probing = store
        .probeWrite(isoTime(now))
        .catch(() => {})
        .finally(() => {
          probing = undefined;
        });
    }
    return probing ?? Promise.resolve();
  }

  return {
    async check() {
      try {
        await store.ping();
        if (!(await store.migrationsCurrent()))
          return { ready: false, reason: 'migrations_pending' };
      } catch (error) {
        return { ready: false, reason: 'unreachable', error };
      }
      await probe();
      return store.writesFailing() ? { ready: false, reason: 'writes_failing' } : { ready: true };
    },
  };
}
