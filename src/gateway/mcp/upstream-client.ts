import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Upstream } from '../../upstreams/types.js';

/** How the gateway names itself to upstream MCP servers. */
const CLIENT_INFO = { name: 'steward-gateway', version: '0.1.0' } as const;

/** One request's connection to the upstream MCP server. */
export interface UpstreamConnection {
  readonly client: Client;
  /** Ends the upstream session (best effort, in the background) and frees the connection. */
  close(): void;
}

/**
 * Opens a fresh MCP client connection to `upstream` for one agent request: `initialize`, the
 * call, then the session is ended. Nothing of the upstream session outlives the request, so
 * whichever gateway replica receives the agent's next request can serve it (no sticky sessions,
 * nothing to recover from the database). The cost is the `initialize` round trip per call.
 *
 * The request carries only what the verdict says to inject (the upstream's credential) and the
 * trace context; the agent's own token is never copied. Redirects are refused: a redirect would
 * send the injected credential to an address the egress guard never approved.
 */
export async function connectUpstream(input: {
  readonly upstream: Upstream;
  readonly inject: {
    readonly headers: Readonly<Record<string, string>>;
    readonly query: Readonly<Record<string, string>>;
  };
  readonly traceparent?: string | undefined;
  readonly fetch?: typeof fetch | undefined;
}): Promise<UpstreamConnection> {
  const url = new URL(input.upstream.url);
  for (const [name, value] of Object.entries(input.inject.query)) url.searchParams.set(name, value);
  const headers: Record<string, string> = { ...input.inject.headers };
  if (input.traceparent !== undefined) headers['traceparent'] = input.traceparent;
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers, redirect: 'error' },
    ...(input.fetch !== undefined ? { fetch: input.fetch } : {}),
    // One request, one connection: a dropped stream is a failed call, not something to resume.
    reconnectionOptions: {
      maxReconnectionDelay: 0,
      initialReconnectionDelay: 0,
      reconnectionDelayGrowFactor: 1,
      maxRetries: 0,
    },
  });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  try {
    await client.connect(transport, { timeout: input.upstream.timeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  return {
    client,
    close() {
      // The DELETE lets a stateful upstream free its session now rather than at its own timeout;
      // the agent's answer does not wait for it.
      void transport
        .terminateSession()
        .catch(() => {})
        .finally(() => void client.close().catch(() => {}));
    },
  };
}
