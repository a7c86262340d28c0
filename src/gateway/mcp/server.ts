import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type {
  RequestHandlerExtra,
  RequestOptions,
} from '@modelcontextprotocol/sdk/shared/protocol.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import {
  CallToolRequestSchema,
  EmptyResultSchema,
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  LATEST_PROTOCOL_VERSION,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  UnsubscribeRequestSchema,
  type InitializeRequest,
  type JSONRPCMessage,
  type Progress,
  type ServerNotification,
  type ServerRequest,
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
import {
  STORAGE_RETRY_AFTER_SECONDS,
  StewardError,
  storageUnavailable,
} from '../../errors/index.js';
import { DeadlineExceeded, waitWithin } from '../deadline.js';
import { REFUSAL_CATALOG } from '../refusals.js';
import type { EnforcementCore, GatewayCall, GatewayVerdict } from '../types.js';
import { scrubResult } from '../scrub.js';
import type { McpCatalog } from './catalog/index.js';
import { JsonRpcError, plainMessage, REQUEST_CANCELLED, refusalError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import { answerBox, cancelBox, createRelay, type RelayLimits } from './relay.js';
import type { McpSession, McpSessionStore } from './sessions.js';
import type { UpstreamPool } from './upstream-pool.js';

type Allowed = Extract<GatewayVerdict, { outcome: 'allow' }>;
type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

// JSON-RPC codes arrive as plain numbers; compared as such.
const REQUEST_TIMEOUT: number = ErrorCode.RequestTimeout;
const CONNECTION_CLOSED: number = ErrorCode.ConnectionClosed;
const METHOD_NOT_FOUND: number = ErrorCode.MethodNotFound;

/** What the MCP gateway needs: the enforcement core, and how to reach upstreams. */
export interface McpGatewayDeps {
  readonly enforcement: EnforcementCore;
  /** This replica's connected upstream clients (see `createUpstreamPool`). */
  readonly upstreams: UpstreamPool;
  /** Agent sessions, shared by the replicas through the database. */
  readonly sessions: McpSessionStore;
  /** Hands agents' answers and cancellations to the replica that waits for them. */
  readonly mailbox: Mailbox;
  readonly limits: RelayLimits & {
    /** How long a call may run at most, however often its upstream reports progress. */
    readonly maxCallMs: number;
  };
  /** What each upstream lists, and its tools' pins: names are taken only as listed. */
  readonly catalog: McpCatalog;
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
  /** The token's workload identity (`client_id`), verified: the owner of any session it opens. */
  readonly identity: string;
  /** The `Mcp-Session-Id` the agent sent, if any. */
  readonly sessionId?: string | undefined;
  /** When the HTTP request arrived (`performance.now()`): the core's store deadline counts from it. */
  readonly receivedAt?: number | undefined;
  /** True once the agent's connection has closed: nothing is forwarded for it then. */
  readonly clientGone?: (() => boolean) | undefined;
}

/**
 * MCP methods answered on an event stream (in a session, or with a progress token), so that what
 * the upstream sends about them is relayed.
 */
const STREAMED = new Set(['tools/call', 'resources/read', 'prompts/get']);
/** JSON-RPC ids longer than this are not looked up (a cancellation or answer to nothing of ours). */
const MAX_ID_LENGTH = 128;
/** How long a cancellation waits for the replica running the call to pick it up. */
const CANCEL_TTL_MS = 60_000;

/** The spec's answer to a session id the server does not know (or that is not the caller's). */
export function sessionNotFound(): Response {
  return Response.json(
    { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null },
    { status: 404 },
  );
}

/**
 * The agent's session named by `context.sessionId`, when it is live and the caller's own. A
 * session presented with another identity's token is refused like an unknown one, and the attempt
 * is recorded. The store is waited on within the call's deadline (the core's store timeout,
 * counted from the request's arrival); past it, or when the store fails, this throws
 * `storage_unavailable` and nothing of the request is served.
 */
export async function resolveSession(
  deps: McpGatewayDeps,
  context: McpRequestContext,
): Promise<McpSession | undefined> {
  if (context.sessionId === undefined) return undefined;
  const session = await withinStoreDeadline(
    deps,
    context,
    deps.sessions.find(context.sessionId, context.upstream),
  );
  if (session === undefined) return undefined;
  if (session.identityId !== context.identity) {
    await deps.enforcement.reject(
      {
        token: context.token,
        upstream: context.upstream,
        action: 'listen',
        operation: context.upstream,
        clientAddress: context.clientAddress,
        requestId: context.requestId,
        ...(context.receivedAt !== undefined ? { receivedAt: context.receivedAt } : {}),
      },
      'forbidden',
      'The MCP session belongs to another identity.',
    );
    return undefined;
  }
  deps.sessions.touch(session);
  return session;
}

/**
 * `pending` (a wait on the store before any decision), within the core's store deadline for this
 * request: a store that hangs must not hold agents, nor turn into calls forwarded late.
 */
async function withinStoreDeadline<T>(
  deps: McpGatewayDeps,
  context: McpRequestContext,
  pending: Promise<T>,
): Promise<T> {
  try {
    return await waitWithin(deps.enforcement.storeTimeoutMs, pending, context.receivedAt);
  } catch (error) {
    throw storageUnavailable(error);
  }
}

/**
 * The answer to a request whose session could not be read or written in time: each JSON-RPC
 * request in it is refused with `audit_unavailable` (nothing was decided or forwarded), as the
 * core refuses a call whose record cannot be written.
 */
function storeUnavailableAnswer(messages: readonly JSONRPCMessage[]): Response {
  const refusal = refusalError({
    code: 'audit_unavailable',
    message: "Steward's database did not answer in time; the request is not served.",
  });
  const error = { code: refusal.code, message: refusal.message, data: refusal.data };
  const answers = messages
    .filter(isJSONRPCRequest)
    .map((message) => ({ jsonrpc: '2.0', id: message.id, error }));
  if (answers.length === 0) {
    return Response.json(
      { jsonrpc: '2.0', id: null, error },
      {
        status: REFUSAL_CATALOG.audit_unavailable.status,
        headers: { 'retry-after': String(STORAGE_RETRY_AFTER_SECONDS) },
      },
    );
  }
  return Response.json(answers.length === 1 ? answers[0] : answers);
}

/**
 * One JSON Schema validator for every per-request server. Left out, each `McpServer` builds its
 * own Ajv instance (meta-schemas compiled anew): the largest single cost of a request in a CPU
 * profile of the gateway bench.
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();

/** Capabilities the gateway offers every agent, whatever the upstream offers (see `listOrEmpty`). */
const CAPABILITIES = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  logging: {},
} as const;

