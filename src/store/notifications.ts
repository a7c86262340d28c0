import { EventEmitter } from 'node:events';
import pg from 'pg';

/**
 * Change notifications between the processes sharing a database: revocations and key changes
 * must reach every replica within a second.
 *
 * On PostgreSQL this is LISTEN/NOTIFY on one dedicated connection that reconnects by itself; on
 * SQLite, which one process owns, it is an in-process emitter. Notifications are a fast path, not
 * a guarantee: every consumer also polls, so a notification lost during a reconnect costs only
 * latency.
 */
export interface Notifications {
  publish(channel: string, payload: string): Promise<void>;
  /** Calls `handler` for each notification on `channel`; returns an unsubscribe function. */
  subscribe(channel: string, handler: (payload: string) => void): () => void;
  /**
   * Calls `listener` when the subscriptions are lost: the listening connection dropped, could not
   * be made, or refused a channel. Notifications sent until it is back (it reconnects by itself)
   * are missed, so whoever relies on them must hear of it. Called once per loss, not per retry;
   * returns an unsubscribe function.
   */
  onLost(listener: (error: unknown) => void): () => void;
  close(): Promise<void>;
}

/** The event on which lost subscriptions are announced: never a valid channel name. */
const LOST = 'lost subscriptions';

export function localNotifications(): Notifications {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, payload) {
      // Asynchronous like the network path, so callers never depend on synchronous delivery.
      queueMicrotask(() => emitter.emit(channel, payload));
    },
    subscribe(channel, handler) {
      emitter.on(channel, handler);
      return () => emitter.off(channel, handler);
    },
    // In one process there is no connection to lose.
    onLost() {
      return () => {};
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

const CHANNEL = /^[a-z_]{1,48}$/;

export function postgresNotifications(url: string, pool: pg.Pool): Notifications {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const channels = new Set<string>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  // Whether the current loss was announced: a database that stays away is one loss, not one a second.
  let lost = false;

  function lose(error: unknown): void {
    if (closed || lost) return;
    lost = true;
    emitter.emit(LOST, error);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    next.on('notification', (message) => {
      if (message.payload !== undefined) emitter.emit(message.channel, message.payload);
    });
    const reconnect = (error: unknown) => {
      lose(error);
      if (client === next) client = undefined;
      // The loss is reported above; what a broken connection says while it closes adds nothing.
      next.removeAllListeners('error');
      next.on('error', () => {});
      void next.end().catch(() => {});
      scheduleReconnect();
    };
    next.on('error', reconnect);
    next.on('end', () => {
      if (!closed) reconnect(new Error('the listening connection to PostgreSQL ended'));
    });
    try {
      await next.connect();
      for (const channel of channels) await next.query(`listen ${channel}`);
      client = next;
      lost = false;
    } catch (error) {
      reconnect(error);
    }
  }

  function scheduleReconnect(): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connecting = connect();
    }, 1_000);
    retryTimer.unref();
  }

  return {
    async publish(channel, payload) {
      await pool.query('select pg_notify($1, $2)', [channel, payload]);
    },
    subscribe(channel, handler) {
      if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${channel}`);
      emitter.on(channel, handler);
      if (!channels.has(channel)) {
        channels.add(channel);
        const listening = client;
        if (listening) {
          // A channel refused is a channel lost: start over on a new connection, which listens
          // to every channel again.
          listening.query(`listen ${channel}`).catch((error: unknown) => {
            lose(error);
            if (client === listening) void listening.end().catch(() => {});
          });
        } else connecting ??= connect();
      }
      return () => emitter.off(channel, handler);
    },
    onLost(listener) {
      emitter.on(LOST, listener);
      return () => emitter.off(LOST, listener);
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      await connecting?.catch(() => {});
      await client?.end().catch(() => {});
      emitter.removeAllListeners();
    },
  };
}
