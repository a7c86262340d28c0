import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import { REFUSAL_CATALOG } from '../refusals.js';
import { refusalError } from './errors.js';
import { createRelay } from './relay.js';
import {
  resolveSession,
  sessionNotFound,
  type McpGatewayDeps,
  type McpRequestContext,
} from './server.js';

/** Listening streams one identity may hold open on one replica. */
export const DEFAULT_MAX_STREAMS_PER_IDENTITY = 4;
/** How often, and how long apart, a stream the upstream refused as "already open" is retried. */
const CONFLICT_RETRIES = 5;
const CONFLICT_DELAY_MS = 500;

/** Open listening streams per identity, on this replica. */
const streamsByIdentity = new Map<string, number>();

/**
 * Serves an agent's GET: the session's stream of what the upstream sends unprompted (log lines,
 * `list_changed`, updates of subscribed resources, and requests such as `roots/list`).
 *
 * Opening it is decided as `listen` on the upstream and recorded; its outcome record, written
 * when it closes, counts what was relayed. While it is open, this replica holds the upstream
 * session's own stream (one per session, so the agent's stream and the upstream's are on the same
 * replica and nothing unprompted crosses replicas; only the agent's answers do, by the mailbox).
 * Each notification is checked again before it goes: the token must still be valid and policy
 * must still allow `listen` (and `read_resource` for a resource update); a token that has died
 * ends the stream, and the agent reconnects with a fresh one.
 */
export async function handleMcpListen(
  deps: McpGatewayDeps & { readonly maxStreamsPerIdentity?: number },
  context: McpRequestContext & { readonly expiresAtMs: number; readonly now: () => number },
  request: Request,
  closed: AbortSignal,
): Promise<Response> {
  const session = await resolveSession(deps, context);
  // A stateless agent has no stream: the spec's answer for a server without one.
  if (context.sessionId === undefined) return methodNotAllowed();
  if (session === undefined) return sessionNotFound();
  const open = streamsByIdentity.get(context.identity) ?? 0;
  if (open >= (deps.maxStreamsPerIdentity ?? DEFAULT_MAX_STREAMS_PER_IDENTITY)) {
    return jsonRpcError(
      REFUSAL_CATALOG.rate_limited.status,
      REFUSAL_CATALOG.rate_limited.jsonRpc,
      'Too many open streams for this identity.',
    );
  }
  const call = {
    token: context.token,
    upstream: context.upstream,
    clientAddress: context.clientAddress,
    requestId: context.requestId,
    ...(context.traceparent !== undefined ? { traceparent: context.traceparent } : {}),
  };
  const verdict = await deps.enforcement.check({
    ...call,
    action: 'listen',
    operation: context.upstream,
  });
  if (verdict.outcome === 'refuse') {
    // As before: `error.data` is {code, status, recordId}, without the POST path's
    // retryAfterSeconds (what clients see of a refused stream is unchanged).
    const { code, message, data } = refusalError({
      code: verdict.code,
      message: verdict.message,
      recordId: verdict.recordId,
    });
    return jsonRpcError(REFUSAL_CATALOG[verdict.code].status, code, message, data);
  }

  const transport = new WebStandardStreamableHTTPServerTransport({});
  const response = await transport.handleRequest(request);
  if (!response.ok) {
    await deps.enforcement.complete({
      recordId: verdict.recordId,
      status: response.status,
      bytes: 0,
      latencyMs: 0,
      error: 'stream_not_opened',
    });
    return response;
  }

  streamsByIdentity.set(context.identity, open + 1);
  const started = performance.now();
  const counts: Record<string, number> = {};
  const done = new AbortController();
  const stop = () => done.abort();
  closed.addEventListener('abort', stop, { once: true });
  const unsubscribe = deps.sessions.onEnded((hash) => {
    if (hash === session.hash) stop();
  });
  // The stream does not outlive its token.
  const expiry = setTimeout(stop, Math.max(0, context.expiresAtMs - context.now()));
  expiry.unref();

  const admit = async (notification: Notification): Promise<boolean> => {
    if (context.now() >= context.expiresAtMs) {
      stop();
      return false;
    }
    const uri = notification.params?.['uri'];
    const resourceUpdate = notification.method === 'notifications/resources/updated';
    if (resourceUpdate && typeof uri !== 'string') return false;
    const allowed = await deps.enforcement.visible({
      ...call,
      action: resourceUpdate ? 'read_resource' : 'listen',
      operation: resourceUpdate ? String(uri) : context.upstream,
    });
    return allowed;
  };
  const relay = createRelay({
    enforcement: deps.enforcement,
    mailbox: deps.mailbox,
    limits: deps.limits,
    session,
    call,
    operation: context.upstream,
    send: (message) => transport.send(message),
    secrets: [...Object.values(verdict.inject.headers), ...Object.values(verdict.inject.query)],
    admit,
    counts,
  });

  void (async () => {
    for (let attempt = 0; attempt <= CONFLICT_RETRIES && !done.signal.aborted; attempt += 1) {
      try {
        await deps.upstreams.listen(
          {
            upstream: verdict.upstream,
            identity: verdict.claims.client_id,
            inject: verdict.inject,
            traceparent: verdict.traceparent,
            session,
            relay,
          },
          done.signal,
        );
        // The upstream ended its stream: so ends the agent's, which reconnects (and so reopens
        // the upstream's, on whichever replica it lands).
        stop();
        break;
      } catch (error) {
        // 409: the upstream still holds the stream another replica had open for this session.
        if (!(error instanceof Error) || !error.message.includes('HTTP 409')) break;
        await new Promise((resolve) => setTimeout(resolve, CONFLICT_DELAY_MS));
      }
    }
    // Refused or unreachable: the agent's stream stays open until it leaves (its session, its
    // token), as a server with nothing to say keeps it.
  })().catch(() => {});

  void new Promise<void>((resolve) => {
    if (done.signal.aborted) resolve();
    else done.signal.addEventListener('abort', () => resolve(), { once: true });
  }).then(async () => {
    clearTimeout(expiry);
    unsubscribe();
    closed.removeEventListener('abort', stop);
    const left = (streamsByIdentity.get(context.identity) ?? 1) - 1;
    if (left > 0) streamsByIdentity.set(context.identity, left);
    else streamsByIdentity.delete(context.identity);
    await transport.close().catch(() => {});
    await deps.enforcement.complete({
      recordId: verdict.recordId,
      status: 200,
      bytes: 0,
      latencyMs: performance.now() - started,
      ...(Object.keys(counts).length > 0 ? { relayed: counts } : {}),
    });
  });
  return response;
}

function methodNotAllowed(): Response {
  return new Response(
    JSON.stringify({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Method not allowed: open a session first (initialize).' },
      id: null,
    }),
    { status: 405, headers: { allow: 'POST', 'content-type': 'application/json' } },
  );
}

function jsonRpcError(status: number, code: number, message: string, data?: unknown): Response {
  return Response.json(
    { jsonrpc: '2.0', error: { code, message, ...(data !== undefined ? { data } : {}) }, id: null },
    { status },
  );
}