/**
 * Serves one POST of MCP Streamable HTTP for the agent with a fresh server: every method that
 * reaches the upstream is decided by the enforcement core first.
 *
 * `initialize` opens an agent session (see `McpSessionStore`): its id comes back in
 * `Mcp-Session-Id`, and what the agent declared is kept in the database, so any replica serves
 * the session's later requests without having seen it. A request without a session id is served
 * statelessly (nothing the agent did not declare is relayed to it). Calls that can run long
 * (`tools/call`, `resources/read`, `prompts/get`) are answered on an event stream that carries
 * what the upstream sends about them (progress, log lines, elicitation, sampling, roots) when
 * they run in a session or ask for progress; the rest, and those otherwise, with JSON. Answers
 * to relayed requests and cancellations are handed, through the mailbox, to whichever replica
 * waits for them.
 */
export async function handleMcpRequest(
  deps: McpGatewayDeps,
  context: McpRequestContext,
  request: Request,
  body: string,
): Promise<Response> {
  const messages = parseMessages(body);
  const initialize = initializeOf(messages);
  let session: McpSession | undefined;
  let newSessionId: string | undefined;
  try {
    if (initialize !== undefined) {
      const requested = initialize.params.protocolVersion;
      const created = await withinStoreDeadline(
        deps,
        context,
        deps.sessions.create({
          identityId: context.identity,
          upstream: context.upstream,
          capabilities: initialize.params.capabilities,
          protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
            ? requested
            : LATEST_PROTOCOL_VERSION,
        }),
      );
      for (const hash of created.ended) deps.upstreams.endSession(hash, false);
      session = created.session;
      newSessionId = created.id;
    } else if (context.sessionId !== undefined) {
      session = await resolveSession(deps, context);
      if (session === undefined) return sessionNotFound();
    }
  } catch (error) {
    if (error instanceof StewardError && error.code === 'storage_unavailable') {
      return storeUnavailableAnswer(messages);
    }
    throw error;
  }

  const mcp = new McpServer(
    { name: `steward-gateway/${context.upstream}`, version: '0.1.0' },
    { capabilities: CAPABILITIES, jsonSchemaValidator: SCHEMA_VALIDATOR },
  );
  addHandlers(mcp.server, deps, context, session);
  // An event stream only where something may come to relay: the call runs in a session (log
  // lines, the server's own requests) or asked for progress. Otherwise one JSON answer, cheaper.
  const streamed = messages.some(
    (m) =>
      isJSONRPCRequest(m) &&
      STREAMED.has(m.method) &&
      (session !== undefined || m.params?._meta?.progressToken !== undefined),
  );
  const transport = new WebStandardStreamableHTTPServerTransport({
    enableJsonResponse: !streamed,
    // Set only for `initialize`: the transport then answers with `Mcp-Session-Id`. Later
    // requests are checked against the database above, not by a transport that never saw them.
    ...(newSessionId !== undefined ? { sessionIdGenerator: () => newSessionId } : {}),
  });
  await mcp.connect(transport);
  interceptAgentMessages(transport, deps, session);
  if (!streamed) {
    try {
      return await transport.handleRequest(request, { parsedBody: safeJson(body) });
    } finally {
      // JSON mode: every answer is in the Response already, so the server can go.
      await mcp.close().catch(() => {});
    }
  }
  // Event stream: the server goes when the last answer has been written (or could not be).
  const open = new Set(messages.filter(isJSONRPCRequest).map((m) => m.id));
  const send = transport.send.bind(transport);
  transport.send = async (message, options) => {
    const answer = isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message);
    try {
      await send(message, options);
    } finally {
      if (answer) {
        if (message.id !== undefined) open.delete(message.id);
        if (open.size === 0) setImmediate(() => void mcp.close().catch(() => {}));
      }
    }
  };
  return transport.handleRequest(request, { parsedBody: safeJson(body) });
}

