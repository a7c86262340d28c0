/**
 * A store that hangs must not turn into late side effects (issue 9, item 4). The store is paused
 * for real (PostgreSQL behind a relay that stops relaying; SQLite with its one connection held):
 * calls are refused with 503 within the bound, nothing reaches an upstream once the store is back,
 * and a call whose client went away while it waited is never forwarded.
 */
import assert from 'node:assert/strict';
import { connect as connectTcp } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Store } from '../../../src/store/index.js';
import { testDatabases } from '../../support/databases.js';
import {
  HTTP_UPSTREAM,
  MCP_UPSTREAM,
  startCoreGateway,
  trailEvents,
  type CoreGateway,
} from './fixture.js';

const TIMEOUT_MS = 1_500;
/** What a loaded test machine may add to the bound before the 503 is out. */
const SLACK_MS = 3_500;
/** How long the store stays paused: every refusal must be out before it is back. */
const PAUSE_MS = TIMEOUT_MS + SLACK_MS + 1_000;

async function mcpClient(g: CoreGateway, token: string): Promise<Client> {
  const client = new Client({ name: 'deadline-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${g.url}/gw/mcp/${MCP_UPSTREAM}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** Sends a raw gateway call and closes the connection after `ms`, without reading an answer. */
function callAndHangUp(g: CoreGateway, path: string, token: string, ms: number): Promise<void> {
  const { port } = new URL(g.url);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), '127.0.0.1', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
        () => setTimeout(() => socket.destroy(), ms),
      );
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** Lets the paused store back after `ms`; returns when it was let back. */
async function resumeAfter(g: CoreGateway, ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const at = performance.now();
  await g.resume();
  return at;
}

/** Waits until `done` holds, checking every 20 ms, for at most `ms`. */
async function until(done: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > end) assert.fail('gave up waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every decision the store committed for a call refused while it hung says "not forwarded". */
async function assertNoneForwarded(g: CoreGateway, refusedIds: readonly string[]): Promise<void> {
  const outcomes = new Map(
    (await trailEvents(g, 'gateway.outcome')).map((e) => [e.targetId, e.after['error']]),
  );
  const decided = (await trailEvents(g, 'decision.allow')).filter((e) =>
    refusedIds.includes(e.targetId),
  );
  for (const decision of decided) {
    assert.match(String(outcomes.get(decision.targetId)), /^not_forwarded: /);
  }
}

for (const database of await testDatabases()) {
  describe(`gateway waits on a paused store (${database.name})`, () => {
    let g: CoreGateway;
    let httpToken: string;
    let mcpToken: string;
    before(async () => {
      g = await startCoreGateway(database, { gatewayStoreTimeoutMs: TIMEOUT_MS });
      httpToken = await g.token(HTTP_UPSTREAM);
      mcpToken = await g.token(MCP_UPSTREAM);
    });
    after(() => g.close());

    test('HTTP: calls are refused with 503 within the bound, and none is forwarded once the store is back', async () => {
      const ok = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/warm`, {
        headers: { authorization: `Bearer ${httpToken}` },
      });
      assert.equal(ok.status, 200);
      const reached = g.http.received.length;
      await g.pause();
      const pending = Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const started = performance.now();
          const response = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/frozen/${i}`, {
            headers: { authorization: `Bearer ${httpToken}` },
          });
          const body = (await response.json()) as { code: string; recordId?: string };
          return { status: response.status, body, at: performance.now(), started };
        }),
      );
      const resumedAt = await resumeAfter(g, PAUSE_MS);
      const answers = await pending;
      for (const answer of answers) {
        assert.equal(answer.status, 503);
        assert.equal(answer.body.code, 'audit_unavailable');
        assert.ok(answer.at < resumedAt, 'answered only once the store was back');
        const ms = answer.at - answer.started;
        assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + SLACK_MS, `answered after ${ms} ms`);
      }
      await g.core.gateway.drain();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(
        g.http.received.length,
        reached,
        'a call refused while the store hung reached the upstream',
      );
      await assertNoneForwarded(
        g,
        answers.flatMap((a) => (a.body.recordId ? [a.body.recordId] : [])),
      );
      // And the gateway works again.
      const again = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/after`, {
        headers: { authorization: `Bearer ${httpToken}` },
      });
      assert.equal(again.status, 200);
    });

    test('MCP: tool calls are refused with 503 within the bound, and none is forwarded once the store is back', async () => {
      const client = await mcpClient(g, mcpToken);
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: 'warm' } });
        const reached = g.mcp.toolCalls.length;
        await g.pause();
        const pending = Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const started = performance.now();
            const error = await client
              .callTool({ name: 'lookup_order', arguments: { id: `frozen-${i}` } })
              .then(
                () => undefined,
                (e: unknown) => e as { data?: { code?: string; recordId?: string } },
              );
            return { error, at: performance.now(), started };
          }),
        );
        const resumedAt = await resumeAfter(g, PAUSE_MS);
        const answers = await pending;
        for (const answer of answers) {
          assert.equal(answer.error?.data?.code, 'audit_unavailable');
          assert.ok(answer.at < resumedAt, 'answered only once the store was back');
          const ms = answer.at - answer.started;
          assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + SLACK_MS, `answered after ${ms} ms`);
        }
        await g.core.gateway.drain();
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(g.mcp.toolCalls.length, reached);
        await assertNoneForwarded(
          g,
          answers.flatMap((a) => (a.error?.data?.recordId ? [a.error.data.recordId] : [])),
        );
        await client.callTool({ name: 'lookup_order', arguments: { id: 'after' } });
        assert.equal(g.mcp.toolCalls.length, reached + 1);
      } finally {
        await client.close();
      }
    });

    test('a call whose client hung up while the store was paused is not forwarded when it resumes', async () => {
      // A deadline far away: the store comes back well within it, so both calls are decided,
      // recorded and allowed, and only the gate before forwarding can stop them.
      const patient = await startCoreGateway(database, { gatewayStoreTimeoutMs: 30_000 });
      try {
        const tokens = {
          http: await patient.token(HTTP_UPSTREAM),
          mcp: await patient.token(MCP_UPSTREAM),
        };
        await patient.pause();
        const gone = new AbortController();
        const mcpCall = fetch(`${patient.url}/gw/mcp/${MCP_UPSTREAM}`, {
          method: 'POST',
          signal: gone.signal,
          headers: {
            authorization: `Bearer ${tokens.mcp}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-06-18',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: { name: 'lookup_order', arguments: { id: 'hung-up' } },
          }),
        }).catch(() => undefined);
        const httpCall = callAndHangUp(
          patient,
          `/gw/http/${HTTP_UPSTREAM}/hung-up`,
          tokens.http,
          300,
        );
        setTimeout(() => gone.abort(), 300);
        await Promise.all([httpCall, mcpCall]);
        await patient.resume();
        await until(async () => {
          const outcomes = await trailEvents(patient, 'gateway.outcome');
          return outcomes.length >= 2;
        });
        const outcomes = await trailEvents(patient, 'gateway.outcome');
        const decided = await trailEvents(patient, 'decision.allow');
        assert.equal(decided.length, 2, 'both calls were decided and recorded');
        assert.deepEqual(outcomes.map((e) => [e.after['upstream'], e.after['error']]).sort(), [
          [HTTP_UPSTREAM, 'not_forwarded: client_gone'],
          [MCP_UPSTREAM, 'not_forwarded: client_gone'],
        ]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(patient.http.received.length, 0);
        assert.equal(patient.mcp.toolCalls.length, 0);
      } finally {
        await patient.close();
      }
    });
  });
}

