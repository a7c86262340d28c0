/**
 * An upstream MCP server for the gateway's tests: the official SDK's Streamable HTTP server on
 * loopback, stateful (sessions, as most real servers are), with an order lookup, a sensitive
 * refund tool, one resource and one prompt. It records what it received so tests can assert
 * what the gateway forwarded (and what it did not).
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
  readonly headers: IncomingMessage['headers'];
}

export interface TestMcpUpstream {
  readonly url: string;
  /** Every HTTP request, with its headers. */
  readonly requests: ReceivedRequest[];
  /** Every tool call that reached a tool, by name, with its arguments. */
  readonly toolCalls: { name: string; arguments: Record<string, unknown> | undefined }[];
  close(): Promise<void>;
}

/** Handlers on the protocol-level server: the tools are declared in JSON Schema, no zod needed. */
function buildServer(calls: TestMcpUpstream['toolCalls']): McpServer {
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
  server.setRequestHandler(CallToolRequestSchema, (request) => {
    const { name, arguments: args } = request.params;
    calls.push({ name, arguments: args });
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

/** Starts the server; it refuses (401) any request without `x-api-key: UPSTREAM_KEY`. */
export async function startMcpUpstream(): Promise<TestMcpUpstream> {
  const requests: ReceivedRequest[] = [];
  const toolCalls: TestMcpUpstream['toolCalls'] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  const http: HttpServer = createServer((req, res) => {
    requests.push({ method: req.method ?? '', headers: req.headers });
    if (req.headers['x-api-key'] !== UPSTREAM_KEY) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad key"}');
      return;
    }
    void (async () => {
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
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    toolCalls,
    async close() {
      for (const transport of sessions.values()) await transport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
