import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Kysely } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerCredential } from '../../shared/bearer.js';
import type { Clock } from '../../shared/clock.js';
import type { Database, Notifications } from '../../store/index.js';
import type { ToolPinService } from '../../toolpins/index.js';
import type { AccessTokenClaims } from '../../tokens/index.js';
import { ARGUMENT_BOUNDS, checkJsonTextBounds } from '../limits.js';
import type { EnforcementCore } from '../types.js';
import { createMcpCatalog } from './catalog/index.js';
import { refusalError } from './errors.js';
import {
  bearerChallenge,
  MCP_GATEWAY_PATH,
  mcpResourceUrl,
  PROTECTED_RESOURCE_WELL_KNOWN,
  protectedResourceMetadata,
  UPSTREAM_NAME,
} from './metadata.js';
import { createMailbox } from './mailbox.js';
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from './relay.js';
import { handleMcpRequest, resolveSession, sessionNotFound } from './server.js';
import { createMcpSessionStore } from './sessions.js';
import { handleMcpListen } from './stream.js';
import { createUpstreamPool } from './upstream-pool.js';

export interface McpRouteOptions {
  /** Steward's issuer: the base of the resource URL and the authorization server. */
  readonly issuer: string;
  readonly enforcement: EnforcementCore;
  /** Tool-definition pins; the catalog checks every tool against them. */
  readonly toolPins: Pick<ToolPinService, 'state' | 'observe' | 'onChanged'>;
  /** For the age of cached upstream listings, and sessions' expiry. */
  readonly clock: Clock;
  /** The upstream leg's `fetch` (default: the global one); an egress-guarded one in production. */
  readonly fetch?: typeof fetch;
  /** Called once the upstream sessions have ended on close: frees what `fetch` holds. */
  readonly onClosed?: () => Promise<void>;
  /** Limits of this replica's pool of upstream clients (default: 1024 clients, 60 s idle). */
  readonly upstreamPool?: { readonly maxClients?: number; readonly idleMs?: number };
  /** Where agent sessions and relayed messages are kept (shared by the replicas). */
  readonly db: Kysely<Database>;
  readonly notifications: Notifications;
  /** Agent sessions: idle lifetime (default 1 h), live sessions per identity and upstream (32). */
  readonly sessions?: { readonly idleMs?: number; readonly maxPerIdentity?: number };
  /** Bounds of relaying (defaults: `DEFAULT_RELAY_LIMITS`, calls at most 15 minutes). */
  readonly limits?: Partial<RelayLimits & { readonly maxCallMs: number }>;
}

/** A call runs at most this long, however often its upstream reports progress. */
export const DEFAULT_MAX_CALL_MS = 15 * 60_000;
/** How often a replica deletes expired sessions. */
const SWEEP_MS = 60_000;

/**
 * The largest MCP message the gateway reads from an agent; the core applies the upstream's own
 * (smaller or larger) limit to what it forwards.
 */
const MCP_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The bounds on an agent's JSON-RPC message, checked before it is parsed: those of the arguments
 * it carries, with room for the levels and keys of the envelope around them (a batch, the
 * message, `params`, `arguments`).
 */
const MESSAGE_BOUNDS = {
  maxDepth: ARGUMENT_BOUNDS.maxDepth + 4,
  maxKeysPerObject: ARGUMENT_BOUNDS.maxKeysPerObject,
  maxEntries: ARGUMENT_BOUNDS.maxEntries + 100,
};

/** Request headers of Streamable HTTP the agent-facing transport reads; nothing else is passed on. */
const MCP_HEADERS = ['content-type', 'accept', 'mcp-protocol-version', 'mcp-session-id'] as const;

interface Params {
  readonly upstream: string;
}

/**
 * `/gw/mcp/<upstream>`: MCP Streamable HTTP for agents, and the upstream's protected-resource
 * metadata. Registered without fastify-plugin, so the raw JSON parser below stays in here.
 *
 * Authentication happens first, before the body is read, and answers the MCP authorization
 * spec's 401 with `WWW-Authenticate: Bearer resource_metadata=…`; authorization happens per
 * MCP method in the enforcement core. API keys are not accepted here: only a Steward access
 * token for this upstream (audience: the upstream's name or its gateway URL).
 */
