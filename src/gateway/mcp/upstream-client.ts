import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** How the gateway names itself to upstream MCP servers. */
const CLIENT_INFO = { name: 'steward-gateway', version: '0.1.0' } as const;

/**
 * How much longer than the upstream's `timeoutMs` an upstream HTTP request may stay open. The
 * SDK's request timeout fires first (and answers 504); this only frees the socket of a request
 * the SDK gave up on, and bounds requests the SDK sets no timeout for (the DELETE).
 */
const SOCKET_GRACE_MS = 1_000;

/**
 * What one agent request sends along with each of its upstream requests. It travels with the
 * request, never with the (pooled) connection: a rotated secret is on the very next call, and each
 * call carries its own trace context.
 */
export interface UpstreamCallData {
  /** The injected credential as headers (`verdict.inject.headers`). */
  readonly headers: Readonly<Record<string, string>>;
  /** The injected credential as query parameters (`verdict.inject.query`). */
  readonly query: Readonly<Record<string, string>>;
  readonly traceparent?: string | undefined;
  readonly timeoutMs: number;
}

/** The call data in force, and the connection it is for. */
interface CallScope {
  readonly connection: string;
  readonly data: UpstreamCallData;
}

/**
 * The current agent request's call data. The SDK's transport sends a request from inside the
 * caller's `client.request(…)` (and a timeout's cancellation from a timer set there), so its
 * `fetch` runs in the caller's async context and finds the caller's data here.
 */
const scope = new AsyncLocalStorage<CallScope>();

/** Runs `fn` with `data` on every upstream request it makes on `connection`. */
export function withCallData<T>(
  connection: string,
  data: UpstreamCallData,
  fn: () => Promise<T>,
): Promise<T> {
  return scope.run({ connection, data }, fn);
}

/**
 * Runs `fn` outside any agent request: a connection closed while another's call is running (an
 * eviction) must not send that call's credential.
 */
export function outsideCalls<T>(fn: () => T): T {
  return scope.exit(fn);
}

/** A connected MCP client to an upstream, for as many calls as its pool keeps it. */
export interface UpstreamConnection {
  readonly client: Client;
  /** The upstream's `Mcp-Session-Id`; undefined for a stateless upstream. */
  readonly sessionId: string | undefined;
  /**
   * Closes the client; with `terminate`, ends the upstream session first with a DELETE (best
   * effort, bounded in time), so a stateful upstream frees it now rather than at its own timeout.
   */
  close(terminate: boolean): Promise<void>;
}

/**
 * Opens an MCP client connection to the upstream at `url` (`initialize`, then
 * `notifications/initialized`), with the credential and `traceparent` of whichever call is
 * running: see `callScopedFetch`. `key` names the connection, so that call data set for another
 * connection is never used on this one.
 */
export async function connectUpstream(input: {
  readonly key: string;
  readonly url: string;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}): Promise<UpstreamConnection> {
  const transport = new StreamableHTTPClientTransport(new URL(input.url), {
    fetch: callScopedFetch(input.key, input.fetch),
    // Redirects are refused: one would send the injected credential to an address the egress
    // guard never approved. `error` also keeps the SDK from following same-origin redirects.
    requestInit: { redirect: 'error' },
    // No standalone stream to resume (see `callScopedFetch`); a dropped POST stream is a failed call.
    reconnectionOptions: {
      maxReconnectionDelay: 0,
      initialReconnectionDelay: 0,
      reconnectionDelayGrowFactor: 1,
      maxRetries: 0,
    },
  });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  // Transport errors reach the caller of the failed request; nothing else needs them.
  client.onerror = () => {};
  try {
    await client.connect(transport, { timeout: input.timeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  return {
    client,
    get sessionId() {
      return transport.sessionId;
    },
    async close(terminate) {
      if (terminate) await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/**
 * The transport's `fetch`: adds the running call's injected credential (headers, query) and its
 * `traceparent` to each request, caps how long it may stay open, and hands it to `base` (the
 * egress-guarded fetch), which therefore runs before every upstream request. A request made
 * outside any call on this connection (the DELETE that ends the session) carries the credential
 * of the connection's last call and no `traceparent`.
 *
 * The gateway passes no server-initiated messages on to agents, so it opens no standalone SSE
 * stream: the transport's GET is answered here as a server without one answers it (405), and
 * nothing leaves the gateway.
 */
function callScopedFetch(key: string, base: typeof fetch): typeof fetch {
  let last: UpstreamCallData | undefined;
  return async (input, init) => {
    if ((init?.method ?? 'GET').toUpperCase() === 'GET') {
      return new Response(null, { status: 405, headers: { allow: 'POST, DELETE' } });
    }
    const current = scope.getStore();
    let data = last;
    if (current?.connection === key) {
      data = current.data;
      last = { headers: data.headers, query: data.query, timeoutMs: data.timeoutMs };
    }
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(data?.query ?? {}))
      url.searchParams.set(name, value);
    for (const [name, value] of Object.entries(data?.headers ?? {})) headers.set(name, value);
    if (data?.traceparent !== undefined) headers.set('traceparent', data.traceparent);
    const cap = AbortSignal.timeout((data?.timeoutMs ?? 0) + SOCKET_GRACE_MS);
    const signal = init?.signal ? AbortSignal.any([init.signal, cap]) : cap;
    return base(url, { ...init, headers, signal, redirect: 'error' });
  };
}
