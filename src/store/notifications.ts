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
  close(): Promise<void>;
}

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

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    next.on('notification', (message) => {
      if (message.payload !== undefined) emitter.emit(message.channel, message.payload);
    });
    const reconnect = () => {
      if (client === next) client = undefined;
      next.removeAllListeners('error');
      next.on('error', () => {});
      void next.end().catch(() => {});
      scheduleReconnect();
    };
    next.on('error', reconnect);
    next.on('end', () => {
      if (!closed) reconnect();
    });
    try {
      await next.connect();
      for (const channel of channels) await next.query(`listen ${channel}`);
      client = next;
    } catch {
      reconnect();
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
        if (client) void client.query(`listen ${channel}`).catch(() => {});
        else connecting ??= connect();
      }
      return () => emitter.off(channel, handler);
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
