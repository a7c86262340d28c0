import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  type ClientCapabilities,
  type JSONRPCMessage,
  type Notification,
} from '@modelcontextprotocol/sdk/types.js';
import { readSse } from './sse.js';
import type { RelayTarget } from './relay.js';

/** How the gateway names itself to upstream MCP servers. */
const CLIENT_INFO = { name: 'steward-gateway', version: '0.1.0' } as const;

/**
 * How much longer than the call's own limit an upstream HTTP request may stay open. The call's
 * timers fire first (and answer 504); this only frees the socket of a request the SDK gave up
 * on, and bounds requests the SDK sets no timeout for (the DELETE).
 */
const SOCKET_GRACE_MS = 1_000;

/** The methods an upstream may ask of its client that the gateway relays to the agent. */
export const RELAYED_REQUESTS = ['elicitation/create', 'sampling/createMessage', 'roots/list'];

/**
 * What the gateway declares to every upstream: each client capability it can relay, whatever the
 * calling agent declared. An upstream then offers every session the same tools (some list tools
 * only to clients that can elicit or sample), so an upstream's listing, and its tool pins, do not
 * depend on who asked; a request the agent cannot take is refused by the relay (see
 * `createRelay`), recorded, and answered to the upstream as an error.
 */
export const GATEWAY_CLIENT_CAPABILITIES: ClientCapabilities = {
  elicitation: {},
  sampling: {},
  roots: {},
};

/** The notifications the gateway relays from an upstream; any other is dropped. */
export const RELAYED_NOTIFICATIONS = [
  'notifications/message',
  'notifications/tools/list_changed',
  'notifications/resources/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/updated',
];

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
  /** How long one upstream HTTP request of this call may stay open (before the grace). */
  readonly timeoutMs: number;
  /** Where the upstream's messages about this call go: the agent's stream (absent: nowhere). */
  readonly relay?: RelayTarget | undefined;
}

/** The call data in force, and the connection it is for. */
interface CallScope {
  readonly connection: string;
  readonly data: UpstreamCallData;
}

/**
 * The current agent request's call data. The SDK's transport sends a request from inside the
 * caller's `client.request(…)` (and a timeout's cancellation from a timer set there), and reads
 * the answer's event stream there too, so its `fetch`, and the handlers of whatever the upstream
 * sends on that stream (progress, a log line, an elicitation), run in the caller's async context
 * and find the caller's data here.
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
  /** The protocol version in use on the session. */
  readonly protocolVersion: string | undefined;
  /**
   * Opens the session's standalone event stream (HTTP GET) with the running call's credential,
   * and hands what arrives on it to the client's handlers until `signal` aborts or the upstream
   * ends it. Resolves when it has ended; rejects when it could not be opened (405: the upstream
   * has none to offer).
   */
  listen(signal: AbortSignal): Promise<void>;
  /**
   * Closes the client; with `terminate`, ends the upstream session first with a DELETE (best
   * effort, bounded in time), so a stateful upstream frees it now rather than at its own timeout.
   */
  close(terminate: boolean): Promise<void>;
}

export interface ConnectOptions {
  readonly key: string;
  readonly url: string;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
  /** An upstream session another replica opened for the same agent session: used, not initialized. */
  readonly session?: { readonly id: string; readonly protocolVersion: string } | undefined;
  /** The largest message read from the upstream's standalone stream. */
  readonly maxMessageBytes?: number | undefined;
}

/**
 * Opens an MCP client connection to the upstream at `url` (`initialize`, then
 * `notifications/initialized`; or, given `session`, joins that session without initializing),
 * with the credential and `traceparent` of whichever call is running: see `callScopedFetch`.
 * `key` names the connection, so that call data set for another connection is never used on this
 * one. Whatever the upstream asks of its client (elicitation, sampling, roots) and the
 * notifications it sends go to the running call's `relay`, and nowhere without one.
 */
