import type { FastifyInstance, FastifyReply } from 'fastify';
import { bearerCredential } from '../../http/bearer.js';
import { ARGUMENT_BOUNDS, checkJsonTextBounds } from '../limits.js';
import type { EnforcementCore } from '../types.js';
import { refusalError } from './errors.js';
import {
  bearerChallenge,
  MCP_GATEWAY_PATH,
  mcpResourceUrl,
  PROTECTED_RESOURCE_WELL_KNOWN,
  protectedResourceMetadata,
  UPSTREAM_NAME,
} from './metadata.js';
import { handleMcpRequest } from './server.js';
import { createUpstreamPool } from './upstream-pool.js';

export interface McpRouteOptions {
  /** Steward's issuer: the base of the resource URL and the authorization server. */
  readonly issuer: string;
  readonly enforcement: EnforcementCore;
  /** The upstream leg's `fetch` (default: the global one); an egress-guarded one in production. */
  readonly fetch?: typeof fetch;
  /** Called once the upstream sessions have ended on close: frees what `fetch` holds. */
  readonly onClosed?: () => Promise<void>;
  /** Limits of this replica's pool of upstream clients (default: 1024 clients, 60 s idle). */
  readonly upstreamPool?: { readonly maxClients?: number; readonly idleMs?: number };
}

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
const MCP_HEADERS = ['content-type', 'accept', 'mcp-protocol-version'] as const;

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
  // Per replica, in memory: connected upstream clients, one per (upstream, calling identity).
  const upstreams = createUpstreamPool({
    fetch: options.fetch,
    maxClients: options.upstreamPool?.maxClients,
    idleMs: options.upstreamPool?.idleMs,
  });
  // Ends the upstream sessions (a DELETE each, best effort) when the app closes.
  app.addHook('onClose', async () => {
    // The pool first: ending its sessions needs the connections that `onClosed` then closes.
    await upstreams.close();
    await options.onClosed?.();
  });
  const deps = { enforcement: options.enforcement, upstreams };

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

  app.post<{ Params: Params; Body: string }>(
    `${MCP_GATEWAY_PATH}/:upstream`,
    {
      bodyLimit: MCP_BODY_LIMIT_BYTES,
      onRequest: async (request, reply) => {
        const { upstream } = request.params;
        if (!UPSTREAM_NAME.test(upstream)) return notFound(reply);
        const token = bearerCredential(request.headers.authorization);
        // The core's token check (it checks again, with the rest, per method); a caller without
        // a valid token is limited per address and counted, not recorded one by one.
        const refused = options.enforcement.authenticate({
          token,
          upstream,
          action: 'mcp',
          operation: '',
          clientAddress: request.ip,
          requestId: request.id,
        });
        if (refused === undefined) return undefined;
        if (refused.status === 401) {
          return unauthorized(reply, issuer, upstream, token !== undefined, refused.message);
        }
        if (refused.retryAfterSeconds !== undefined) {
          reply.header('retry-after', String(refused.retryAfterSeconds));
        }
        return reply
          .code(refused.status)
          .send({ error: refused.code, error_description: refused.message });
      },
    },
    async (request, reply) => {
      const receivedAt = performance.now();
      const { upstream } = request.params;
      const headers = new Headers();
      for (const name of MCP_HEADERS) {
        const value = request.headers[name];
        if (typeof value === 'string') headers.set(name, value);
      }
      const body = typeof request.body === 'string' ? request.body : '';
      const outOfBounds = checkJsonTextBounds(body, MESSAGE_BOUNDS);
      if (outOfBounds !== undefined) {
        // Refused before the transport parses and validates it, the slow part of such a message.
        const refused = await options.enforcement.reject(
          {
            token: bearerCredential(request.headers.authorization),
            upstream,
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
      const traceparent = request.headers.traceparent;
      const length = Number(request.headers['content-length']);
      const declared = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
      const response = await handleMcpRequest(
        deps,
        {
          upstream,
          // Present: onRequest refused the request otherwise.
          token: bearerCredential(request.headers.authorization) ?? '',
          clientAddress: request.ip,
          requestId: request.id,
          ...(typeof traceparent === 'string' ? { traceparent } : {}),
          ...(declared !== undefined ? { declaredBytes: declared } : {}),
          receivedAt,
          clientGone: () => reply.raw.destroyed,
        },
        new Request(mcpResourceUrl(issuer, upstream), {
          method: 'POST',
          headers,
          body,
        }),
      );
      reply.code(response.status);
      response.headers.forEach((value, name) => void reply.header(name, value));
      return reply.send(Buffer.from(await response.arrayBuffer()));
    },
  );

  // Stateless towards agents: no standalone SSE stream to open (GET) and no session to end
  // (DELETE); the pooled upstream sessions are the gateway's own, never the agent's. The spec
  // lets a server answer both with 405, and the SDK's client takes that in its stride.
  app.route<{ Params: Params }>({
    method: ['GET', 'DELETE'],
    url: `${MCP_GATEWAY_PATH}/:upstream`,
    handler: async (_request, reply) =>
      reply
        .code(405)
        .header('allow', 'POST')
        .send({
          jsonrpc: '2.0',
          error: { code: -32000, message: 'Method not allowed: this gateway is stateless.' },
          id: null,
        }),
  });
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
