import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ErrorCode,
  McpError,
  type Notification,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_GATEWAY_STORE_TIMEOUT_MS } from '../../config/index.js';
import type { Upstream } from '../../upstreams/index.js';
import { waitWithin } from '../deadline.js';
import type { RelayTarget } from './relay.js';
import type { McpSession, McpSessionStore } from './sessions.js';
import {
  connectUpstream,
  outsideCalls,
  withCallData,
  type UpstreamCallData,
  type UpstreamConnection,
} from './upstream-client.js';

/** At most this many upstream clients are kept per replica by default; the least recently used goes. */
export const DEFAULT_MAX_POOLED_CLIENTS = 1024;
/** A pooled client unused for this long is closed (its session ended) by default. */
export const DEFAULT_POOL_IDLE_MS = 60_000;

const CONNECTION_CLOSED: number = ErrorCode.ConnectionClosed;

export interface UpstreamPoolOptions {
  /** The upstream leg's `fetch`, run before every upstream request (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  readonly maxClients?: number | undefined;
  readonly idleMs?: number | undefined;
  /** Milliseconds on a monotonic clock (default: `performance.now`). */
  readonly now?: (() => number) | undefined;
  /** Where agent sessions record the upstream session they share across replicas. */
  readonly sessions?: Pick<McpSessionStore, 'claimUpstream' | 'forgetUpstream' | 'upstreamOf'>;
  /** How long connecting waits on the session store (default: the gateway's store timeout). */
  readonly storeTimeoutMs?: number | undefined;
  /** Told when an upstream says (on a caller's session) that its tools, prompts or resources changed. */
  readonly onListChanged?:
    ((upstream: string, list: 'tools' | 'prompts' | 'resources') => void) | undefined;
}

/** Whom a call is for, and what it carries: the verdict's upstream, caller and injection. */
export interface UpstreamCallTarget {
  readonly upstream: Pick<Upstream, 'id' | 'name' | 'url' | 'timeoutMs'>;
  /** The calling workload identity (`claims.client_id`): sessions are never shared across identities. */
  readonly identity: string;
  readonly inject: {
    readonly headers: Readonly<Record<string, string>>;
    readonly query: Readonly<Record<string, string>>;
  };
  readonly traceparent?: string | undefined;
  /**
   * The agent's session: its upstream session is its own (declaring what the agent declared),
   * shared by every replica that serves it. Without one, the identity's pooled session is used.
   */
  readonly session?: McpSession | undefined;
  /** Where the upstream's messages about this call go. */
  readonly relay?: RelayTarget | undefined;
  /** How long one upstream HTTP request of this call may stay open (default: `timeoutMs`). */
  readonly socketMs?: number | undefined;
}

/**
 * Connected MCP clients to upstream servers, kept in memory by one gateway replica so that a call
 * costs one upstream request, not a session set-up and tear-down. Only the upstream leg is
 * pooled: the agent-facing leg keeps no state, so any replica still serves any agent request
 * (a replica without a client for the caller opens one).
 */
export interface UpstreamPool {
  /**
   * Runs `send` on the pooled client of (upstream, identity), connecting first when there is
   * none. The call's credential and `traceparent` go on its own upstream requests only. A call
   * that failed because the upstream no longer knows the session (HTTP 404 for the session id:
   * it restarted or expired it, and did not process the call) is retried once on a new session;
   * nothing else is retried.
   */
  call<T>(
    target: UpstreamCallTarget,
    send: (client: Client, timeoutMs: number) => Promise<T>,
  ): Promise<T>;
  /**
   * Opens the upstream session's standalone stream for `target` (its agent session's, with its
   * credential) and relays what arrives to `target.relay` until `signal` aborts or it ends.
   */
  listen(target: UpstreamCallTarget, signal: AbortSignal): Promise<void>;
  /**
   * Drops this replica's clients of an agent session; with `terminate`, ends the upstream session
   * too (the agent ended its own).
   */
  endSession(hash: string, terminate: boolean): void;
  /** How many clients are pooled (connected or connecting). */
  readonly size: number;
  /** Closes the clients idle for longer than the idle limit; the pool also does this on a timer. */
  prune(): Promise<void>;
  /** Ends every pooled session (best effort) and closes the clients; further calls fail. */
  close(): Promise<void>;
}

interface Entry {
  readonly key: string;
  /** The agent session whose upstream session this is, if any. */
  readonly session: string | undefined;
  readonly url: string;
  readonly upstreamId: string;
  readonly ready: Promise<UpstreamConnection>;
  connection: UpstreamConnection | undefined;
  inFlight: number;
  lastUsed: number;
  retired: boolean;
  /** Whether to end the upstream session when closing (not when it is known to be gone). */
  terminate: boolean;
  closing: Promise<void> | undefined;
}

