/**
 * A small MCP server for the example: an order lookup and a sensitive refund, over Streamable
 * HTTP with the official SDK. It trusts only callers that present its API key in `x-api-key`,
 * a key only Steward holds: agents reach it through the gateway, never directly.
 *
 *   ORDERS_MCP_KEY=… PORT=4010 npx tsx examples/mcp-server.ts
 *
 * `setup.ts` (and so `steward demo`) starts it in its own process with {@link startOrdersMcpServer}.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { serveAlone, serveWithKey, type ExampleServer } from './serve.js';

/** The tools, in JSON Schema: the protocol-level handlers need no schema library. */
function buildServer(): McpServer {
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
        inputSchema: {
          type: 'object',
          properties: { id: { type: 'string' }, amount: { type: 'number' } },
          required: ['id', 'amount'],
        },
      },
    ],
  }));
  mcp.server.setRequestHandler(CallToolRequestSchema, (request) => {
    const { name, arguments: args } = request.params;
    const id = typeof args?.['id'] === 'string' ? args['id'] : '';
    if (name === 'lookup_order') {
      return { content: [{ type: 'text', text: `Order ${id}: 2 items, shipped on 2026-01-05.` }] };
    }
    if (name === 'refund') {
      return {
        content: [{ type: 'text', text: `Refunded ${String(args?.['amount'])} on order ${id}.` }],
      };
    }
    throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${name}`);
  });
  return mcp;
}

/** Starts the MCP server on 127.0.0.1 at `/mcp` (`port` 0, the default, picks a free one). */
export function startOrdersMcpServer(options: {
  key: string;
  port?: number;
}): Promise<ExampleServer> {
  return serveWithKey({ ...options, path: '/mcp' }, (req, res) => {
    // Stateless: a fresh server and transport per request, as the SDK's stateless example does.
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    res.on('close', () => void server.close());
    server
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
  });
}

await serveAlone(import.meta.url, {
  name: 'orders MCP server',
  variable: 'ORDERS_MCP_KEY',
  port: 4010,
  start: startOrdersMcpServer,
});
