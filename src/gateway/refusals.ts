/**
 * Every refusal the gateways give, declared once: its HTTP status, the title of its problem
 * document (HTTP gateway) and its JSON-RPC error code (MCP gateway). The core, both adapters and
 * docs/api.md ("Gateway refusals", held to this table by test/docs/catalogue.test.ts) read it, so
 * a new refusal is one entry here and one line in the docs.
 *
 * JSON-RPC codes are in the range JSON-RPC leaves to servers (-32000 to -32099) and clear of the
 * codes the MCP SDK gives a meaning (-32000 connection closed, -32001 request timeout, -32042 URL
 * elicitation). The stable, documented part is the string code (`error.data.code`); the number
 * only lets a client tell classes of refusal apart without parsing.
 */
export const REFUSAL_CATALOG = {
  unauthenticated: { status: 401, title: 'Authentication required', jsonRpc: -32010 },
  forbidden: { status: 403, title: 'Forbidden', jsonRpc: -32011 },
  approval_required: { status: 403, title: 'Approval required', jsonRpc: -32012 },
  rate_limited: { status: 429, title: 'Too many requests', jsonRpc: -32013 },
  upstream_not_found: { status: 404, title: 'No such upstream', jsonRpc: -32014 },
  // JSON-RPC's own "Invalid params": a malformed message is one.
  bad_request: { status: 400, title: 'Bad request', jsonRpc: -32602 },
  payload_too_large: { status: 413, title: 'Payload too large', jsonRpc: -32015 },
  audit_unavailable: { status: 503, title: 'Audit trail unavailable', jsonRpc: -32016 },
  upstream_unavailable: { status: 502, title: 'Upstream unavailable', jsonRpc: -32017 },
  upstream_timeout: { status: 504, title: 'Upstream timed out', jsonRpc: -32018 },
  /** Policy evaluation failed (an error in a policy, a request outside the schema): never an allow. */
  no_decision: { status: 403, title: 'No decision', jsonRpc: -32019 },
  /** The upstream's answer is larger than its configured limit. */
  response_too_large: { status: 502, title: 'Upstream response too large', jsonRpc: -32020 },
  /** MCP only, after an allow: a name the upstream does not list (see `mcp/catalog/`). */
  not_listed: { status: 404, title: 'Not listed by the upstream', jsonRpc: -32021 },
  /** MCP only, after an allow: a tool whose definition is not the one its team accepted. */
  tool_definition_changed: {
    status: 409,
    title: 'Tool definition not accepted',
    jsonRpc: -32022,
  },
  /** Arguments nested deeper than the gateway's bound; too many or too long is `payload_too_large`. */
  arguments_too_deep: { status: 400, title: 'Arguments nested too deeply', jsonRpc: -32023 },
  /**
   * The client went away before the call was forwarded (499, the status proxies use for it):
   * nobody receives this refusal, it is what the record says.
   */
  client_gone: { status: 499, title: 'Client closed the request', jsonRpc: -32024 },
} as const satisfies Readonly<Record<string, RefusalSpec>>;

/** How one refusal appears on each wire. */
export interface RefusalSpec {
  readonly status: number;
  readonly title: string;
  readonly jsonRpc: number;
}

/** Every refusal code of either gateway. */
export type RefusalCode = keyof typeof REFUSAL_CATALOG;

/** The refusals only the MCP gateway's catalog gives, after the core has allowed the call. */
export type McpOnlyRefusal = 'not_listed' | 'tool_definition_changed';

/** Why the enforcement core refused: the codes `check`, `authenticate` and `reject` return. */
export type GatewayRefusal = Exclude<RefusalCode, McpOnlyRefusal>;
