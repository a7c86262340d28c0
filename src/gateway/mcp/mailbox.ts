import type { Kysely } from 'kysely';
import type { Clock } from '../../shared/clock.js';
import { isoTime } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import type { Database, Notifications } from '../../store/index.js';

/** The notification channel that says "a message for this mailbox is in the table". */
const CHANNEL = 'mcp_relay';
/** The safety net under the notifications: how often waiting replicas look for their messages. */
const DEFAULT_POLL_MS = 1_000;
/** Waits one replica may hold at once (pending relayed requests and running calls together). */
const DEFAULT_MAX_WAITERS = 10_000;
/** Mailbox names are built by the gateway from a session hash and a JSON-RPC id of bounded length. */
const MAX_BOX_LENGTH = 256;

/** Why a wait ended without a message. */
export class MailboxWaitError extends Error {
  constructor(readonly reason: 'timeout' | 'aborted' | 'full' | 'closed') {
    super(`mailbox wait ended: ${reason}`);
    this.name = 'MailboxWaitError';
  }
}

/**
 * Hands one message from the replica that received it to the replica waiting for it: an agent's
 * answer to a relayed elicitation lands on any replica, as does its cancellation of a running
 * call. A message for a waiter on this replica goes straight to it; any other is written to the
 * `mcp_session_messages` table and announced on the store's notifications (PostgreSQL
 * LISTEN/NOTIFY), and the replica that waits for it claims it by deleting the row, so it is
 * taken once. Replicas with waiters also poll for their mailboxes, so a lost notification costs a
 * second, not the message. Unclaimed messages expire.
 */
export interface Mailbox {
  /**
   * Waits for the next message to `box`. Rejects with a `MailboxWaitError` on timeout, abort,
   * close, or when this replica already waits for too many.
   */
  wait(
    box: string,
    options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
  ): Promise<string>;
  /** Delivers `payload` to `box`, kept for `ttlMs` if nobody waits for it yet. */
  deliver(box: string, payload: string, ttlMs: number): Promise<void>;
  /** Deletes expired messages; a timer does this too. */
  sweep(): Promise<void>;
  close(): void;
}

export interface MailboxOptions {
  readonly db: Kysely<Database>;
  readonly notifications: Notifications;
  readonly clock: Clock;
  readonly pollMs?: number;
  readonly maxWaiters?: number;
}

interface Waiter {
  readonly resolve: (payload: string) => void;
  readonly fail: (error: MailboxWaitError) => void;
}

export function createMailbox(options: MailboxOptions): Mailbox {
  const { db, clock } = options;
  const maxWaiters = options.maxWaiters ?? DEFAULT_MAX_WAITERS;
  const waiters = new Map<string, Waiter>();
  let closed = false;

  async function claim(box: string): Promise<void> {
    if (!waiters.has(box)) return;
    const rows = await db
      .deleteFrom('mcp_session_messages')
      .where('mailbox', '=', box)
      .where('expires_at', '>', isoTime(clock.now()))
      .returning(['id', 'payload'])
      .execute();
    // One per wait: several rows (two answers to one request) are one too many; the first wins.
    const first = rows.sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    if (first !== undefined) waiters.get(box)?.resolve(first.payload);
  }

  const unsubscribe = options.notifications.subscribe(CHANNEL, (box) => {
    void claim(box).catch(() => {});
  });

  async function poll(): Promise<void> {
    if (waiters.size === 0) return;
    const boxes = [...waiters.keys()];
    for (let i = 0; i < boxes.length; i += 500) {
      const found = await db
        .selectFrom('mcp_session_messages')
        .select('mailbox')
        .where('mailbox', 'in', boxes.slice(i, i + 500))
        .execute();
      for (const { mailbox } of found) await claim(mailbox);
    }
  }

  async function sweep(): Promise<void> {
    await db
      .deleteFrom('mcp_session_messages')
      .where('expires_at', '<=', isoTime(clock.now()))
      .execute();
  }

  let sweeps = 0;
  const timer = setInterval(() => {
    void poll().catch(() => {});
    // Expired messages are few (answers nobody waited for): swept every minute or so.
    sweeps += 1;
    if (sweeps % 60 === 0) void sweep().catch(() => {});
  }, options.pollMs ?? DEFAULT_POLL_MS);
  timer.unref();

  return {
    wait(box, { timeoutMs, signal }) {
      if (closed) return Promise.reject(new MailboxWaitError('closed'));
      if (waiters.size >= maxWaiters || waiters.has(box) || box.length > MAX_BOX_LENGTH) {
        return Promise.reject(new MailboxWaitError('full'));
      }
      return new Promise<string>((resolve, reject) => {
        const finish = (error?: MailboxWaitError, payload?: string) => {
          if (waiters.get(box) !== waiter) return;
          waiters.delete(box);
          clearTimeout(timeout);
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(payload ?? '');
        };
        const onAbort = () => finish(new MailboxWaitError('aborted'));
        const waiter: Waiter = {
          resolve: (payload) => finish(undefined, payload),
          fail: (error) => finish(error),
        };
        const timeout = setTimeout(() => finish(new MailboxWaitError('timeout')), timeoutMs);
        timeout.unref();
        if (signal?.aborted) {
          reject(new MailboxWaitError('aborted'));
          clearTimeout(timeout);
          return;
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.set(box, waiter);
      });
    },
    async deliver(box, payload, ttlMs) {
      const local = waiters.get(box);
      if (local !== undefined) {
        local.resolve(payload);
        return;
      }
      await db
        .insertInto('mcp_session_messages')
        .values({
          id: newId(clock.now()),
          mailbox: box,
          payload,
          expires_at: isoTime(clock.now() + ttlMs),
        })
        .execute();
      await options.notifications.publish(CHANNEL, box);
    },
    sweep,
    close() {
      closed = true;
      clearInterval(timer);
      unsubscribe();
      for (const waiter of [...waiters.values()]) waiter.fail(new MailboxWaitError('closed'));
    },
  };
}