/**
 * Builds a pool. Many calls of one identity share its client concurrently (the SDK multiplexes
 * JSON-RPC ids over separate POSTs), and calls arriving while it connects wait for that one
 * connection. A client whose upstream is unreachable or closed the connection is dropped; one
 * whose upstream registration changed (id or URL) is replaced.
 *
 * @example
 * const pool = createUpstreamPool({ fetch: egressGuardedFetch(check) });
 * const tools = await pool.call(target, (client, timeout) =>
 *   client.request({ method: 'tools/list', params: {} }, ListToolsResultSchema, { timeout }),
 * );
 * await pool.close();
 */
export function createUpstreamPool(options: UpstreamPoolOptions = {}): UpstreamPool {
  const baseFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const maxClients = options.maxClients ?? DEFAULT_MAX_POOLED_CLIENTS;
  const idleMs = options.idleMs ?? DEFAULT_POOL_IDLE_MS;
  const now = options.now ?? (() => performance.now());
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_GATEWAY_STORE_TIMEOUT_MS;
  if (!Number.isSafeInteger(maxClients) || maxClients < 1) {
    throw new RangeError('maxClients must be a positive integer');
  }
  if (!(idleMs > 0)) throw new RangeError('idleMs must be positive');

  /** Insertion order is recency: the first entry is the least recently used. */
  const entries = new Map<string, Entry>();
  const closing = new Set<Promise<void>>();
  let closed = false;
  const sweeper = setInterval(() => void prune(), Math.max(1_000, idleMs / 4));
  sweeper.unref();

  function acquire(key: string, target: UpstreamCallTarget, timeoutMs: number): Entry {
    const { upstream } = target;
    let entry = entries.get(key);
    /** The upstream session of a registration that changed: over, for every replica. */
    let moved: string | undefined;
    if (entry !== undefined && (entry.url !== upstream.url || entry.upstreamId !== upstream.id)) {
      retire(entry, true);
      // Another server now (or another registration): the agent session's upstream session
      // there ends too, and is no longer the one its replicas join.
      entry.terminate = true;
      moved = entry.connection?.sessionId;
      entry = undefined;
    }
    if (entry === undefined) {
      // Assigned below, before the connection can settle and the callbacks read it.
      // eslint-disable-next-line prefer-const
      let created: Entry;
      // Started inside the first caller's call scope: `initialize` carries its credential.
      const ready = connectFor(key, target, timeoutMs, moved).then((connection) => {
        created.connection = connection;
        // Closed under us (the transport gave up): a later call connects anew.
        connection.client.onclose = () => retire(created, false);
        listChanges(connection.client, upstream.name);
        return connection;
      });
      created = {
        key,
        session: target.session?.hash,
        url: upstream.url,
        upstreamId: upstream.id,
        ready,
        connection: undefined,
        inFlight: 0,
        lastUsed: now(),
        retired: false,
        terminate: true,
        closing: undefined,
      };
      created.ready.catch(() => {});
      entries.set(key, created);
      for (const [, oldest] of entries) {
        if (entries.size <= maxClients) break;
        retire(oldest, true);
      }
      entry = created;
    } else {
      entries.delete(key);
      entries.set(key, entry);
    }
    entry.inFlight += 1;
    entry.lastUsed = now();
    return entry;
  }

  /**
   * Connects for `target`. An agent session's upstream session is opened once, by whichever
   * replica needs it first, and recorded; the others join it (no second `initialize`). Two that
   * raced: the first recorded wins, the other ends its own and joins.
   */
  async function connectFor(
    key: string,
    target: UpstreamCallTarget,
    timeoutMs: number,
    moved: string | undefined,
  ): Promise<UpstreamConnection> {
    const base = { key, url: target.upstream.url, timeoutMs, fetch: baseFetch };
    const session = target.session;
    const store = options.sessions;
    if (session === undefined || store === undefined) return connectUpstream(base);
    if (moved !== undefined) await storeWait(store.forgetUpstream(session.hash, moved));
    // Read from the store, not the session as the request found it: after a lost or moved
    // upstream session, that copy may name the one just forgotten.
    const recorded = await storeWait(store.upstreamOf(session.hash));
    if (recorded !== undefined) return connectUpstream({ ...base, session: recorded });
    const connection = await connectUpstream(base);
    const own = connection.sessionId;
    if (own === undefined) return connection;
    let winner: Awaited<ReturnType<typeof store.claimUpstream>>;
    try {
      winner = await storeWait(
        store.claimUpstream(session.hash, {
          id: own,
          protocolVersion: connection.protocolVersion ?? '',
        }),
      );
    } catch (error) {
      await outsideCalls(() => connection.close(true));
      throw error;
    }
    if (winner === undefined || winner.id === own) return connection;
    await outsideCalls(() => connection.close(true));
    return connectUpstream({ ...base, session: winner });
  }

  /**
   * A wait on the session store while connecting, bounded: a call already allowed must not wait
   * on a hung store and reach the upstream long after its agent gave up.
   */
  function storeWait<T>(pending: Promise<T>): Promise<T> {
    return waitWithin(storeTimeoutMs, pending);
  }

  function release(entry: Entry): void {
    entry.inFlight -= 1;
    entry.lastUsed = now();
    if (entry.retired && entry.inFlight === 0) shut(entry);
  }

  /** Out of the pool at once; closed when its last call is done. */
  function retire(entry: Entry, terminate: boolean): void {
    if (entry.retired) return;
    entry.retired = true;
    // An agent session's upstream session is shared by the replicas: only its end ends it.
    entry.terminate = terminate && entry.session === undefined;
    if (entries.get(entry.key) === entry) entries.delete(entry.key);
    if (entry.inFlight === 0) shut(entry);
  }

  function shut(entry: Entry): void {
    if (entry.closing !== undefined) return;
    const done = outsideCalls(() =>
      entry.ready.then(
        (connection) => connection.close(entry.terminate),
        () => {},
      ),
    );
    entry.closing = done;
    closing.add(done);
    void done.finally(() => closing.delete(done));
  }

  /** Passes the upstream's list_changed notifications on, so cached listings are dropped. */
  function listChanges(client: Client, upstream: string): void {
    const told = options.onListChanged;
    if (told === undefined) return;
    // The catalog hears of the change first; the agent's relay (the fallback handler, see
    // `connectUpstream`) is still handed the notification.
    const relayed =
      (list: 'tools' | 'prompts' | 'resources') =>
      async (notification: Notification): Promise<void> => {
        told(upstream, list);
        await client.fallbackNotificationHandler?.(notification);
      };
    client.setNotificationHandler(ToolListChangedNotificationSchema, relayed('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, relayed('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, relayed('resources'));
  }

  async function call<T>(
    target: UpstreamCallTarget,
    send: (client: Client, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    if (closed) throw new Error('The upstream client pool is closed.');
    return run(target, (connection) => send(connection.client, target.upstream.timeoutMs));
  }

  async function run<T>(
    target: UpstreamCallTarget,
    use: (connection: UpstreamConnection) => Promise<T>,
  ): Promise<T> {
    if (closed) throw new Error('The upstream client pool is closed.');
    const { upstream } = target;
    // Names match NAME_PATTERN (no spaces), so the key is unambiguous.
    const key = `${upstream.name} ${target.identity} ${target.session?.hash ?? ''}`;
    const data: UpstreamCallData = {
      headers: target.inject.headers,
      query: target.inject.query,
      traceparent: target.traceparent,
      timeoutMs: target.socketMs ?? upstream.timeoutMs,
      relay: target.relay,
    };
    return withCallData(key, data, async () => {
      for (let attempt = 1; ; attempt += 1) {
        const entry = acquire(key, target, upstream.timeoutMs);
        try {
          const connection = await entry.ready;
          return await use(connection);
        } catch (error) {
          const lost = sessionLost(error, entry);
          if (lost || !answeredOn(error, entry)) retire(entry, false);
          if (lost && entry.session !== undefined && entry.connection?.sessionId !== undefined) {
            // The upstream lost the shared session: the next connection opens and records one.
            await options.sessions?.forgetUpstream(entry.session, entry.connection.sessionId);
          }
          if (lost && attempt === 1) continue;
          throw error;
        } finally {
          release(entry);
        }
      }
    });
  }

  async function prune(): Promise<void> {
    const limit = now() - idleMs;
    const idle = [...entries.values()].filter(
      (entry) => entry.inFlight === 0 && entry.lastUsed <= limit,
    );
    for (const entry of idle) retire(entry, true);
    await Promise.all(idle.map((entry) => entry.closing ?? Promise.resolve()));
  }

  return {
    call,
    listen: (target, signal) => run(target, (connection) => connection.listen(signal)),
    endSession(hash, terminate) {
      for (const entry of [...entries.values()]) {
        if (entry.session !== hash || entry.retired) continue;
        retire(entry, false);
        // The agent ended its session: so ends the upstream one, once, from here (read when
        // the connection closes, after its last call).
        entry.terminate = terminate;
      }
    },
    get size() {
      return entries.size;
    },
    prune,
    async close() {
      closed = true;
      clearInterval(sweeper);
      for (const entry of [...entries.values()]) {
        retire(entry, true);
        // Shutting down: calls still running end with the connection.
        shut(entry);
      }
      await Promise.all([...closing]);
    },
  };
}

/**
 * The upstream answered 404 to a request carrying its session id: it no longer knows the session
 * (restarted, or expired it) and processed nothing, so the request may go again on a new one.
 */
function sessionLost(error: unknown, entry: Entry): boolean {
  return (
    error instanceof StreamableHTTPError &&
    error.code === 404 &&
    entry.connection?.sessionId !== undefined
  );
}

/**
 * Whether the call failed with the connection intact: a JSON-RPC error or a request timeout from
 * a connected client. Anything else (unreachable, refused, an HTTP error, a closed connection)
 * leaves the connection in doubt, and it is dropped.
 */
function answeredOn(error: unknown, entry: Entry): boolean {
  return (
    entry.connection !== undefined && error instanceof McpError && error.code !== CONNECTION_CLOSED
  );
}
