/**
 * The MCP gateway's pool of upstream clients on its own, against a real (stateful) MCP SDK
 * server on loopback: its bounds, its idle limit, per-call data and the egress guard.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createUpstreamPool, egressGuardedFetch } from '../../../src/gateway/mcp/index.js';
import type { UpstreamCallTarget, UpstreamPool } from '../../../src/gateway/mcp/index.js';
import { posts, startMcpUpstream, UPSTREAM_KEY, type TestMcpUpstream } from './upstream-server.js';

describe('MCP upstream client pool', () => {
  let upstream: TestMcpUpstream;
  before(async () => {
    upstream = await startMcpUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  const target = (identity: string, query: Record<string, string> = {}): UpstreamCallTarget => ({
    upstream: { id: 'upstream-1', name: 'orders', url: upstream.url, timeoutMs: 5_000 },
    identity,
    inject: { headers: { 'x-api-key': UPSTREAM_KEY }, query },
  });

  const lookup = (pool: UpstreamPool, call: UpstreamCallTarget, id: string) =>
    pool.call(call, (client, timeout) =>
      client.request(
        { method: 'tools/call', params: { name: 'lookup_order', arguments: { id } } },
        CallToolResultSchema,
        { timeout },
      ),
    );

  /** The session the tool call with argument `id` arrived in. */
  const sessionOf = (id: string) =>
    upstream.toolCalls.find((call) => call.arguments?.['id'] === id)?.sessionId;

  const deleted = (session: string | undefined) =>
    upstream.requests.some(
      (request) =>
        request.method === 'DELETE' &&
        request.headers['mcp-session-id'] === session &&
        request.status === 200,
    );

  it('keeps at most its bound of clients, ending the least recently used session', async () => {
    const pool = createUpstreamPool({ maxClients: 2 });
    try {
      await lookup(pool, target('a'), 'lru-a1');
      await lookup(pool, target('b'), 'lru-b1');
      // `a` is used again, so `b` is now the least recently used.
      await lookup(pool, target('a'), 'lru-a2');
      const mark = upstream.requests.length;
      await lookup(pool, target('c'), 'lru-c1');
      assert.equal(pool.size, 2);
      const evicted = sessionOf('lru-b1');
      for (let i = 0; i < 100 && !deleted(evicted); i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(deleted(evicted), 'the evicted session was not ended');
      assert.ok(!deleted(sessionOf('lru-a1')), 'a session in use was ended');
      // `a` kept its session; `b` comes back with a new one.
      await lookup(pool, target('a'), 'lru-a3');
      assert.equal(sessionOf('lru-a3'), sessionOf('lru-a1'));
      await lookup(pool, target('b'), 'lru-b2');
      assert.notEqual(sessionOf('lru-b2'), evicted);
      assert.equal(posts(upstream, 'initialize', mark).length, 2);
    } finally {
      await pool.close();
    }
  });

  it('closes clients idle for longer than its idle limit', async () => {
    let now = 0;
    const pool = createUpstreamPool({ idleMs: 60_000, now: () => now });
    try {
      await lookup(pool, target('idle'), 'idle-1');
      now += 59_000;
      await pool.prune();
      assert.equal(pool.size, 1);
      assert.ok(!deleted(sessionOf('idle-1')));
      now += 1_001;
      await pool.prune();
      assert.equal(pool.size, 0);
      assert.ok(deleted(sessionOf('idle-1')), 'the idle session was not ended');
    } finally {
      await pool.close();
    }
  });

  it('ends every session when closed, and refuses calls afterwards', async () => {
    const pool = createUpstreamPool();
    await lookup(pool, target('close-a'), 'close-a');
    await lookup(pool, target('close-b'), 'close-b');
    await pool.close();
    assert.ok(deleted(sessionOf('close-a')));
    assert.ok(deleted(sessionOf('close-b')));
    assert.equal(pool.size, 0);
    await assert.rejects(lookup(pool, target('close-a'), 'close-c'), /closed/);
  });

  it("puts each call's query credential on that call's request only", async () => {
    const pool = createUpstreamPool();
    try {
      const mark = upstream.requests.length;
      await lookup(pool, target('query', { sig: 'first' }), 'query-1');
      await lookup(pool, target('query', { sig: 'second' }), 'query-2');
      const calls = posts(upstream, 'tools/call', mark).map((request) =>
        new URL(request.url, 'http://upstream').searchParams.get('sig'),
      );
      assert.deepEqual(calls, ['first', 'second']);
    } finally {
      await pool.close();
    }
  });

  it('runs the egress guard before every upstream request', async () => {
    const checked: string[] = [];
    let allowed = true;
    const pool = createUpstreamPool({
      fetch: egressGuardedFetch(async (url) => {
        checked.push(url);
        return allowed ? { ok: true, addresses: ['127.0.0.1'] } : { ok: false, reason: 'test' };
      }),
    });
    try {
      const mark = upstream.requests.length;
      await lookup(pool, target('egress'), 'egress-1');
      await lookup(pool, target('egress'), 'egress-2');
      assert.equal(checked.length, 4);
      assert.equal(upstream.requests.length - mark, checked.length);
      allowed = false;
      await assert.rejects(lookup(pool, target('egress'), 'egress-3'), /egress refused/);
      assert.equal(upstream.requests.length - mark, 4);
      assert.equal(checked.length, 5);
    } finally {
      await pool.close();
    }
  });
});
