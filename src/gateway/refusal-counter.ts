import type { Insertable } from 'kysely';
import { auditRow } from '../audit/index.js';
import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { AuditEventTable } from '../store/schema.js';
import type { GatewayRefusal } from './refusals.js';

/** One refusal to count: who was refused, why, and what they asked for. */
export interface CountedRefusal {
  readonly code: GatewayRefusal;
  readonly status: number;
  readonly clientAddress: string;
  readonly upstream: string;
  /** The workload, when its token was valid (a rate-limited caller); absent for anonymous ones. */
  readonly identityId?: string | undefined;
  readonly service?: string | undefined;
  readonly team?: string | undefined;
  /** A finer reason, counted apart inside the record (`token_expired`, `api_key`, …). */
  readonly reason: string;
  /** What the first refusal of a window asked for; later ones only add to the counts. */
  readonly sample: {
    readonly action: string;
    readonly operation: string;
    readonly method: string | null;
    readonly path: string | null;
    readonly requestId: string;
    readonly traceparent: string;
  };
}

/**
 * Refusals counted, not recorded one by one: one `gateway.refused` event per (client address,
 * code, upstream, identity) and window, with the count, written when the window ends or on
 * shutdown. A flood then costs a few events a window, however many requests it sends.
 */
export interface RefusalAggregator {
  /** Counts one refusal; returns the id of the event that will carry it. */
  count(refusal: CountedRefusal): string;
  /** Writes every window that has ended by the clock, or every window with `all` (shutdown). */
  flush(all?: boolean): Promise<void>;
  /** Counters held, for tests and metrics. */
  size(): number;
}

function keyOf(windowStart: number, refusal: CountedRefusal): string {
  return [windowStart, refusal.clientAddress, refusal.code, refusal.upstream, refusal.identityId]
    .map((part) => String(part ?? ''))
    .join('\n');
}

interface Entry {
  readonly id: string;
  readonly windowStart: number;
  readonly first: CountedRefusal;
  readonly firstAt: number;
  lastAt: number;
  count: number;
  readonly reasons: Map<string, number>;
}

/**
 * Counters per window by default: a flood from more addresses (or naming more upstreams) than
 * this costs this many records a window, and one more.
 */
const MAX_ENTRIES = 1_000;
/** Reasons kept apart in one record; others are counted under `other`. */
const MAX_REASONS = 16;
/** Upstream names are the caller's to choose: cut to this in keys and records. */
const MAX_NAME = 200;

/**
 * @param deps.write where the records go (the gateway's group commit); failures go to `onError`.
 * @param deps.maxEntries counters per window; beyond it, refusals are counted under address `*`
 *   and upstream `*`, so that a flood from many addresses or names stays a bounded set of rows.
 */
export function createRefusalAggregator(deps: {
  clock: Clock;
  windowMs: number;
  maxEntries?: number;
  write(rows: Insertable<AuditEventTable>[]): Promise<void>;
  onError(message: string, error: unknown): void;
}): RefusalAggregator {
  const { clock, windowMs } = deps;
  const maxEntries = deps.maxEntries ?? MAX_ENTRIES;
  const entries = new Map<string, Entry>();
  let timer: NodeJS.Timeout | undefined;

  function schedule(): void {
    if (timer !== undefined || entries.size === 0) return;
    // A real-time timer reads the injected clock when it fires: windows end by that clock.
    timer = setTimeout(() => {
      timer = undefined;
      void flush(false);
    }, windowMs);
    timer.unref();
  }

  function row(entry: Entry): Insertable<AuditEventTable> {
    const { first } = entry;
    return auditRow(
      clock,
      first.identityId !== undefined
        ? {
            actor: {
              ref: `workload:${first.identityId}`,
              role: 'workload',
              identityId: first.identityId,
            },
            requestId: first.sample.requestId,
          }
        : { actor: { ref: 'anonymous', role: 'workload' }, requestId: first.sample.requestId },
      {
        type: 'gateway.refused',
        targetKind: 'gateway_call',
        targetId: entry.id,
        team: first.team,
        service: first.service,
        identityId: first.identityId,
        after: {
          code: first.code,
          status: first.status,
          upstream: first.upstream,
          action: first.sample.action,
          operation: first.sample.operation,
          method: first.sample.method,
          path: first.sample.path,
          clientAddress: first.clientAddress,
          traceparent: first.sample.traceparent,
          count: entry.count,
          reasons: Object.fromEntries(entry.reasons),
          firstAt: new Date(entry.firstAt).toISOString(),
          lastAt: new Date(entry.lastAt).toISOString(),
          window: {
            from: new Date(entry.windowStart).toISOString(),
            to: new Date(entry.windowStart + windowMs).toISOString(),
          },
        },
      },
    );
  }

  /** The earliest window still counted: once the clock has left it, the next count flushes. */
  let oldestWindow = Number.POSITIVE_INFINITY;

  async function flush(all = false): Promise<void> {
    const now = clock.now();
    const due: Entry[] = [];
    oldestWindow = Number.POSITIVE_INFINITY;
    for (const [key, entry] of entries) {
      if (all || entry.windowStart + windowMs <= now) {
        due.push(entry);
        entries.delete(key);
      } else {
        oldestWindow = Math.min(oldestWindow, entry.windowStart);
      }
    }
    schedule();
    if (due.length === 0) return;
    await deps.write(due.map(row)).catch((error: unknown) => {
      deps.onError('gateway: could not record counted refusals', error);
    });
  }

  return {
    count(counted) {
      const now = clock.now();
      if (oldestWindow + windowMs <= now) void flush(false);
      const windowStart = now - (((now % windowMs) + windowMs) % windowMs);
      let refusal: CountedRefusal = { ...counted, upstream: counted.upstream.slice(0, MAX_NAME) };
      let key = keyOf(windowStart, refusal);
      let entry = entries.get(key);
      if (entry === undefined && entries.size >= maxEntries) {
        // Too many distinct callers or names this window: one counter per code takes the rest.
        refusal = {
          ...refusal,
          clientAddress: '*',
          upstream: '*',
          identityId: undefined,
          service: undefined,
          team: undefined,
        };
        key = keyOf(windowStart, refusal);
        entry = entries.get(key);
      }
      if (entry === undefined) {
        entry = {
          id: newId(now),
          windowStart,
          first: refusal,
          firstAt: now,
          lastAt: now,
          count: 0,
          reasons: new Map(),
        };
        entries.set(key, entry);
        oldestWindow = Math.min(oldestWindow, windowStart);
        schedule();
      }
      entry.count += 1;
      entry.lastAt = Math.max(entry.lastAt, now);
      const reason =
        entry.reasons.has(refusal.reason) || entry.reasons.size < MAX_REASONS
          ? refusal.reason
          : 'other';
      entry.reasons.set(reason, (entry.reasons.get(reason) ?? 0) + 1);
      return entry.id;
    },
    flush,
    size: () => entries.size,
  };
}
