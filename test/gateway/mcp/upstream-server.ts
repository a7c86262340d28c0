/**
 * An upstream MCP server for the gateway's tests: the official SDK's Streamable HTTP server on
 * loopback, stateful (sessions, as most real servers are), with an order lookup, a sensitive
 * refund tool, a slow tool, one resource and one prompt. It records what it received (HTTP
 * method, headers, the JSON-RPC methods in the body, its answer's status, the session of each
 * tool call) so tests can assert what the gateway forwarded (and what it did not).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ErrorCode,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

export const UPSTREAM_KEY = 'upstream-secret-value-0123456789';

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** The JSON-RPC methods in a POST body (`initialize`, `tools/call`, …). */
  readonly rpc: readonly string[];
  /** The status it was answered with, once answered. */
  status?: number;
}

export interface ToolCall {
  readonly name: string;
  readonly arguments: Record<string, unknown> | undefined;
  /** The upstream session the call arrived in. */
  readonly sessionId: string | undefined;
}

export interface TestMcpUpstream {
  readonly url: string;
  readonly port: number;
  /** Every HTTP request, with its headers. */
  readonly requests: ReceivedRequest[];
  /** Every tool call that reached a tool, by name, with its arguments. */
  readonly toolCalls: ToolCall[];
  /** The `x-api-key` values it accepts (at first `UPSTREAM_KEY`); change it to follow a rotation. */
  readonly keys: Set<string>;
  close(): Promise<void>;
}

/** POSTs received since `from` whose body carried the JSON-RPC `method`. */
export function posts(upstream: TestMcpUpstream, method: string, from = 0): ReceivedRequest[] {
  return upstream.requests
    .slice(from)
    .filter((request) => request.method === 'POST' && request.rpc.includes(method));
}

/** Handlers on the protocol-level server: the tools are declared in JSON Schema, no zod needed. */
function buildServer(calls: ToolCall[]): McpServer {
  const mcp = new McpServer(
    { name: 'orders', version: '1.0.0' },
    { capabilities: { tools: {}, resources: {}, prompts: {} } },
  );
  const server = mcp.server;
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [
      {
        name: 'lookup_order',
        description: 'Look up an order by id.',
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
      {
        name: 'sleep',
        description: 'Answers after `ms` milliseconds.',
        inputSchema: { type: 'object', properties: { ms: { type: 'number' } }, required: ['ms'] },
      },
      {
        name: 'refund',
        description: 'Refund an order.',
        inputSchema: {
          type: 'object',
          properties: { id: { type: 'string' }, amount: { type: 'number' } },
          required: ['id', 'amount'],
        },
      },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args } = request.params;
    calls.push({ name, arguments: args, sessionId: extra.sessionId });
    if (name === 'sleep') {
      await new Promise((resolve) => setTimeout(resolve, Number(args?.['ms'] ?? 0)));
      return { content: [{ type: 'text', text: 'awake' }] };
    }
    if (name === 'lookup_order') {
      return { content: [{ type: 'text', text: `order ${String(args?.['id'])}: shipped` }] };
    }
    if (name === 'refund') {
      return { content: [{ type: 'text', text: `refunded ${String(args?.['amount'])}` }] };
    }
    throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name}`);
  });
  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: [
      { uri: 'orders://recent', name: 'recent orders' },
      { uri: 'orders://ledger', name: 'the ledger' },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => ({
    contents: [{ uri: request.params.uri, text: `contents of ${request.params.uri}` }],
  }));
  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: [{ name: 'summarise' }, { name: 'escalate' }],
  }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `prompt ${request.params.name}` } }],
  }));
  return mcp;
}

/**
 * Starts the server, on `port` when given (to stand in for one that restarted there). It refuses
 * (401) any request without an accepted `x-api-key`, and answers 404 to an unknown session id, as
 * the MCP spec asks of a server that lost the session.
 */
export async function startMcpUpstream(options: { port?: number } = {}): Promise<TestMcpUpstream> {
  const requests: ReceivedRequest[] = [];
  const toolCalls: ToolCall[] = [];
  const keys = new Set([UPSTREAM_KEY]);
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rpc: rpcMethods(body),
      };
      requests.push(received);
      res.on('finish', () => {
        received.status = res.statusCode;
      });
      const key = req.headers['x-api-key'];
      if (typeof key !== 'string' || !keys.has(key)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad key"}');
        return;
      }
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? sessions.get(id) : undefined;
      if (transport === undefined) {
        if (typeof id === 'string') {
          res.writeHead(404).end();
          return;
        }
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: true,
          onsessioninitialized: (sid) => void sessions.set(sid, created),
          onsessionclosed: (sid) => void sessions.delete(sid),
        });
        await buildServer(toolCalls).connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    requests,
    toolCalls,
    keys,
    async close() {
      if (closed) return;
      closed = true;
      for (const transport of sessions.values()) await transport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The parsed JSON body, or undefined when it is not JSON (the SDK's transport then answers). */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function rpcMethods(body: unknown): string[] {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) =>
    typeof message === 'object' && message !== null && 'method' in message
      ? [String(message.method)]
      : [],
  );
}