/** The `initialize` request among `messages`, if any. */
function initializeOf(messages: readonly JSONRPCMessage[]): InitializeRequest | undefined {
  for (const message of messages) if (isInitializeRequest(message)) return message;
  return undefined;
}

/** The body's JSON-RPC messages, for routing; the transport validates them in full. */
function parseMessages(body: string): JSONRPCMessage[] {
  const parsed = safeJson(body);
  const list: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  return list.filter(
    (m): m is JSONRPCMessage => typeof m === 'object' && m !== null && 'jsonrpc' in m,
  );
}

function safeJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * What an agent sends that is no request: its answers to relayed requests (ids the gateway
 * made, `stw-…`) and its cancellations go to the mailbox, whichever replica waits for them;
 * both only within the agent's own session. Everything else goes to the server as usual.
 */
function interceptAgentMessages(
  transport: WebStandardStreamableHTTPServerTransport,
  deps: McpGatewayDeps,
  session: McpSession | undefined,
): void {
  const onmessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = message.id;
      if (
        session !== undefined &&
        typeof id === 'string' &&
        id.startsWith('stw-') &&
        id.length <= MAX_ID_LENGTH
      ) {
        void deps.mailbox
          .deliver(
            answerBox(session.hash, id),
            JSON.stringify(message),
            deps.limits.requestTimeoutMs,
          )
          .catch(() => {});
      }
      return;
    }
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const requestId = message.params?.['requestId'];
      if (
        session !== undefined &&
        (typeof requestId === 'number' || typeof requestId === 'string') &&
        String(requestId).length <= MAX_ID_LENGTH
      ) {
        const reason = message.params?.['reason'];
        void deps.mailbox
          .deliver(
            cancelBox(session.hash, requestId),
            typeof reason === 'string' ? reason.slice(0, 200) : '',
            CANCEL_TTL_MS,
          )
          .catch(() => {});
      }
      return;
    }
    onmessage?.(message, extra);
  };
}