export async function mcpGatewayRoutes(
  app: FastifyInstance,
  options: McpRouteOptions,
): Promise<void> {
  const { issuer } = options;
  const sessions = createMcpSessionStore({
    db: options.db,
    notifications: options.notifications,
    clock: options.clock,
    idleMs: options.sessions?.idleMs,
    maxPerIdentity: options.sessions?.maxPerIdentity,
  });
  const mailbox = createMailbox({
    db: options.db,
    notifications: options.notifications,
    clock: options.clock,
  });
  // Per replica, in memory: connected upstream clients, one per (upstream, calling identity), or
  // per agent session (whose upstream session every replica shares).
  const upstreams = createUpstreamPool({
    fetch: options.fetch,
    maxClients: options.upstreamPool?.maxClients,
    idleMs: options.upstreamPool?.idleMs,
    sessions,
    storeTimeoutMs: options.enforcement.storeTimeoutMs,
    // Called back only once a session exists, after `catalog` below is set.
    onListChanged: (upstream, list) => catalog.invalidate(upstream, list),
  });
  const catalog = createMcpCatalog({
    pool: upstreams,
    pins: options.toolPins,
    enforcement: options.enforcement,
    clock: options.clock,
    storeTimeoutMs: options.enforcement.storeTimeoutMs,
  });
  // A session ended on another replica (or expired): this replica's clients of it go too.
  sessions.onEnded((hash) => upstreams.endSession(hash, false));
  const sweeper = setInterval(() => void sessions.sweep().catch(() => {}), SWEEP_MS);
  sweeper.unref();
  // Ends the upstream sessions (a DELETE each, best effort) when the app closes.
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    mailbox.close();
    sessions.close();
    // The pool first: ending its sessions needs the connections that `onClosed` then closes.
    await upstreams.close();
    catalog.close();
    await options.onClosed?.();
  });
  const deps = {
    enforcement: options.enforcement,
    upstreams,
    catalog,
    sessions,
    mailbox,
    limits: {
      ...DEFAULT_RELAY_LIMITS,
      maxCallMs: DEFAULT_MAX_CALL_MS,
      ...options.limits,
    },
  };
  /** The verified claims of each request, from `onRequest` to its handler. */
  const verified = new WeakMap<FastifyRequest, AccessTokenClaims>();

  // The SDK's transport parses the JSON-RPC body itself, so that a malformed message gets a
  // JSON-RPC parse error rather than a problem document.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  );

  app.get<{ Params: Params }>(
    `${PROTECTED_RESOURCE_WELL_KNOWN}${MCP_GATEWAY_PATH}/:upstream`,
    async (request, reply) => {
      const { upstream } = request.params;
      // Served for every well-formed name, registered or not: the document is the same shape
      // either way, so it tells an unauthenticated caller nothing about which upstreams exist.
      if (!UPSTREAM_NAME.test(upstream)) return notFound(reply);
      return reply
        .header('cache-control', 'public, max-age=300')
        .send(protectedResourceMetadata(issuer, upstream));
    },
  );

  /**
   * Authentication first, before the body is read, with the MCP authorization spec's 401; the
   * core checks the token again, with the rest, for every decision.
   */
  const authenticate = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> => {
    const { upstream } = request.params;
    if (!UPSTREAM_NAME.test(upstream)) return notFound(reply);
    const token = bearerCredential(request.headers.authorization);
    // The core's token check (it checks again, with the rest, per method); a caller without a
    // valid token is limited per address and counted, not recorded one by one.
    const caller = options.enforcement.authenticate({
      token,
      upstream,
      action: 'mcp',
      operation: '',
      clientAddress: request.ip,
      requestId: request.id,
    });
    if (caller.outcome === 'authenticated') {
      verified.set(request, caller.claims);
      return undefined;
    }
    if (caller.status === 401) {
      return unauthorized(reply, issuer, upstream, token !== undefined, caller.message);
    }
    if (caller.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(caller.retryAfterSeconds));
    }
    return reply
      .code(caller.status)
      .send({ error: caller.code, error_description: caller.message });
  };

  /** What every handler passes on: the request as the gateway saw it. */
  const contextOf = (request: FastifyRequest<{ Params: Params }>) => {
    const { upstream } = request.params;
    const traceparent = request.headers.traceparent;
    const length = Number(request.headers['content-length']);
    const declared = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    const sessionId = request.headers['mcp-session-id'];
    const claims = verified.get(request);
    return {
      upstream,
      // Present: onRequest refused the request otherwise.
      token: bearerCredential(request.headers.authorization) ?? '',
      identity: claims?.client_id ?? '',
      expiresAtMs: (claims?.exp ?? 0) * 1000,
      now: () => options.clock.now(),
      clientAddress: request.ip,
      requestId: request.id,
      ...(typeof traceparent === 'string' ? { traceparent } : {}),
      ...(declared !== undefined ? { declaredBytes: declared } : {}),
      ...(typeof sessionId === 'string' ? { sessionId } : {}),
    };
  };

  const webRequest = (
    request: FastifyRequest<{ Params: Params }>,
    method: string,
    body?: string,
  ) => {
    const headers = new Headers();
    for (const name of MCP_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers.set(name, value);
    }
    return new Request(mcpResourceUrl(issuer, request.params.upstream), {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
  };

  app.post<{ Params: Params; Body: string }>(
    `${MCP_GATEWAY_PATH}/:upstream`,
    {
      bodyLimit: MCP_BODY_LIMIT_BYTES,
      onRequest: authenticate,
    },
    async (request, reply) => {
      const receivedAt = performance.now();
      const body = typeof request.body === 'string' ? request.body : '';
      const outOfBounds = checkJsonTextBounds(body, MESSAGE_BOUNDS);
      if (outOfBounds !== undefined) {
        // Refused before the transport parses and validates it, the slow part of such a message.
        const refused = await options.enforcement.reject(
          {
            token: bearerCredential(request.headers.authorization),
            upstream: request.params.upstream,
            action: 'mcp',
            operation: '',
            clientAddress: request.ip,
            requestId: request.id,
            receivedAt,
          },
          outOfBounds.code,
          outOfBounds.message,
        );
        const { code, message, data } = refusalError(refused);
        return reply
          .code(refused.status)
          .send({ jsonrpc: '2.0', error: { code, message, data }, id: null });
      }
      const response = await handleMcpRequest(
        deps,
        { ...contextOf(request), receivedAt, clientGone: () => reply.raw.destroyed },
        webRequest(request, 'POST', body),
        body,
      );
      return relayResponse(reply, response);
    },
  );

  app.get<{ Params: Params }>(
    `${MCP_GATEWAY_PATH}/:upstream`,
    { onRequest: authenticate },
    async (request, reply) => {
      const closed = new AbortController();
      reply.raw.on('close', () => closed.abort());
      const response = await handleMcpListen(
        deps,
        contextOf(request),
        webRequest(request, 'GET'),
        closed.signal,
      );
      return relayResponse(reply, response);
    },
  );

  // The agent ends its session: everywhere, and its upstream session with it.
  app.delete<{ Params: Params }>(
    `${MCP_GATEWAY_PATH}/:upstream`,
    { onRequest: authenticate },
    async (request, reply) => {
      const context = contextOf(request);
      if (context.sessionId === undefined) {
        return reply
          .code(405)
          .header('allow', 'POST')
          .send({
            jsonrpc: '2.0',
            error: { code: -32000, message: 'Method not allowed: there is no session to end.' },
            id: null,
          });
      }
      const session = await resolveSession(deps, context);
      if (session === undefined) return relayResponse(reply, sessionNotFound());
      // This replica ends the upstream session first: ending the agent's session announces it,
      // and what hears of the end (here too) only drops its clients.
      upstreams.endSession(session.hash, true);
      await sessions.end(session.hash);
      return reply.code(200).send();
    },
  );
}

/** The MCP server's Response on the wire: a JSON body as it is, an event stream as it comes. */
async function relayResponse(reply: FastifyReply, response: Response): Promise<FastifyReply> {
  reply.code(response.status);
  response.headers.forEach((value, name) => void reply.header(name, value));
  const streaming = response.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
  if (!streaming || response.body === null) {
    return reply.send(Buffer.from(await response.arrayBuffer()));
  }
  const stream = Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
  // The agent left (the response closed): the web stream is cancelled, which the transport sees.
  reply.raw.on('close', () => stream.destroy());
  return reply.send(stream);
}

/** RFC 6750 §3 with RFC 9728 §5.1's `resource_metadata`; the body in OAuth's error format. */
function unauthorized(
  reply: FastifyReply,
  issuer: string,
  upstream: string,
  presented: boolean,
  description: string,
): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', bearerChallenge(issuer, upstream, presented, description))
    .send({ error: 'invalid_token', error_description: description });
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', error_description: 'No such MCP upstream.' });
}
