/**
 * A careless upstream MCP server for the catalog's tests: the official SDK's Streamable HTTP
 * server on loopback (stateful, answering with server-sent events, so notifications tied to a
 * call reach the caller), whose tools, prompts, resources and templates a test changes between
 * calls. It looks names up the way careless servers do: case-folded, trimmed, Unicode-NFKC
 * normalised, zero-width characters dropped, resource URIs percent-decoded and dot segments
 * resolved. So `REFUND` runs `refund` here: only the gateway stands between a look-alike and it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

/** What ran on the server: the method, and the name or URI it resolved to. */
export interface Ran {
  readonly method: 'tools/call' | 'prompts/get' | 'resources/read';
  /** As the agent sent it. */
  readonly requested: string;
  /** What the server resolved it to (its own spelling). */
  readonly resolved: string;
}

export interface CatalogUpstream {
  readonly url: string;
  /** Listed as they are at each `tools/list`; change them between calls. */
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  templates: ResourceTemplate[];
  /** Run by the `announce` tool before it sends `notifications/tools/list_changed` on its call. */
  onAnnounce: () => void;
  /** What ran, in order. */
  readonly ran: Ran[];
  /** The JSON-RPC methods of every POST, in order. */
  readonly rpc: string[];
  close(): Promise<void>;
}

export const TOOLS: readonly Tool[] = [
  {
    name: 'lookup',
    description: 'Look up an order by id.',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'refund',
    description: 'Refund an order.',
    inputSchema: {
      type: 'object',
      properties: { id: { type: 'string' }, amount: { type: 'number' } },
    },
  },
  {
    name: 'announce',
    description: 'Changes what the server lists, and says so.',
    inputSchema: { type: 'object' },
  },
];

/** The careless lookup: what `REFUND`, ` refund`, `refund\u200b` and `ｒｅｆｕｎｄ` all become. */
export function carelessName(name: string): string {
  return name
    .normalize('NFKC')
    .replace(/[\u00ad\u200b-\u200f\u2060\ufeff]/g, '')
    .trim()
    .toLowerCase();
}

function carelessUri(uri: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    decoded = uri;
  }
  const parts: string[] = [];
  for (const part of carelessName(decoded).split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.') parts.push(part);
  }
  return parts.join('/');
}

export async function startCatalogUpstream(): Promise<CatalogUpstream> {
  const ran: Ran[] = [];
  const rpc: string[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const state: CatalogUpstream = {
    url: '',
    tools: TOOLS.map((tool) => structuredClone(tool)),
    prompts: [{ name: 'summarise', description: 'Summarise the orders.' }],
    resources: [{ uri: 'notes://team/plan', name: 'the plan' }],
    templates: [{ uriTemplate: 'notes://items/{id}', name: 'an item' }],
    onAnnounce: () => {},
    ran,
    rpc,
    close: async () => {},
  };

  /** Handlers on the protocol-level server: the lists change, so nothing is registered once. */
  function build(): McpServer {
    const mcp = new McpServer(
      { name: 'notes', version: '1.0.0' },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { listChanged: true },
        },
      },
    );
    const server = mcp.server;
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: state.tools }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const wanted = carelessName(request.params.name);
      const tool = state.tools.find((candidate) => carelessName(candidate.name) === wanted);
      if (tool === undefined) throw new McpError(ErrorCode.InvalidParams, 'unknown tool');
      ran.push({ method: 'tools/call', requested: request.params.name, resolved: tool.name });
      if (tool.name === 'announce') {
        state.onAnnounce();
        // Tied to this call, so it travels on the call's own event stream.
        await extra.sendNotification({ method: 'notifications/tools/list_changed' });
      }
      return { content: [{ type: 'text', text: `ran ${tool.name}` }] };
    });
    server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: state.prompts }));
    server.setRequestHandler(GetPromptRequestSchema, (request) => {
      const wanted = carelessName(request.params.name);
      const prompt = state.prompts.find((candidate) => carelessName(candidate.name) === wanted);
      if (prompt === undefined) throw new McpError(ErrorCode.InvalidParams, 'unknown prompt');
      ran.push({ method: 'prompts/get', requested: request.params.name, resolved: prompt.name });
      return { messages: [{ role: 'user', content: { type: 'text', text: prompt.name } }] };
    });
    server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: state.resources }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: state.templates,
    }));
    server.setRequestHandler(ReadResourceRequestSchema, (request) => {
      const resolved = carelessUri(request.params.uri);
      ran.push({ method: 'resources/read', requested: request.params.uri, resolved });
      return { contents: [{ uri: request.params.uri, text: `contents of ${resolved}` }] };
    });
    return mcp;
  }

  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const messages: unknown[] = Array.isArray(body) ? body : [body];
      for (const message of messages) {
        if (typeof message === 'object' && message !== null && 'method' in message) {
          rpc.push(String(message.method));
        }
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
          onsessioninitialized: (sid) => void sessions.set(sid, created),
          onsessionclosed: (sid) => void sessions.delete(sid),
        });
        await build().connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closed = false;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      if (closed) return;
      closed = true;
      for (const transport of sessions.values()) await transport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
