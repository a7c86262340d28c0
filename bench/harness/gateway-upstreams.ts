/**
 * The gateway scenario's upstreams, in a child process of their own (forked by the scenario): a
 * small HTTP API (node:http) and an MCP server (the official SDK, Streamable HTTP, stateless, as
 * the SDK's stateless example and `examples/mcp-server.ts` run it), both on loopback port 0.
 *
 * Both require the upstream key (`BENCH_UPSTREAM_KEY`) in `x-api-key` and answer 401 without it,
 * so a successful call through Steward proves that the credential was injected. `GET /__stats`
 * on the HTTP API says what reached them (for the checks before measuring).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';

/** What the scenario learns from the child once both servers listen. */
export interface UpstreamsReady {
  readonly type: 'ready';
  readonly http: string;
  readonly mcp: string;
}

/** `GET /__stats`: requests that reached the upstreams. */
export interface UpstreamStats {
  readonly httpCalls: number;
  readonly httpAdminCalls: number;
  /** Requests that carried an `authorization` header (an agent's token must never arrive). */
  readonly withAuthorization: number;
  readonly withoutKey: number;
  readonly toolCalls: Readonly<Record<string, number>>;
  /** HTTP requests that reached the MCP server, by method (an MCP call may take several). */
  readonly mcpHttpRequests: Readonly<Record<string, number>>;
}

const key = process.env['BENCH_UPSTREAM_KEY'] ?? '';
if (key.length < 16) throw new Error('BENCH_UPSTREAM_KEY must be set (16 characters or more)');
const keyBytes = Buffer.from(key);

const stats = {
  httpCalls: 0,
  httpAdminCalls: 0,
  withAuthorization: 0,
  withoutKey: 0,
  toolCalls: {} as Record<string, number>,
  mcpHttpRequests: {} as Record<string, number>,
};

function keyMatches(request: IncomingMessage): boolean {
  if (request.headers.authorization !== undefined) stats.withAuthorization += 1;
  const offered = request.headers['x-api-key'];
  if (typeof offered !== 'string') return false;
  const bytes = Buffer.from(offered);
  return bytes.length === keyBytes.length && timingSafeEqual(bytes, keyBytes);
}

const httpApi: Server = createServer((request, response) => {
  if (request.url === '/__stats') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(stats satisfies UpstreamStats));
    return;
  }
  request.resume();
  request.on('end', () => {
    if (!keyMatches(request)) {
      stats.withoutKey += 1;
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end('{"error":"unauthorized"}');
      return;
    }
    if (request.url?.startsWith('/admin')) stats.httpAdminCalls += 1;
    else stats.httpCalls += 1;
    // A small JSON answer, as a typical tool's lookup would give.
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({ id: 'ord_1042', status: 'shipped', items: 2, total: { eur: 129.5 } }),
    );
  });
});

/** The tools, in JSON Schema: the protocol-level handlers need no schema library. */
function buildMcpServer(): McpServer {
  const mcp = new McpServer({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [
      {
        name: 'lookup_order',
        description: 'Look up an order by id.',
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
      {
        name: 'refund',
        description: 'Refund an order (sensitive).',
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
    ],
  }));
  mcp.server.setRequestHandler(CallToolRequestSchema, (request) => {
    const { name, arguments: args } = request.params;
    stats.toolCalls[name] = (stats.toolCalls[name] ?? 0) + 1;
    const id = typeof args?.['id'] === 'string' ? args['id'] : '';
    if (name === 'lookup_order') {
      return { content: [{ type: 'text', text: `Order ${id}: 2 items, shipped on 2026-01-05.` }] };
    }
    if (name === 'refund') return { content: [{ type: 'text', text: `Refunded order ${id}.` }] };
    throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${name}`);
  });
  return mcp;
}

const mcpServer: Server = createServer((request, response) => {
  const method = request.method ?? '';
  stats.mcpHttpRequests[method] = (stats.mcpHttpRequests[method] ?? 0) + 1;
  if (!keyMatches(request)) {
    stats.withoutKey += 1;
    response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    return;
  }
  // Stateless: a fresh server and transport per request.
  const server = buildMcpServer();
  const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
  response.on('close', () => void server.close());
  server
    .connect(transport)
    .then(() => transport.handleRequest(request, response))
    .catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
});

async function listen(server: Server): Promise<string> {
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

const http = await listen(httpApi);
const mcp = `${await listen(mcpServer)}/mcp`;
process.send?.({ type: 'ready', http, mcp } satisfies UpstreamsReady);
process.on('SIGTERM', () => {
  httpApi.closeAllConnections();
  mcpServer.closeAllConnections();
  process.exit(0);
});
