import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListPromptsResultSchema,
  ListResourcesRequestSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesRequestSchema,
  ListResourceTemplatesResultSchema,
  ListToolsRequestSchema,
  ListToolsResultSchema,
  McpError,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { EnforcementCore, GatewayCall, GatewayVerdict } from '../types.js';
import { JsonRpcError, plainMessage, refusalError } from './errors.js';
import type { UpstreamPool } from './upstream-pool.js';

type Allowed = Extract<GatewayVerdict, { outcome: 'allow' }>;

// JSON-RPC codes arrive as plain numbers; compared as such.
const REQUEST_TIMEOUT: number = ErrorCode.RequestTimeout;
const CONNECTION_CLOSED: number = ErrorCode.ConnectionClosed;
const METHOD_NOT_FOUND: number = ErrorCode.MethodNotFound;

/** What the MCP gateway needs: the enforcement core, and how to reach upstreams. */
export interface McpGatewayDeps {
  readonly enforcement: EnforcementCore;
  /** This replica's connected upstream clients (see `createUpstreamPool`). */
  readonly upstreams: UpstreamPool;
}

/** The HTTP request around one MCP message, as the gateway saw it. */
export interface McpRequestContext {
  readonly upstream: string;
  /** The bearer token as presented; the core verifies it again for every decision. */
  readonly token: string;
  readonly clientAddress: string;
  readonly requestId: string;
  readonly traceparent?: string | undefined;
  /** The HTTP body's declared size (Content-Length), for the core's request limit. */
  readonly declaredBytes?: number | undefined;
  /** When the HTTP request arrived (`performance.now()`): the core's store deadline counts from it. */
  readonly receivedAt?: number | undefined;
  /** True once the agent's connection has closed: nothing is forwarded for it then. */
  readonly clientGone?: (() => boolean) | undefined;
}

/**
 * One JSON Schema validator for every per-request server. Left out, each `McpServer` builds its
 * own Ajv instance (meta-schemas compiled anew): the largest single cost of a request in a CPU
 * profile of the gateway bench.
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();

/** Capabilities the gateway offers every agent, whatever the upstream offers (see `listOrEmpty`). */
const CAPABILITIES = { tools: {}, resources: {}, prompts: {} } as const;

/**
 * Serves one HTTP request of MCP Streamable HTTP for the agent: a fresh stateless server
 * (`sessionIdGenerator: undefined`) answers with JSON, and every method that reaches the
 * upstream is decided by the enforcement core first. The agent-facing leg keeps no state, so any
 * replica can serve any request of an agent's conversation; the upstream leg uses the replica's
 * pool of connected clients, which is an optimisation only (a replica without one connects).
 */
export async function handleMcpRequest(
  deps: McpGatewayDeps,
  context: McpRequestContext,
  request: Request,
): Promise<Response> {
  const mcp = new McpServer(
    { name: `steward-gateway/${context.upstream}`, version: '0.1.0' },
    { capabilities: CAPABILITIES, jsonSchemaValidator: SCHEMA_VALIDATOR },
  );
  addHandlers(mcp.server, deps, context);
  const server = mcp;
  // No `sessionIdGenerator`: stateless mode, no `Mcp-Session-Id` issued or checked.
  const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request);
  } finally {
    // JSON mode: every answer is in the Response already, so the server can go.
    await server.close().catch(() => {});
  }
}

/**
 * The gateway's handlers, on the protocol-level server under `McpServer`: a proxy does not know
 * its tools in advance, so it answers the methods itself rather than registering tools.
 */