export async function connectUpstream(input: ConnectOptions): Promise<UpstreamConnection> {
  const fetches = callScopedFetch(input.key, input.fetch);
  const http = new StreamableHTTPClientTransport(new URL(input.url), {
    fetch: fetches.sdk,
    ...(input.session !== undefined ? { sessionId: input.session.id } : {}),
    // Redirects are refused: one would send the injected credential to an address the egress
    // guard never approved. `error` also keeps the SDK from following same-origin redirects.
    requestInit: { redirect: 'error' },
    // No standalone stream to resume here (see `listen`); a dropped POST stream is a failed call.
    reconnectionOptions: {
      maxReconnectionDelay: 0,
      initialReconnectionDelay: 0,
      reconnectionDelayGrowFactor: 1,
      maxRetries: 0,
    },
  });
  if (input.session !== undefined) http.setProtocolVersion(input.session.protocolVersion);
  const transport = new TaggedTransport(http);
  const client = new Client(CLIENT_INFO, { capabilities: GATEWAY_CLIENT_CAPABILITIES });
  // Transport errors reach the caller of the failed request; nothing else needs them.
  client.onerror = () => {};
  client.fallbackRequestHandler = async (request, extra) => {
    const relay = scope.getStore()?.data.relay;
    if (!RELAYED_REQUESTS.includes(request.method) || relay === undefined) {
      throw new McpError(ErrorCode.MethodNotFound, 'Method not found');
    }
    return relay.request(request.method, request.params ?? {}, extra.signal);
  };
  client.fallbackNotificationHandler = async (notification: Notification) => {
    if (!RELAYED_NOTIFICATIONS.includes(notification.method)) return;
    await scope.getStore()?.data.relay?.notify(notification);
  };
  try {
    await client.connect(transport, { timeout: input.timeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  const maxBytes = input.maxMessageBytes ?? 1024 * 1024;
  return {
    client,
    get sessionId() {
      return http.sessionId;
    },
    get protocolVersion() {
      return http.protocolVersion;
    },
    async listen(signal) {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (http.sessionId !== undefined) headers['mcp-session-id'] = http.sessionId;
      if (http.protocolVersion !== undefined)
        headers['mcp-protocol-version'] = http.protocolVersion;
      const response = await fetches.listen(input.url, {
        method: 'GET',
        headers,
        signal,
        redirect: 'error',
      });
      if (!response.ok || response.body === null) {
        await response.body?.cancel().catch(() => {});
        throw new Error(`the upstream offers no event stream (HTTP ${response.status})`);
      }
      await readSse(response.body, maxBytes, signal, (data) => {
        let message: unknown;
        try {
          message = JSON.parse(data);
        } catch {
          return;
        }
        transport.receive(message as JSONRPCMessage);
      });
    },
    async close(terminate) {
      if (terminate) await http.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/**
 * The SDK client numbers its requests 0, 1, 2… per client. Several replicas may share one
 * upstream session (one per agent session, whichever replica serves it), and two requests with
 * the same id in one session would get each other's answers; so each client's ids, and the
 * progress tokens made from them, carry a random tag of its own on the wire.
 */
class TaggedTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: Transport['onmessage'];
  private readonly prefix = `${randomBytes(6).toString('hex')}-`;

  constructor(private readonly inner: StreamableHTTPClientTransport) {
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message: JSONRPCMessage) => this.receive(message);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion(version);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // Send options only matter for resuming streams, which the gateway does not do upstream.
  send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    return this.inner.send(this.tagged(message));
  }

  /** A message from the upstream, by whichever stream it came, untagged for the client. */
  receive(message: JSONRPCMessage, extra?: Parameters<NonNullable<Transport['onmessage']>>[1]) {
    this.onmessage?.(this.untagged(message), extra);
  }

  private tagged(message: JSONRPCMessage): JSONRPCMessage {
    if ('method' in message && 'id' in message) {
      const meta = message.params?._meta;
      const token = meta?.progressToken;
      return {
        ...message,
        id: this.tag(message.id),
        ...(token !== undefined
          ? { params: { ...message.params, _meta: { ...meta, progressToken: this.tag(token) } } }
          : {}),
      };
    }
    if ('method' in message && message.method === 'notifications/cancelled') {
      const requestId = message.params?.['requestId'];
      if (typeof requestId === 'number') {
        return { ...message, params: { ...message.params, requestId: this.tag(requestId) } };
      }
    }
    return message;
  }

  private untagged(message: JSONRPCMessage): JSONRPCMessage {
    if (!('method' in message) && 'id' in message) {
      const id = this.untag(message.id);
      return id === undefined ? message : { ...message, id };
    }
    if ('method' in message && message.method === 'notifications/progress') {
      const token = this.untag(message.params?.['progressToken']);
      if (token !== undefined) {
        return { ...message, params: { ...message.params, progressToken: token } };
      }
    }
    return message;
  }

  private tag(id: string | number): string | number {
    return typeof id === 'number' ? `${this.prefix}${id}` : id;
  }

  /** The client's own number behind a tagged id; undefined for anything else. */
  private untag(id: unknown): number | undefined {
    if (typeof id !== 'string' || !id.startsWith(this.prefix)) return undefined;
    const n = Number(id.slice(this.prefix.length));
    return Number.isSafeInteger(n) ? n : undefined;
  }
}

/**
 * The transport's `fetch` (`sdk`): adds the running call's injected credential (headers, query)
 * and its `traceparent` to each request, caps how long it may stay open, and hands it to `base`
 * (the egress-guarded fetch), which therefore runs before every upstream request. A request made
 * outside any call on this connection (the DELETE that ends the session) carries the credential
 * of the connection's last call and no `traceparent`.
 *
 * The SDK's own standalone stream (the GET it opens after `initialize`) is answered as a server
 * without one answers it (405), and nothing leaves the gateway: the gateway opens that stream
 * itself (`listen`, bounded by its listener's signal), only while an agent listens.
 */
function callScopedFetch(
  key: string,
  base: typeof fetch,
): { readonly sdk: typeof fetch; readonly listen: typeof fetch } {
  let last: UpstreamCallData | undefined;
  const scoped =
    (listen: boolean): typeof fetch =>
    async (input, init) => {
      const method = (init?.method ?? 'GET').toUpperCase();
      if (method === 'GET' && !listen) {
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
      // A standalone stream lives as long as its listener: the listener's signal bounds it.
      if (listen) return base(url, { ...init, headers, redirect: 'error' });
      const cap = AbortSignal.timeout((data?.timeoutMs ?? 0) + SOCKET_GRACE_MS);
      const signal = init?.signal ? AbortSignal.any([init.signal, cap]) : cap;
      return base(url, { ...init, headers, signal, redirect: 'error' });
    };
  return { sdk: scoped(false), listen: scoped(true) };
}
