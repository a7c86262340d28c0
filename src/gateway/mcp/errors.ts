import { ErrorCode, type McpError } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayRefusal } from '../types.js';

/**
 * JSON-RPC error codes for Steward's refusals, in the range JSON-RPC leaves to servers
 * (-32000 to -32099) and clear of the codes the MCP SDK gives a meaning (-32000 connection
 * closed, -32001 request timeout, -32042 URL elicitation). The stable, documented part is
 * `error.data.code`; the number only lets a client tell classes of refusal apart without parsing.
 */
export const MCP_REFUSAL_CODES: Readonly<Record<McpRefusal, number>> = {
  unauthenticated: -32010,
  forbidden: -32011,
  approval_required: -32012,
  rate_limited: -32013,
  upstream_not_found: -32014,
  bad_request: ErrorCode.InvalidParams,
  payload_too_large: -32015,
  audit_unavailable: -32016,
  upstream_unavailable: -32017,
  upstream_timeout: -32018,
  no_decision: -32019,
  response_too_large: -32020,
  not_listed: -32021,
  tool_definition_changed: -32022,
  arguments_too_deep: -32023,
  client_gone: -32024,
};

/**
 * The error a cancelled request ends with, when an answer must still close its stream: the code
 * LSP gives "request cancelled", which JSON-RPC leaves to applications.
 */
export const REQUEST_CANCELLED = -32800;

/**
 * The MCP gateway's refusals: the core's, and the catalog's after an allow (see `catalog/`): a
 * name the upstream does not list, a tool whose definition is not the accepted one.
 */
export type McpRefusal = GatewayRefusal | 'not_listed' | 'tool_definition_changed';

/** What a refusal carries in `error.data`: the stable code, the HTTP-equivalent status, the record. */
export interface RefusalData {
  readonly code: McpRefusal;
  readonly status: number;
  readonly recordId?: string;
  readonly retryAfterSeconds?: number;
}

/**
 * A JSON-RPC error the gateway answers with. Not an `McpError`, whose constructor prefixes the
 * message with `MCP error <code>: ` (the SDK's client adds that prefix again on receipt); the
 * SDK's server sends any thrown error's `code`, `message` and `data` as they are.
 */
export class JsonRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'JsonRpcError';
  }
}

/** A Steward refusal as the JSON-RPC error the agent receives; the upstream never sees the call. */
export function refusalError(refusal: {
  readonly code: McpRefusal;
  readonly status: number;
  readonly message: string;
  readonly recordId?: string | undefined;
  readonly retryAfterSeconds?: number | undefined;
}): JsonRpcError {
  const data: RefusalData = {
    code: refusal.code,
    status: refusal.status,
    ...(refusal.recordId !== undefined ? { recordId: refusal.recordId } : {}),
    ...(refusal.retryAfterSeconds !== undefined
      ? { retryAfterSeconds: refusal.retryAfterSeconds }
      : {}),
  };
  return new JsonRpcError(MCP_REFUSAL_CODES[refusal.code], refusal.message, data);
}

/**
 * The SDK prefixes every McpError message with `MCP error <code>: `; an upstream's error passed
 * on to the agent would otherwise carry the prefix twice.
 */
export function plainMessage(error: McpError): string {
  return error.message.replace(/^MCP error -?\d+: /, '');
}
