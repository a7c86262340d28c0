/**
 * What both example tools share: listen on loopback, and answer only callers that present the
 * tool's API key in `x-api-key`, a key only Steward holds.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** A running example server: where it listens, and how to stop it. */
export interface ExampleServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `handler` on 127.0.0.1 (`port` 0 picks a free one) to callers with `key`; others get
 * 401. `path` is appended to the URL it reports.
 */
export async function serveWithKey(
  options: { key: string; port?: number | undefined; path?: string },
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<ExampleServer> {
  const expected = Buffer.from(options.key);
  if (expected.length < 16) throw new Error('an example API key has 16 characters or more');
  const server = createServer((req, res) => {
    const offered = req.headers['x-api-key'];
    const given = Buffer.from(typeof offered === 'string' ? offered : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? ''}`,
    close: () =>
      new Promise<void>((resolve) => {
        // Steward's gateway keeps connections alive: end them too, or close() waits for them.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** True when this module is the program being run (`npx tsx examples/<file>.ts`). */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && moduleUrl === pathToFileURL(path.resolve(script)).href;
}

/**
 * Runs an example tool alone when its module is the program (`npx tsx examples/<file>.ts`): its
 * API key from `variable`, its port from PORT (default `port`). Imported, it does nothing.
 */
export async function serveAlone(
  moduleUrl: string,
  tool: {
    name: string;
    variable: string;
    port: number;
    start(options: { key: string; port: number }): Promise<ExampleServer>;
  },
): Promise<void> {
  if (!isMain(moduleUrl)) return;
  const key = process.env[tool.variable] ?? '';
  if (key.length < 16) {
    console.error(`Set ${tool.variable} (16 characters or more).`);
    process.exit(1);
  }
  const server = await tool.start({ key, port: Number(process.env['PORT'] ?? tool.port) });
  console.log(`${tool.name} on ${server.url}`);
}
