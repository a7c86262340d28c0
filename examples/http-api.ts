/**
 * A small HTTP API for the example (node:http only): `GET /orders/:id` and `POST /refunds`,
 * for callers that present its API key in `x-api-key` (a key only Steward holds).
 *
 *   ORDERS_API_KEY=… PORT=4020 npx tsx examples/http-api.ts
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const key = process.env['ORDERS_API_KEY'];
if (key === undefined || key.length < 16) {
  console.error('Set ORDERS_API_KEY (16 characters or more).');
  process.exit(1);
}
const port = Number(process.env['PORT'] ?? 4020);

function keyMatches(offered: string | string[] | undefined): boolean {
  if (typeof offered !== 'string' || key === undefined) return false;
  const a = Buffer.from(offered);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

createServer((req, res) => {
  const json = (status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (!keyMatches(req.headers['x-api-key'])) return json(401, { error: 'unauthorized' });
  const url = new URL(req.url ?? '/', 'http://localhost');
  const order = /^\/orders\/([A-Za-z0-9-]{1,40})$/.exec(url.pathname);
  if (req.method === 'GET' && order) {
    return json(200, { id: order[1], status: 'shipped', total: 42.5 });
  }
  if (req.method === 'POST' && url.pathname === '/refunds') return json(201, { refunded: true });
  return json(404, { error: 'not found' });
}).listen(port, '127.0.0.1', () => {
  console.log(`orders HTTP API on http://127.0.0.1:${port}`);
});