function addHandlers(
  server: McpServer['server'],
  deps: McpGatewayDeps,
  context: McpRequestContext,
): void {
  const { enforcement } = deps;

  async function check(
    action: string,
    operation: string,
    args: Readonly<Record<string, unknown>> | undefined,
    traceparent: string | undefined,
  ): Promise<GatewayVerdict> {
    const call: GatewayCall = {
      token: context.token,
      upstream: context.upstream,
      action,
      operation,
      clientAddress: context.clientAddress,
      requestId: context.requestId,
      ...(args !== undefined ? { arguments: args } : {}),
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(context.declaredBytes !== undefined ? { declaredBytes: context.declaredBytes } : {}),
      ...(context.receivedAt !== undefined ? { receivedAt: context.receivedAt } : {}),
    };
    return enforcement.check(call);
  }

  async function decide(
    action: string,
    operation: string,
    args: Readonly<Record<string, unknown>> | undefined,
    meta: unknown,
  ): Promise<Allowed> {
    const verdict = await check(action, operation, args, traceparentOf(meta, context));
    if (verdict.outcome === 'refuse') throw refusalError(verdict);
    return verdict;
  }

  /**
   * The entries of a listing the caller may see: for each, the core's decision for the action
   * that would use it (named by `name`), without arguments, neither recorded nor counted against
   * rate limits (the listing itself was decided and recorded). Any failure hides an entry (fail
   * closed); one that needs a person's approval stays visible, since it is allowed once approved.
   */
  async function visibleOnly<T>(
    entries: readonly T[],
    action: string,
    name: (entry: T) => string,
  ): Promise<T[]> {
    const shown = await Promise.all(
      entries.map((entry) =>
        enforcement.visible({
          token: context.token,
          upstream: context.upstream,
          action,
          operation: name(entry),
          clientAddress: context.clientAddress,
          requestId: context.requestId,
        }),
      ),
    );
    return entries.filter((_, index) => shown[index]);
  }

  async function forward<T>(
    verdict: Allowed,
    send: (client: Client, timeout: number) => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    const record = (status: number, bytes: number, error?: string, content?: unknown) =>
      enforcement.complete({
        recordId: verdict.recordId,
        status,
        bytes,
        latencyMs: performance.now() - started,
        ...(error !== undefined ? { error } : {}),
        // Always handed over: the core scans every result for credentials, and keeps the
        // content in the record only where the upstream asks for it.
        ...(content !== undefined ? { content } : {}),
      });
    // Nothing goes upstream for an agent that has gone or a call whose deadline has passed.
    const stopped = enforcement.beforeForward(verdict, { gone: context.clientGone?.() ?? false });
    if (stopped !== undefined) throw refusalError(stopped);
    let result: T;
    try {
      result = await deps.upstreams.call(
        {
          upstream: verdict.upstream,
          // One upstream session per workload identity: a stateful upstream's state stays with it.
          identity: verdict.claims.client_id,
          inject: verdict.inject,
          // The core's span (or the caller's context continued), so the upstream joins the trace.
          traceparent: verdict.traceparent,
        },
        send,
      );
    } catch (error) {
      if (timedOut(error)) {
        await record(504, 0, 'upstream_timeout');
        throw refusalError({
          code: 'upstream_timeout',
          status: 504,
          message: 'The upstream MCP server did not answer in time.',
          recordId: verdict.recordId,
        });
      }
      if (error instanceof McpError && error.code !== CONNECTION_CLOSED) {
        // The upstream answered with a JSON-RPC error: its answer, passed on as it is.
        await record(200, 0, `jsonrpc_error ${error.code}`);
        throw new JsonRpcError(error.code, plainMessage(error), error.data);
      }
      await record(502, 0, 'upstream_unavailable');
      throw refusalError({
        code: 'upstream_unavailable',
        status: 502,
        message: 'The upstream MCP server could not be reached.',
        recordId: verdict.recordId,
      });
    }
    const bytes = Buffer.byteLength(JSON.stringify(result));
    if (bytes > verdict.upstream.maxResponseBytes) {
      await record(502, bytes, 'response_too_large');
      throw refusalError({
        code: 'response_too_large',
        status: 502,
        message: 'The upstream answer is larger than this upstream may send.',
        recordId: verdict.recordId,
      });
    }
    await record(200, bytes, undefined, result);
    return result;
  }

  /** The listing decision for an MCP upstream is about the upstream itself (`list_tools` on `Upstream`). */
  const listing = (meta: unknown) => decide('list_tools', context.upstream, undefined, meta);

  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, timeout) =>
      client.request(
        { method: 'tools/list', params: request.params ?? {} },
        ListToolsResultSchema,
        {
          timeout,
        },
      ),
    );
    return {
      ...result,
      tools: await visibleOnly(result.tools, 'invoke_tool', (tool) => tool.name),
    };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args, _meta: meta } = request.params;
    const verdict = await decide('invoke_tool', name, args ?? {}, meta);
    return forward(verdict, (client, timeout) =>
      client.request({ method: 'tools/call', params: request.params }, CallToolResultSchema, {
        timeout,
      }),
    );
  });

  server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, timeout) =>
      listOrEmpty(
        client.request(
          { method: 'resources/list', params: request.params ?? {} },
          ListResourcesResultSchema,
          { timeout },
        ),
        { resources: [] },
      ),
    );
    const resources = await visibleOnly(result.resources, 'read_resource', (r) => r.uri);
    return { ...result, resources };
  });

  server.setRequestHandler(ListResourceTemplatesRequestSchema, async (request) => {
    // Templates name no concrete resource to decide on; every read made from one is decided.
    const verdict = await listing(request.params?._meta);
    return forward(verdict, (client, timeout) =>
      listOrEmpty(
        client.request(
          { method: 'resources/templates/list', params: request.params ?? {} },
          ListResourceTemplatesResultSchema,
          { timeout },
        ),
        { resourceTemplates: [] },
      ),
    );
  });

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri, _meta: meta } = request.params;
    const verdict = await decide('read_resource', uri, undefined, meta);
    return forward(verdict, (client, timeout) =>
      client.request(
        { method: 'resources/read', params: request.params },
        ReadResourceResultSchema,
        { timeout },
      ),
    );
  });

  server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, timeout) =>
      listOrEmpty(
        client.request(
          { method: 'prompts/list', params: request.params ?? {} },
          ListPromptsResultSchema,
          { timeout },
        ),
        { prompts: [] },
      ),
    );
    const prompts = await visibleOnly(result.prompts, 'get_prompt', (prompt) => prompt.name);
    return { ...result, prompts };
  });

  server.setRequestHandler(GetPromptRequestSchema, async (request) => {
    const { name, arguments: args, _meta: meta } = request.params;
    const verdict = await decide('get_prompt', name, args ?? {}, meta);
    return forward(verdict, (client, timeout) =>
      client.request({ method: 'prompts/get', params: request.params }, GetPromptResultSchema, {
        timeout,
      }),
    );
  });
}

/**
 * The gateway always offers tools, resources and prompts (it cannot know the upstream's
 * capabilities before a call); an upstream without one of them answers "method not found",
 * which for a listing means an empty list.
 */
async function listOrEmpty<T>(pending: Promise<T>, empty: T): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof McpError && error.code === METHOD_NOT_FOUND) return empty;
    throw error;
  }
}

/**
 * The SDK's request timeout, or the socket cap of the upstream leg's fetch (a request the SDK
 * set no timeout for, or one it gave up on a moment earlier).
 */
function timedOut(error: unknown): boolean {
  if (error instanceof McpError) return error.code === REQUEST_TIMEOUT;
  return error instanceof Error && error.name === 'TimeoutError';
}

/** Trace context: the MCP convention `params._meta.traceparent` first, then the HTTP header. */
function traceparentOf(meta: unknown, context: McpRequestContext): string | undefined {
  if (typeof meta === 'object' && meta !== null && 'traceparent' in meta) {
    const value = meta.traceparent;
    if (typeof value === 'string' && TRACEPARENT.test(value)) return value;
  }
  return context.traceparent;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
