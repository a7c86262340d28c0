/**
 * Unauthenticated traffic must not fill the disk (issue 9, item 5): requests without a valid
 * access token are limited per client address before anything is recorded, and counted into one
 * `gateway.refused` record per (address, code, upstream) and window, on both gateways. And an API
 * key sent to the gateway is told what the gateway takes instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import {
  HTTP_UPSTREAM,
  MCP_UPSTREAM,
  startCoreGateway,
  trailEvents,
  type CoreGateway,
} from './fixture.js';

const WINDOW_MS = 1_000;
const BURST = 50;

/** `count` requests made by `send`, `parallel` at a time; their statuses. */
async function flood(
  count: number,
  send: (i: number) => Promise<Response>,
  parallel = 25,
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => send(i + j));
    for (const response of await Promise.all(batch)) {
      statuses.push(response.status);
      await response.arrayBuffer();
    }
  }
  return statuses;
}

/** `gateway.refused` rows in the trail now, without draining anything first. */
async function refusedRows(g: CoreGateway): Promise<{ after: Record<string, unknown> }[]> {
  const rows = await g.trail
    .selectFrom('audit_events')
    .select('after')
    .where('type', '=', 'gateway.refused')
    .execute();
  return rows.map((row) => ({ after: JSON.parse(row.after ?? '{}') as Record<string, unknown> }));
}

async function until(done: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > end) assert.fail('gave up waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const mcpHeaders = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
};
const listTools = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

