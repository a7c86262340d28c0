/**
 * `@modelcontextprotocol/server-everything`, the MCP project's reference server, over Streamable
 * HTTP on a loopback port 0, in this process. Its own `streamableHttp` entry point listens on
 * `PORT` (default 3001) and prints the port it was given, not the one it got, so a child process
 * on port 0 could not be found; this runs the package's own server factory (`createServer`, every
 * tool, resource and prompt it has) behind the official SDK's transport, one per session, as
 * that entry point does, without its event store (the gateway does not resume upstream streams).
 * It records the JSON-RPC methods it receives and counts its open GET streams.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** The package ships JavaScript without declarations; this is the part of it used here. */
type CreateServer = () => { server: McpServer; cleanup: (sessionId?: string) => void };
const FACTORY = '@modelcontextprotocol/server-everything/dist/server/index.js';

export interface EverythingServer {
  readonly url: string;
  /** The JSON-RPC methods of every POST, in order (`notifications/cancelled`, …). */
  readonly received: string[];
  /** Standalone (GET) streams open now, and opened so far. */
  readonly openStreams: () => number;
  readonly streamsOpened: () => number;
  close(): Promise<void>;
}

export async function startEverything(): Promise<EverythingServer> {
  const { createServer } = (await import(FACTORY)) as { createServer: CreateServer };
  const sessions = new Map<
    string,
    { transport: StreamableHTTPServerTransport; cleanup: (id?: string) => void }
  >();
  const received: string[] = [];
  let streams = 0;
  let opened = 0;
  const http = createHttpServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      received.push(...rpcMethods(body));
      const id = req.headers['mcp-session-id'];
      let entry = typeof id === 'string' ? sessions.get(id) : undefined;
      if (entry === undefined) {
        if (typeof id === 'string' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const { server, cleanup } = createServer();
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => void sessions.set(sid, { transport, cleanup }),
          onsessionclosed: (sid) => {
            sessions.delete(sid);
            cleanup(sid);
          },
        });
        await server.connect(transport);
        entry = { transport, cleanup };
      }
      if (req.method === 'GET') {
        streams += 1;
        opened += 1;
        res.on('close', () => {
          streams -= 1;
        });
      }
      await entry.transport.handleRequest(req, res, body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    received,
    openStreams: () => streams,
    streamsOpened: () => opened,
    async close() {
      for (const [sid, { transport, cleanup }] of sessions) {
        cleanup(sid);
        await transport.close();
      }
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
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

function rpcMethods(body: unknown): string[] {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) =>
    typeof message === 'object' && message !== null && 'method' in message
      ? [String(message.method)]
      : [],
  );
}
