/**
 * A small HTTP API for the example (node:http only): `GET /orders/:id` and `POST /refunds`,
 * for callers that present its API key in `x-api-key` (a key only Steward holds).
 *
 *   ORDERS_API_KEY=… PORT=4020 npx tsx examples/http-api.ts
 *
 * `setup.ts` (and so `steward demo`) starts it in its own process with {@link startOrdersApi}.
 */
import { serveAlone, serveWithKey, type ExampleServer } from './serve.js';

/** Starts the API on 127.0.0.1 (`port` 0, the default, picks a free one). */
export function startOrdersApi(options: { key: string; port?: number }): Promise<ExampleServer> {
  return serveWithKey(options, (req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const order = /^\/orders\/([A-Za-z0-9-]{1,40})$/.exec(url.pathname);
    if (req.method === 'GET' && order) {
      return json(200, { id: order[1], status: 'shipped', total: 42.5 });
    }
    if (req.method === 'POST' && url.pathname === '/refunds') return json(201, { refunded: true });
    return json(404, { error: 'not found' });
  });
}

await serveAlone(import.meta.url, {
  name: 'orders HTTP API',
  variable: 'ORDERS_API_KEY',
  port: 4020,
  start: startOrdersApi,
});
