/**
 * The `fetch` an MCP client transport takes: the shape of the MCP SDK's `FetchLike`, written
 * out here so that `@steward/sdk` does not depend on the MCP SDK.
 *
 * @example
 * const transport = new StreamableHTTPClientTransport(agent.mcpUrl('crm'), { fetch: agent.mcpFetch('crm') });
 */
export type McpFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A client transport class that takes a URL and a `fetch`, such as the MCP SDK's
 * `StreamableHTTPClientTransport`. Passed in by the caller, so the agent SDK needs no MCP
 * dependency and works with whichever MCP SDK version the agent uses.
 *
 * @example
 * import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
 * const Transport: McpTransportClass<StreamableHTTPClientTransport> = StreamableHTTPClientTransport;
 */
export type McpTransportClass<T> = new (url: URL, options: { fetch: McpFetch }) => T;

/** Upstream names as the registry accepts them: a path segment with nothing to escape. */
const UPSTREAM_NAME = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/;

export function checkUpstream(upstream: string): string {
  if (!UPSTREAM_NAME.test(upstream)) {
    throw new TypeError(
      `not an upstream name: ${JSON.stringify(upstream)} (lowercase letters, digits, ".", "_", "-")`,
    );
  }
  return upstream;
}

/** `<steward>/gw/http/<upstream><path>`; `path` starts with `/` and may carry a query. */
export function gatewayHttpUrl(base: string, upstream: string, path: string): string {
  if (!path.startsWith('/')) throw new TypeError(`the path must start with "/": ${path}`);
  return `${base}/gw/http/${checkUpstream(upstream)}${path}`;
}

/** `<steward>/gw/mcp/<upstream>`: the upstream's MCP endpoint on the gateway. */
export function gatewayMcpUrl(base: string, upstream: string): URL {
  return new URL(`${base}/gw/mcp/${checkUpstream(upstream)}`);
}