for (const database of await testDatabases()) {
  describe(`refusals of unauthenticated callers (${database.name})`, () => {
    let g: CoreGateway;
    before(async () => {
      g = await startCoreGateway(database, {
        gatewayRefusalWindowMs: WINDOW_MS,
        rateLimits: {
          perIdentity: { perSecond: 1_000, burst: 1_000 },
          perIdentityUpstream: { perSecond: 1_000, burst: 1_000 },
          perUpstream: { perSecond: 1_000, burst: 1_000 },
          unauthenticated: { perSecond: 1, burst: BURST },
        },
      });
    });
    after(() => g.close());

    test('a flood without valid tokens on both gateways is limited per address and written as a few counted records', async () => {
      // The clock stands still: the per-address bucket does not refill during the flood.
      const already = (await refusedRows(g)).length;
      const n = { http: 150, httpBadToken: 60, mcp: 90, mcpBadToken: 40 };
      const statuses = [
        ...(await flood(n.http, (i) => fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/x/${i}`))),
        ...(await flood(n.httpBadToken, () =>
          fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/x`, {
            headers: { authorization: 'Bearer not-a-token' },
          }),
        )),
        ...(await flood(n.mcp, () =>
          fetch(`${g.url}/gw/mcp/${MCP_UPSTREAM}`, {
            method: 'POST',
            headers: mcpHeaders,
            body: listTools,
          }),
        )),
        ...(await flood(n.mcpBadToken, () =>
          fetch(`${g.url}/gw/mcp/${MCP_UPSTREAM}`, {
            method: 'POST',
            headers: { ...mcpHeaders, authorization: 'Bearer not-a-token' },
            body: listTools,
          }),
        )),
      ];
      const total = n.http + n.httpBadToken + n.mcp + n.mcpBadToken;
      assert.equal(statuses.length, total);
      // Nothing was written per request while the window was open.
      assert.equal((await refusedRows(g)).length, already);
      // The address's burst of plain 401s, then 429s: the limit holds across both gateways.
      assert.equal(statuses.filter((s) => s === 401).length, BURST);
      assert.equal(statuses.filter((s) => s === 429).length, total - BURST);

      // The window ends (by Steward's clock) and its records are written without any traffic.
      g.clock.advance(WINDOW_MS);
      await until(async () => (await refusedRows(g)).length > already);
      await g.core.gateway.drain();
      const written = (await refusedRows(g)).slice(already);
      // One record per (address, code, upstream): 401 and 429, on each of the two upstreams.
      assert.ok(written.length <= 4, `${written.length} records for ${total} requests`);
      const counted = written.reduce((sum, row) => sum + Number(row.after['count']), 0);
      assert.equal(counted, total);
      for (const row of written) {
        assert.ok(['unauthenticated', 'rate_limited'].includes(String(row.after['code'])));
        assert.ok([HTTP_UPSTREAM, MCP_UPSTREAM].includes(String(row.after['upstream'])));
        assert.match(String(row.after['clientAddress']), /127\.0\.0\.1/);
      }
      const reasons: Record<string, number> = {};
      for (const row of written) {
        for (const [reason, count] of Object.entries(row.after['reasons'] as object)) {
          reasons[reason] = (reasons[reason] ?? 0) + Number(count);
        }
      }
      assert.deepEqual(reasons, {
        no_token: n.http + n.mcp,
        token_malformed: n.httpBadToken + n.mcpBadToken,
      });
    });

    test('a valid token from a flooding address is still served, and a refusal names its counted record', async () => {
      // The address's bucket is empty after the flood (the second since refilled it by one):
      // anonymous requests get 429 …
      await (await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/y`)).arrayBuffer();
      const anonymous = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/y`);
      assert.equal(anonymous.status, 429);
      assert.ok(Number(anonymous.headers.get('retry-after')) >= 1);
      const recordId = anonymous.headers.get('x-steward-record');
      // … while a workload with a valid token is not held back by them.
      const token = await g.token(HTTP_UPSTREAM);
      const served = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/y`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(served.status, 200);
      await g.core.gateway.drain();
      const record = (await trailEvents(g, 'gateway.refused')).find((e) => e.targetId === recordId);
      assert.equal(record?.after['code'], 'rate_limited');
    });

    test('a flood from many addresses naming many upstreams stays a bounded set of records', async () => {
      await g.core.gateway.drain();
      const already = (await refusedRows(g)).length;
      const callers = 3_000;
      for (let i = 0; i < callers; i++) {
        const refused = g.core.gateway.authenticate({
          token: undefined,
          upstream: `made-up-${i}`,
          action: 'http_request',
          operation: '',
          clientAddress: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
          requestId: `flood-${i}`,
        });
        assert.equal(refused.outcome === 'refuse' ? refused.code : 'accepted', 'unauthenticated');
      }
      await g.core.gateway.drain();
      const written = (await refusedRows(g)).slice(already);
      assert.equal(written.length, 1_001, 'one record per counter, and one for the rest');
      assert.equal(
        written.reduce((sum, row) => sum + Number(row.after['count']), 0),
        callers,
      );
      const rest = written.find((row) => row.after['clientAddress'] === '*');
      assert.equal(rest?.after['upstream'], '*');
      assert.equal(rest?.after['count'], callers - 1_000);
    });

    test('an API key or a join token sent to either gateway is told that it takes access tokens', async () => {
      g.clock.advance(60_000); // a full bucket again
      const apiKey = 'stw_key_0123456789ABCDEFGHIJabcdefghij012345';
      const http = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/z`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assert.equal(http.status, 401);
      const problem = (await http.json()) as { code: string; detail: string };
      assert.equal(problem.code, 'unauthenticated');
      assert.match(problem.detail, /API key; the gateway takes access tokens/);
      assert.match(problem.detail, /steward token exchange/);
      assert.ok(!problem.detail.includes(apiKey));

      const mcp = await fetch(`${g.url}/gw/mcp/${MCP_UPSTREAM}`, {
        method: 'POST',
        headers: { ...mcpHeaders, authorization: `Bearer ${apiKey}` },
        body: listTools,
      });
      assert.equal(mcp.status, 401);
      const oauth = (await mcp.json()) as { error: string; error_description: string };
      assert.equal(oauth.error, 'invalid_token');
      assert.match(oauth.error_description, /steward token exchange/);
      assert.match(String(mcp.headers.get('www-authenticate')), /resource_metadata=/);

      const join = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/z`, {
        headers: { authorization: 'Bearer stw_join_0123456789ABCDEFGHIJabcdefghij012345' },
      });
      assert.match(((await join.json()) as { detail: string }).detail, /join token/);
      await g.core.gateway.drain();
      const reasons = (await trailEvents(g, 'gateway.refused')).flatMap((e) =>
        Object.keys(e.after['reasons'] as object),
      );
      assert.ok(reasons.includes('api_key') && reasons.includes('join_token'));
    });
  });
}
