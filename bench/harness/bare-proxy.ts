/**
 * The gateway scenario's baseline: a pass-through reverse proxy on the gateway's own stack
 * (Fastify + undici) with no checks at all. `ANY /http/*` goes to the HTTP API and `ANY /mcp` to
 * the MCP server: method, path, query, headers (less hop-by-hop ones) and body are forwarded, the
 * answer comes back the same way, streamed. Whatever the caller sends (its own `x-api-key`)
 * reaches the upstream; nothing is verified, decided, recorded or injected.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Pool } from 'undici';

/** RFC 9110 §7.6.1 connection-specific fields, and `host`, which undici sets. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export interface BareProxy {
  readonly url: string;
  close(): Promise<void>;
}

export async function startBareProxy(targets: {
  readonly http: string;
  readonly mcp: string;
}): Promise<BareProxy> {
  const app: FastifyInstance = Fastify({ logger: false });
  const httpOrigin = new URL(targets.http);
  const mcpUrl = new URL(targets.mcp);
  const pools = {
    http: new Pool(httpOrigin.origin, { connections: 256, keepAliveTimeout: 30_000 }),
    mcp: new Pool(mcpUrl.origin, { connections: 256, keepAliveTimeout: 30_000 }),
  };

  // Bodies are passed on as they came, whatever their type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  async function forward(
    pool: Pool,
    path: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    const response = await pool.request({
      path,
      method: request.method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    reply.code(response.statusCode);
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) void reply.header(name, value);
    }
    return reply.send(response.body);
  }

  const query = (request: FastifyRequest): string => {
    const index = request.url.indexOf('?');
    return index === -1 ? '' : request.url.slice(index);
  };
  app.all('/http/*', (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    return forward(pools.http, `/${rest}${query(request)}`, request, reply);
  });
  app.all('/mcp', (request, reply) =>
    forward(pools.mcp, `${mcpUrl.pathname}${query(request)}`, request, reply),
  );

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    async close() {
      await app.close();
      await Promise.all([pools.http.close(), pools.mcp.close()]);
    },
  };
}
