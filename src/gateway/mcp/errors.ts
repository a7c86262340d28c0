import type { McpError } from '@modelcontextprotocol/sdk/types.js';
import { REFUSAL_CATALOG, type RefusalCode } from '../refusals.js';

/**
 * The error a cancelled request ends with, when an answer must still close its stream: the code
 * LSP gives "request cancelled", which JSON-RPC leaves to applications.
 */
export const REQUEST_CANCELLED = -32800;

/**
 * The MCP gateway's refusals: the core's, and the catalog's after an allow (see `catalog/`): a
 * name the upstream does not list, a tool whose definition is not the accepted one.
 */
export type McpRefusal = RefusalCode;

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

/**
 * A Steward refusal as the JSON-RPC error the agent receives, its number and status from
 * `REFUSAL_CATALOG`; the upstream never sees the call.
 */
export function refusalError(refusal: {
  readonly code: McpRefusal;
  readonly message: string;
  readonly recordId?: string | undefined;
  readonly retryAfterSeconds?: number | undefined;
}): JsonRpcError {
  const { status, jsonRpc } = REFUSAL_CATALOG[refusal.code];
  const data: RefusalData = {
    code: refusal.code,
    status,
    ...(refusal.recordId !== undefined ? { recordId: refusal.recordId } : {}),
    ...(refusal.retryAfterSeconds !== undefined
      ? { retryAfterSeconds: refusal.retryAfterSeconds }
      : {}),
  };
  return new JsonRpcError(jsonRpc, refusal.message, data);
}

/**
 * The SDK prefixes every McpError message with `MCP error <code>: `; an upstream's error passed
 * on to the agent would otherwise carry the prefix twice.
 */
export function plainMessage(error: McpError): string {
  return error.message.replace(/^MCP error -?\d+: /, '');
}
