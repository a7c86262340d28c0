/**
 * The MCP gateway's upstream leg end to end: the official MCP SDK client → Steward's
 * `/gw/mcp/<upstream>` → an official, stateful MCP SDK server, over Streamable HTTP on loopback.
 * Each replica keeps connected upstream clients per (upstream, workload identity); these tests
 * count what reaches the upstream, request by request, and break the upstream on purpose.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { testDatabases } from '../../support/databases.js';
import { connect, refusal, startGateway, UPSTREAM, type TestGateway } from './fixture.js';
import { posts, startMcpUpstream, UPSTREAM_KEY, type TestMcpUpstream } from './upstream-server.js';

interface AuditItem {
  readonly target: { readonly id: string };
  readonly after: Record<string, unknown>;
}

/** Waits (a bounded while) for something the gateway does in the background. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not seen in time: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const database of await testDatabases()) {
  describe(`MCP gateway upstream leg (${database.name})`, () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway(database, 1);
    });
    after(async () => {
      await gw.close();
    });
    const url = () => gw.replicas[0]?.url ?? '';

    /** An agent connected to `upstream`'s gateway endpoint, as `identity` (default: the fixture's). */
    async function agent(upstream: string, identity?: string) {
      const token = await gw.token({
        audience: upstream,
        ...(identity !== undefined ? { identity } : {}),
      });
      return { token, client: await connect(url(), token, undefined, upstream) };
    }

    async function audit(type: string): Promise<AuditItem[]> {
      // Outcome records linger a few milliseconds for company (group commit); settle them first.
      for (const replica of gw.replicas) await replica.core.gateway.drain();
      const page = await gw.admin<{ items: AuditItem[] }>(
        'GET',
        `/v1/audit?type=${type}&limit=100`,
      );
      return page.items;
    }

    it('costs one upstream POST per tool call in the steady state, with one initialize', async () => {
      const upstream = await gw.addUpstream('orders-pooled');
      const { token, client } = await agent('orders-pooled');
      const calls = 5;
      try {
        for (let i = 0; i < calls; i += 1) {
          const result = await client.callTool({ name: 'lookup_order', arguments: { id: `${i}` } });
          assert.deepEqual(result.content, [{ type: 'text', text: `order ${i}: shipped` }]);
        }
      } finally {
        await client.close();
      }
      assert.equal(posts(upstream, 'initialize').length, 1);
      assert.equal(posts(upstream, 'tools/call').length, calls);
      // initialize, notifications/initialized, the listing the catalog checks tool names
      // against (once per TTL), then the calls: no GET stream, no DELETE.
      assert.deepEqual(
        upstream.requests.map((request) => `${request.method} ${request.rpc.join()}`),
        [
          'POST initialize',
          'POST notifications/initialized',
          'POST tools/list',
          ...Array.from({ length: calls }, () => 'POST tools/call'),
        ],
      );
      assert.equal(new Set(upstream.toolCalls.map((call) => call.sessionId)).size, 1);
      for (const request of upstream.requests) {
        assert.equal(request.headers['x-api-key'], UPSTREAM_KEY);
        assert.equal(request.headers.authorization, undefined);
        for (const value of Object.values(request.headers)) {
          assert.ok(!String(value).includes(token), 'the agent token reached the upstream');
        }
      }
      // Each call carries its own trace context, not the one of the call that connected.
      const traces = posts(upstream, 'tools/call').map((request) => request.headers.traceparent);
      for (const trace of traces)
        assert.match(String(trace), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      assert.equal(new Set(traces).size, calls);
    });

    it('shares one upstream connection among concurrent first calls of one identity', async () => {
      const upstream = await gw.addUpstream('orders-burst');
      const { client } = await agent('orders-burst');
      try {
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            client.callTool({ name: 'lookup_order', arguments: { id: `${i}` } }),
          ),
        );
        assert.ok(results.every((result) => result.isError !== true));
      } finally {
        await client.close();
      }
      assert.equal(posts(upstream, 'initialize').length, 1);
      assert.equal(posts(upstream, 'tools/call').length, 16);
      assert.equal(new Set(upstream.toolCalls.map((call) => call.sessionId)).size, 1);
    });

    it('sends a rotated secret on the very next call, on the same upstream session', async () => {
      const upstream = await gw.addUpstream('orders-rotating');
      const { client } = await agent('orders-rotating');
      const rotated = 'rotated-upstream-secret-9876543210';
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        await gw.admin('POST', '/v1/secrets/orders-rotating-key/rotate', { value: rotated }, 200);
        // The upstream takes only the new value from now on.
        upstream.keys.clear();
        upstream.keys.add(rotated);
        const mark = upstream.requests.length;
        const result = await client.callTool({ name: 'lookup_order', arguments: { id: '2' } });
        assert.deepEqual(result.content, [{ type: 'text', text: 'order 2: shipped' }]);
        const [second, ...more] = posts(upstream, 'tools/call', mark);
        assert.equal(more.length, 0);
        assert.equal(second?.headers['x-api-key'], rotated);
        assert.equal(second?.status, 200);
        assert.equal(posts(upstream, 'initialize', mark).length, 0);
      } finally {
        await client.close();
      }
      assert.equal(new Set(upstream.toolCalls.map((call) => call.sessionId)).size, 1);
    });

    it('gives each workload identity its own upstream session', async () => {
      const upstream = await gw.addUpstream('orders-shared');
      const other = await gw.addIdentity('reviewer');
      const a = await agent('orders-shared');
      const b = await agent('orders-shared', other);
      try {
        for (const round of [1, 2]) {
          await a.client.callTool({ name: 'lookup_order', arguments: { id: `a${round}` } });
          await b.client.callTool({ name: 'lookup_order', arguments: { id: `b${round}` } });
        }
      } finally {
        await a.client.close();
        await b.client.close();
      }
      const sessionsOf = (prefix: string) =>
        new Set(
          upstream.toolCalls
            .filter((call) => String(call.arguments?.['id']).startsWith(prefix))
            .map((call) => call.sessionId),
        );
      const [sessionA, ...moreA] = sessionsOf('a');
      const [sessionB, ...moreB] = sessionsOf('b');
      assert.deepEqual([moreA.length, moreB.length], [0, 0]);
      assert.equal(typeof sessionA, 'string');
      assert.equal(typeof sessionB, 'string');
      assert.notEqual(sessionA, sessionB);
      assert.equal(posts(upstream, 'initialize').length, 2);
      assert.equal(upstream.toolCalls.length, 4);
    });

    it('reconnects once, transparently, when the upstream restarted and lost the session', async () => {
      const first = await gw.addUpstream('orders-restart');
      const { client } = await agent('orders-restart');
      let restarted: TestMcpUpstream | undefined;
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        const [old] = first.toolCalls;
        await first.close();
        restarted = await startMcpUpstream({ port: first.port });
        const result = await client.callTool({ name: 'lookup_order', arguments: { id: '2' } });
        assert.deepEqual(result.content, [{ type: 'text', text: 'order 2: shipped' }]);
        // The old session's call got 404 and was not processed; the new session's was, once.
        assert.deepEqual(
          restarted.requests.map((request) => `${request.rpc.join()} ${request.status}`),
          ['tools/call 404', 'initialize 200', 'notifications/initialized 202', 'tools/call 200'],
        );
        assert.equal(restarted.toolCalls.length, 1);
        assert.notEqual(restarted.toolCalls[0]?.sessionId, old?.sessionId);
        assert.equal(restarted.requests[0]?.headers['mcp-session-id'], old?.sessionId);
      } finally {
        await client.close();
        await restarted?.close();
      }
    });

    it('answers upstream_unavailable when nothing listens, records it, and drops the connection', async () => {
      const first = await gw.addUpstream('orders-down');
      const { client } = await agent('orders-down');
      let back: TestMcpUpstream | undefined;
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        await first.close();
        const elsewhere = gw.upstream.requests.length;
        const refused = await refusal(
          client.callTool({ name: 'lookup_order', arguments: { id: '2' } }),
        );
        assert.equal(refused.code, -32017);
        assert.equal(refused.data?.['code'], 'upstream_unavailable');
        assert.equal(refused.data?.['status'], 502);
        const recordId = refused.data?.['recordId'];
        assert.equal(typeof recordId, 'string');
        const decided = (await audit('decision.allow')).find((e) => e.target.id === recordId);
        assert.ok(decided, 'no decision record');
        const outcome = (await audit('gateway.outcome')).find((e) => e.target.id === recordId);
        assert.ok(outcome, 'no outcome record');
        assert.equal(outcome.after['status'], 502);
        assert.equal(outcome.after['error'], 'upstream_unavailable');
        assert.equal(gw.upstream.requests.length, elsewhere, 'another upstream was called');

        // Back on the same port. The agent session's upstream session is shared by every replica
        // and an unreachable server may only have been out of reach, so it is tried first; the
        // new server does not know it (404, nothing processed), and one new session takes over.
        back = await startMcpUpstream({ port: first.port });
        await client.callTool({ name: 'lookup_order', arguments: { id: '3' } });
        assert.deepEqual(
          back.requests.map((request) => `${request.rpc.join()} ${request.status}`),
          ['tools/call 404', 'initialize 200', 'notifications/initialized 202', 'tools/call 200'],
        );
        assert.equal(back.toolCalls.length, 1);
      } finally {
        await client.close();
        await back?.close();
      }
    });

    it('answers upstream_timeout when the upstream is slower than its timeout, and records it', async () => {
      const upstream = await gw.addUpstream('orders-slow', { timeoutMs: 300 });
      const { client } = await agent('orders-slow');
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        const started = performance.now();
        const refused = await refusal(client.callTool({ name: 'sleep', arguments: { ms: 2_000 } }));
        assert.ok(performance.now() - started < 1_500, 'the gateway waited for the slow tool');
        assert.equal(refused.code, -32018);
        assert.equal(refused.data?.['code'], 'upstream_timeout');
        assert.equal(refused.data?.['status'], 504);
        const recordId = refused.data?.['recordId'];
        const outcome = (await audit('gateway.outcome')).find((e) => e.target.id === recordId);
        assert.ok(outcome, 'no outcome record');
        assert.equal(outcome.after['status'], 504);
        assert.equal(outcome.after['error'], 'upstream_timeout');
        assert.ok(upstream.toolCalls.some((call) => call.name === 'sleep'));
        // A timeout is not a lost connection: the session stays, nothing is sent again.
        await client.callTool({ name: 'lookup_order', arguments: { id: '2' } });
        assert.equal(posts(upstream, 'initialize').length, 1);
        assert.equal(upstream.toolCalls.filter((call) => call.name === 'sleep').length, 1);
      } finally {
        await client.close();
      }
    });

    it('follows a changed upstream URL with a new session and ends the old one', async () => {
      const old = await gw.addUpstream('orders-moving');
      const moved = await startMcpUpstream();
      const { client } = await agent('orders-moving');
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        const session = old.toolCalls[0]?.sessionId;
        await gw.admin('PATCH', '/v1/upstreams/orders-moving', { url: moved.url });
        await client.callTool({ name: 'lookup_order', arguments: { id: '2' } });
        assert.equal(old.toolCalls.length, 1);
        assert.equal(moved.toolCalls.length, 1);
        assert.equal(posts(moved, 'initialize').length, 1);
        await eventually(
          () =>
            old.requests.some(
              (request) =>
                request.method === 'DELETE' && request.headers['mcp-session-id'] === session,
            ),
          'the DELETE of the old session',
        );
      } finally {
        await client.close();
        await moved.close();
      }
    });
  });
}