describe('gateway on SQLite whose commit stalls the event loop (a stalled disk)', () => {
  test('a decision committed after the deadline is refused with 503 and not forwarded', async () => {
    const [sqlite] = await testDatabases();
    assert.ok(sqlite);
    let stallMs = 0;
    // better-sqlite3 is synchronous: a disk that stalls holds the whole event loop in the
    // commit, so no timer fires during it. Spinning in the write stands in for that disk.
    const stalling = (store: Store): Store => ({
      ...store,
      appendAuditEvents: async (rows) => {
        await store.appendAuditEvents(rows);
        // The commit's flush to disk, at the end of the write, takes its time.
        const until = performance.now() + stallMs;
        while (performance.now() < until) {
          // the disk does not answer
        }
      },
    });
    const g = await startCoreGateway(sqlite, { gatewayStoreTimeoutMs: 300, wrapStore: stalling });
    try {
      const token = await g.token(HTTP_UPSTREAM);
      const call = () =>
        fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/stalled`, {
          headers: { authorization: `Bearer ${token}` },
        });
      assert.equal((await call()).status, 200);
      const reached = g.http.received.length;
      stallMs = 600;
      const late = await call();
      assert.equal(late.status, 503);
      const body = (await late.json()) as { code: string; recordId: string };
      assert.equal(body.code, 'audit_unavailable');
      stallMs = 0;
      assert.equal(g.http.received.length, reached);
      const decision = (await trailEvents(g, 'decision.allow')).find(
        (e) => e.targetId === body.recordId,
      );
      assert.ok(decision, 'the decision was committed, late');
      const outcome = (await trailEvents(g, 'gateway.outcome')).find(
        (e) => e.targetId === body.recordId,
      );
      assert.equal(outcome?.after['error'], 'not_forwarded: deadline_passed');
    } finally {
      await g.close();
    }
  });
});