/**
 * The gateway's handlers, on the protocol-level server under `McpServer`: a proxy does not know
 * its tools in advance, so it answers the methods itself rather than registering tools.
 */
function addHandlers(
  server: McpServer['server'],
  deps: McpGatewayDeps,
  context: McpRequestContext,
  session: McpSession | undefined,
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

  async function enforceCall(
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

  /** What a forwarded call relays: the agent request it serves, and its progress token. */
  interface Relaying {
    readonly extra: Extra;
    readonly operation: string;
  }

  async function forward<T>(
    verdict: Allowed,
    send: (client: Client, options: RequestOptions) => Promise<T>,
    relaying?: Relaying,
  ): Promise<T> {
    const started = performance.now();
    const relayed: Record<string, number> = {};
    const record = (
      status: number,
      bytes: number,
      error?: string,
      content?: unknown,
      secretEchoed?: readonly string[],
    ) =>
      enforcement.complete({
        ...(secretEchoed !== undefined ? { secretEchoed } : {}),
        recordId: verdict.recordId,
        status,
        bytes,
        latencyMs: performance.now() - started,
        ...(error !== undefined ? { error } : {}),
        // Always handed over: the core scans every result for credentials, and keeps the
        // content in the record only where the upstream asks for it.
        ...(content !== undefined ? { content } : {}),
        ...(Object.keys(relayed).length > 0 ? { relayed } : {}),
      });
    // Nothing goes upstream for an agent that has gone or a call whose deadline has passed.
    const stopped = enforcement.beforeForward(verdict, { gone: context.clientGone?.() ?? false });
    if (stopped !== undefined) throw refusalError(stopped);
    const { upstream } = verdict;
    // The call's own limits: `timeoutMs` of silence (progress and relayed messages count as
    // activity; a relayed request waiting for a person does not run the clock), and the
    // gateway's cap on a whole call; and the agent's cancellation, from whichever replica.
    // The SDK keeps listening to a request's signal after it is answered (an abort then would
    // still send `notifications/cancelled`), so the signal aborts only while the call runs.
    const controller = new AbortController();
    let running = true;
    let cancelledByAgent = false;
    const abort = (reason: McpError) => {
      if (running) controller.abort(reason);
    };
    const timeoutError = () => new McpError(ErrorCode.RequestTimeout, 'Request timed out');
    const idle = idleTimer(upstream.timeoutMs, () => abort(timeoutError()));
    const total = setTimeout(() => abort(timeoutError()), deps.limits.maxCallMs);
    const waited = new AbortController();
    const agentRequestId = relaying?.extra.requestId;
    if (session !== undefined && agentRequestId !== undefined) {
      deps.mailbox
        .wait(cancelBox(session.hash, agentRequestId), {
          timeoutMs: deps.limits.maxCallMs,
          signal: waited.signal,
        })
        .then(
          () => {
            cancelledByAgent = running;
            abort(new McpError(REQUEST_CANCELLED, 'The agent cancelled the request.'));
          },
          () => {},
        );
    }
    const secrets = [
      ...Object.values(verdict.inject.headers),
      ...Object.values(verdict.inject.query),
    ];
    const relay =
      relaying === undefined
        ? undefined
        : createRelay({
            enforcement,
            mailbox: deps.mailbox,
            limits: deps.limits,
            session,
            call: callBase(relaying.extra._meta),
            operation: relaying.operation,
            send: (message) => relaying.extra.sendNotification(message as never),
            secrets,
            counts: relayed,
            waiting: (on) => idle.pause(on),
            activity: () => idle.touch(),
          });
    const progressToken = relaying?.extra._meta?.progressToken;
    const options: RequestOptions = {
      timeout: deps.limits.maxCallMs,
      signal: controller.signal,
      ...(progressToken !== undefined && relaying !== undefined
        ? {
            onprogress: (progress: Progress) => {
              idle.touch();
              relayed['notifications/progress'] = (relayed['notifications/progress'] ?? 0) + 1;
              void relaying.extra
                .sendNotification({
                  method: 'notifications/progress',
                  params: { ...progress, progressToken },
                })
                .catch(() => {});
            },
          }
        : {}),
    };
    let result: T;
    try {
      result = await deps.upstreams.call(
        {
          upstream,
          // One upstream session per agent session (or, for a stateless agent, per identity): a
          // stateful upstream's state stays with it.
          identity: verdict.claims.client_id,
          inject: verdict.inject,
          // The core's span (or the caller's context continued), so the upstream joins the trace.
          traceparent: verdict.traceparent,
          session,
          relay,
          socketMs: deps.limits.maxCallMs,
        },
        (client) => send(client, options),
      );
    } catch (error) {
      if (cancelledByAgent) {
        await record(REFUSAL_CATALOG.client_gone.status, 0, 'cancelled');
        throw new JsonRpcError(REQUEST_CANCELLED, 'The request was cancelled.');
      }
      if (error instanceof DeadlineExceeded) {
        // Connecting waited on a hung store: nothing was sent.
        await record(REFUSAL_CATALOG.audit_unavailable.status, 0, 'not_forwarded: store_timeout');
        throw refusalError({
          code: 'audit_unavailable',
          message: "Steward's database did not answer in time; the call is not forwarded.",
          recordId: verdict.recordId,
        });
      }
      if (timedOut(error)) {
        await record(REFUSAL_CATALOG.upstream_timeout.status, 0, 'upstream_timeout');
        throw refusalError({
          code: 'upstream_timeout',
          message: 'The upstream MCP server did not answer in time.',
          recordId: verdict.recordId,
        });
      }
      if (error instanceof McpError && error.code !== CONNECTION_CLOSED) {
        // The upstream answered with a JSON-RPC error: its answer, passed on as it is.
        // The upstream's own words, but never the credential it was sent.
        const answer = { message: plainMessage(error), data: error.data };
        const scrubbed = scrubResult(verdict.inject.scrub, answer, 'error');
        await record(200, 0, `jsonrpc_error ${error.code}`, undefined, scrubbed.secretEchoed);
        throw new JsonRpcError(error.code, scrubbed.value.message, scrubbed.value.data);
      }
      await record(REFUSAL_CATALOG.upstream_unavailable.status, 0, 'upstream_unavailable');
      throw refusalError({
        code: 'upstream_unavailable',
        message: 'The upstream MCP server could not be reached.',
        recordId: verdict.recordId,
      });
    } finally {
      running = false;
      idle.clear();
      clearTimeout(total);
      // Ends the wait for a cancellation.
      waited.abort();
    }
    const bytes = Buffer.byteLength(JSON.stringify(result));
    if (bytes > upstream.maxResponseBytes) {
      await record(REFUSAL_CATALOG.response_too_large.status, bytes, 'response_too_large');
      throw refusalError({
        code: 'response_too_large',
        message: 'The upstream answer is larger than this upstream may send.',
        recordId: verdict.recordId,
      });
    }
    // The injected secret never comes back to the agent, nor into the record.
    const scrubbed = scrubResult(verdict.inject.scrub, result);
    await record(200, bytes, undefined, scrubbed.value, scrubbed.secretEchoed);
    return scrubbed.value;
  }

  /** The parts of a gateway call every decision of this request shares. */
  function callBase(meta: unknown): Omit<GatewayCall, 'action' | 'operation' | 'arguments'> {
    const traceparent = traceparentOf(meta, context);
    return {
      token: context.token,
      upstream: context.upstream,
      clientAddress: context.clientAddress,
      requestId: context.requestId,
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(context.declaredBytes !== undefined ? { declaredBytes: context.declaredBytes } : {}),
    };
  }

  /** The listing decision for an MCP upstream is about the upstream itself (`list_tools` on `Upstream`). */
  const listing = (meta: unknown) => enforceCall('list_tools', context.upstream, undefined, meta);

  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, options) =>
      client.request(
        { method: 'tools/list', params: request.params ?? {} },
        ListToolsResultSchema,
        options,
      ),
    );
    const complete = request.params?.cursor === undefined && result.nextCursor === undefined;
    const shown = await deps.catalog.listedTools(
      verdict,
      result.tools,
      complete,
      context.requestId,
      session,
    );
    return { ...result, tools: await visibleOnly(shown, 'invoke_tool', (tool) => tool.name) };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args, _meta: meta } = request.params;
    const verdict = await enforceCall('invoke_tool', name, args ?? {}, meta);
    await deps.catalog.admit(verdict, 'tool', name, context.requestId, session);
    return forward(
      verdict,
      (client, options) =>
        client.request(
          { method: 'tools/call', params: request.params },
          CallToolResultSchema,
          options,
        ),
      { extra, operation: name },
    );
  });

  server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, options) =>
      listOrEmpty(
        client.request(
          { method: 'resources/list', params: request.params ?? {} },
          ListResourcesResultSchema,
          options,
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
    return forward(verdict, (client, options) =>
      listOrEmpty(
        client.request(
          { method: 'resources/templates/list', params: request.params ?? {} },
          ListResourceTemplatesResultSchema,
          options,
        ),
        { resourceTemplates: [] },
      ),
    );
  });

  server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
    const { uri, _meta: meta } = request.params;
    const verdict = await enforceCall('read_resource', uri, undefined, meta);
    await deps.catalog.admit(verdict, 'resource', uri, context.requestId, session);
    return forward(
      verdict,
      (client, options) =>
        client.request(
          { method: 'resources/read', params: request.params },
          ReadResourceResultSchema,
          options,
        ),
      { extra, operation: uri },
    );
  });

  // Subscribing and unsubscribing are one action: who may no longer subscribe may not
  // unsubscribe either, and the gateway's stream stops relaying updates policy would not allow.
  for (const [schema, method] of [
    [SubscribeRequestSchema, 'resources/subscribe'],
    [UnsubscribeRequestSchema, 'resources/unsubscribe'],
  ] as const) {
    server.setRequestHandler(schema, async (request) => {
      const { uri, _meta: meta } = request.params;
      const verdict = await enforceCall('subscribe_resource', uri, undefined, meta);
      await deps.catalog.admit(verdict, 'resource', uri, context.requestId, session);
      return forward(verdict, (client, options) =>
        client.request({ method, params: request.params }, EmptyResultSchema, options),
      );
    });
  }

  server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    const verdict = await enforceCall('listen', context.upstream, undefined, request.params._meta);
    return forward(verdict, (client, options) =>
      client.request(
        { method: 'logging/setLevel', params: request.params },
        EmptyResultSchema,
        options,
      ),
    );
  });

  server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
    const verdict = await listing(request.params?._meta);
    const result = await forward(verdict, (client, options) =>
      listOrEmpty(
        client.request(
          { method: 'prompts/list', params: request.params ?? {} },
          ListPromptsResultSchema,
          options,
        ),
        { prompts: [] },
      ),
    );
    const prompts = await visibleOnly(result.prompts, 'get_prompt', (prompt) => prompt.name);
    return { ...result, prompts };
  });

  server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
    const { name, arguments: args, _meta: meta } = request.params;
    const verdict = await enforceCall('get_prompt', name, args ?? {}, meta);
    await deps.catalog.admit(verdict, 'prompt', name, context.requestId, session);
    return forward(
      verdict,
      (client, options) =>
        client.request(
          { method: 'prompts/get', params: request.params },
          GetPromptResultSchema,
          options,
        ),
      { extra, operation: name },
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

/**
 * A call's silence limit: `onIdle` after `ms` without activity, restarted by `touch`, held while
 * `pause(true)` (a relayed request waits for the agent).
 */
function idleTimer(
  ms: number,
  onIdle: () => void,
): {
  touch(): void;
  pause(on: boolean): void;
  clear(): void;
} {
  let paused = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = paused > 0 ? undefined : setTimeout(onIdle, ms);
  };
  arm();
  return {
    touch: arm,
    pause(on) {
      paused += on ? 1 : -1;
      arm();
    },
    clear: () => clearTimeout(timer),
  };
}