describe('MCP gateway upstream leg on shutdown', () => {
  it("ends the upstream session with the agent's own, and the stateless ones when the app closes", async () => {
    const [database] = await testDatabases();
    assert.ok(database);
    const gw = await startGateway(database, 1);
    let closed = false;
    const deletes = () =>
      gw.upstream.requests
        .filter((request) => request.method === 'DELETE')
        .map((request) => [request.headers['mcp-session-id'], request.status]);
    try {
      const url = gw.replicas[0]?.url ?? '';
      const token = await gw.token();
      const client = await connect(url, token);
      await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
      const session = gw.upstream.toolCalls[0]?.sessionId;
      assert.equal(typeof session, 'string');
      assert.deepEqual(deletes(), []);
      // The agent ends its session: so ends the upstream session that was its own.
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
      await eventually(() => deletes().length === 1, 'the DELETE of the agent session');
      assert.deepEqual(deletes(), [[session, 200]]);

      // A stateless call (no Mcp-Session-Id) runs on the identity's pooled upstream session,
      // which only this replica holds: it ends when the app closes.
      const answer = await fetch(`${url}/gw/mcp/${UPSTREAM}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'lookup_order', arguments: { id: '2' } },
        }),
      });
      assert.equal(answer.status, 200);
      assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
      const pooled = gw.upstream.toolCalls[1]?.sessionId;
      assert.equal(typeof pooled, 'string');
      assert.notEqual(pooled, session);
      await gw.close();
      closed = true;
      assert.deepEqual(deletes(), [
        [session, 200],
        [pooled, 200],
      ]);
      for (const request of gw.upstream.requests.filter((r) => r.method === 'DELETE')) {
        assert.equal(request.headers['x-api-key'], UPSTREAM_KEY);
      }
    } finally {
      if (!closed) await gw.close();
    }
  });
});
