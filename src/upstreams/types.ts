/**
 * An upstream: a tool provider behind the gateway, an HTTP API or an MCP server (Streamable HTTP).
 * This is the contract between the upstream registry and the gateway.
 */
export type UpstreamKind = 'http' | 'mcp';

/** Where the gateway puts the upstream's real credential on a forwarded request. */
export interface CredentialInjection {
  /** The secret's name in the secret store. */
  readonly secret: string;
  /** `header` (named header), `bearer` (Authorization: Bearer), `query` (named query parameter). */
  readonly in: 'header' | 'bearer' | 'query';
  /** Header or query parameter name; for `bearer` it is `authorization`. */
  readonly name: string;
  /** How the value is written, with `{secret}` standing for the secret: `Bearer {secret}`, `{secret}`. */
  readonly format: string;
}

/** An operation an upstream offers: an MCP tool, or a named HTTP route. */
export interface UpstreamOperation {
  readonly name: string;
  /** HTTP only: the method and path pattern (`/refunds/:id`) that name this operation. */
  readonly method?: string;
  readonly path?: string;
  readonly sensitive: boolean;
  readonly description?: string;
}

export interface Upstream {
  readonly id: string;
  readonly name: string;
  readonly kind: UpstreamKind;
  /** Base URL; for MCP, the server's Streamable HTTP endpoint. */
  readonly url: string;
  readonly team: string;
  readonly classification: 'public' | 'internal' | 'confidential' | 'restricted';
  readonly credential: CredentialInjection | null;
  readonly operations: readonly UpstreamOperation[];
  /** Names of sensitive operations (tools or HTTP operations): they need stronger approval later. */
  readonly sensitive: readonly string[];
  readonly timeoutMs: number;
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  /** Record full argument and result content in the trail (metadata is always recorded). */
  readonly recordContent: boolean;
  /** Token bucket per calling identity on this upstream; null: the gateway default. */
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}
