/**
 * What an MCP client expects from its server, through the gateway, against the MCP project's
 * reference server (`@modelcontextprotocol/server-everything`) with the official client: progress,
 * log lines, `list_changed`, resource updates of subscriptions, cancellation, and the server's own
 * requests (elicitation, sampling, roots), each decided and recorded. On one replica, and on two
 * where the client sends each HTTP request to the other replica in turn (no affinity).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type ClientCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { testDatabases } from '../../support/databases.js';
import { startEverything, type EverythingServer } from './everything-server.js';
import { POLICIES, startGateway, type TestGateway } from './fixture.js';

const EVERYTHING = 'everything';
const SERVICE = 'refund-agent';
const agent = `principal in Steward::Service::"${SERVICE}"`;
/** Everything the relay needs, except `sample`: sampling is refused by policy. */
const RELAY_POLICIES = `${POLICIES}
permit(${agent}, action in [Steward::Action::"list_tools", Steward::Action::"listen", Steward::Action::"elicit", Steward::Action::"list_roots"], resource == Steward::Upstream::"${EVERYTHING}");
permit(${agent}, action == Steward::Action::"invoke_tool", resource in Steward::Upstream::"${EVERYTHING}");
permit(${agent}, action in [Steward::Action::"read_resource", Steward::Action::"subscribe_resource"], resource in Steward::Upstream::"${EVERYTHING}");
`;

interface AuditItem {
  readonly type: string;
  readonly after: Record<string, unknown>;
}

/** Waits (polling, bounded) until `probe` holds. */
async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

for (const database of await testDatabases()) {
  for (const replicas of [1, 2]) {
    describe(`MCP relay through the gateway, ${replicas} replica(s) (${database.name})`, () => {
      let gw: TestGateway;
      let everything: EverythingServer;
      before(async () => {
        gw = await startGateway(database, replicas);
        everything = await startEverything();
        await gw.admin('POST', '/v1/upstreams', {
          name: EVERYTHING,
          kind: 'mcp',
          url: everything.url,
          team: 'payments',
          classification: 'internal',
          timeoutMs: 5_000,
        });
        await gw.admin('PUT', '/v1/policies', { policies: RELAY_POLICIES, message: 'relay' });
        for (const replica of gw.replicas) await replica.core.policies.reload();
      });
      after(async () => {
        await gw.close();
        await everything.close();
      });

      /** The official client; each HTTP request goes to the next replica in turn. */
      async function connectAgent(
        capabilities: ClientCapabilities = {},
        token?: string,
      ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
        const bearer = token ?? (await gw.token({ audience: EVERYTHING }));
        let turn = 0;
        const roundRobin: typeof fetch = (input, init) => {
          const target = new URL(input instanceof Request ? input.url : input);
          const replica = gw.replicas[turn++ % gw.replicas.length];
          assert.ok(replica);
          const base = new URL(replica.url);
          target.host = base.host;
          return fetch(target, init);
        };
        const client = new Client({ name: 'relay-test-agent', version: '1.0.0' }, { capabilities });
        const transport = new StreamableHTTPClientTransport(
          new URL(`${gw.replicas[0]?.url ?? ''}/gw/mcp/${EVERYTHING}`),
          { requestInit: { headers: { authorization: `Bearer ${bearer}` } }, fetch: roundRobin },
        );
        await client.connect(transport);
        return { client, transport };
      }

      async function audit(type: string): Promise<AuditItem[]> {
        for (const replica of gw.replicas) await replica.core.gateway.drain();
        const page = await gw.admin<{ items: AuditItem[] }>(
          'GET',
          `/v1/audit?type=${type}&limit=200`,
        );
        return page.items;
      }

      it('relays progress of a long-running tool as it happens, and records it', async () => {
        const { client } = await connectAgent();
        try {
          const progress: number[] = [];
          const result = await client.callTool(
            { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
            undefined,
            { onprogress: (p) => progress.push(p.progress) },
          );
          assert.deepEqual(progress, [1, 2, 3]);
          assert.match(JSON.stringify(result.content), /Long running operation completed/);
          const outcomes = await audit('gateway.outcome');
          assert.ok(
            outcomes.some(
              (o) =>
                (o.after['relayed'] as Record<string, number> | undefined)?.[
                  'notifications/progress'
                ] === 3,
            ),
            'the outcome record counts the relayed progress',
          );
        } finally {
          await client.close();
        }
      });

      it('relays an elicitation to the agent that declared it, and its answer back', async () => {
        const { client } = await connectAgent({ elicitation: {} });
        let asked = 0;
        client.setRequestHandler(ElicitRequestSchema, () => {
          asked += 1;
          return { action: 'accept', content: { name: 'Ada Lovelace' } };
        });
        try {
          const result = await client.callTool({
            name: 'trigger-elicitation-request',
            arguments: {},
          });
          assert.equal(asked, 1);
          assert.match(JSON.stringify(result.content), /Name: Ada Lovelace/);
          const allowed = await audit('decision.allow');
          assert.ok(
            allowed.some(
              (d) => (d.after['gateway'] as Record<string, unknown>)['action'] === 'elicit',
            ),
            'the elicitation was decided and recorded',
          );
        } finally {
          await client.close();
        }
      });

      it('refuses a sampling request policy does not permit: the agent never sees it', async () => {
        const { client } = await connectAgent({ sampling: {} });
        let asked = 0;
        client.setRequestHandler(CreateMessageRequestSchema, () => {
          asked += 1;
          return { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'm' };
        });
        try {
          const result = await client.callTool({
            name: 'trigger-sampling-request',
            arguments: { prompt: 'hello', maxTokens: 5 },
          });
          assert.equal(asked, 0);
          assert.equal(result.isError, true);
          const denied = await audit('decision.deny');
          assert.ok(
            denied.some(
              (d) => (d.after['gateway'] as Record<string, unknown>)['action'] === 'sample',
            ),
            'the refused sampling request is recorded',
          );
        } finally {
          await client.close();
        }
      });

      it('relays what the server sends unprompted on the session stream: logs, list_changed, roots, updates', async () => {
        const streamsBefore = everything.streamsOpened();
        const { client } = await connectAgent({ roots: { listChanged: true } });
        const logs: unknown[] = [];
        const updates: string[] = [];
        let listChanged = 0;
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
          logs.push(n.params.data);
        });
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
          updates.push(n.params.uri);
        });
        client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
          listChanged += 1;
        });
        client.setRequestHandler(ListRootsRequestSchema, () => ({
          roots: [{ uri: 'file:///work/agent', name: 'agent workspace' }],
        }));
        try {
          // The agent's stream opened the upstream session's own.
          await until(
            () => everything.streamsOpened() > streamsBefore && everything.openStreams() > 0,
            'the upstream stream',
          );
          await client.setLoggingLevel('debug');
          await client.subscribeResource({
            uri: 'demo://resource/static/document/architecture.md',
          });
          const roots = await client.callTool({ name: 'get-roots-list', arguments: {} });
          assert.match(JSON.stringify(roots.content), /agent workspace/);
          await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
          await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
          await client.callTool({
            name: 'gzip-file-as-resource',
            arguments: {
              name: 'hello.gz',
              data: 'data:text/plain;base64,aGVsbG8=',
              outputType: 'resourceLink',
            },
          });
          await until(() => logs.length > 0, 'a log line');
          await until(
            () => updates.includes('demo://resource/static/document/architecture.md'),
            'a resource update',
          );
          await until(() => listChanged > 0, 'resources/list_changed');
          await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
          await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
        } finally {
          await client.close();
        }
      });

      it('cancels the upstream call when the agent cancels, from whichever replica', async () => {
        const { client } = await connectAgent();
        const before = everything.received.filter((m) => m === 'notifications/cancelled').length;
        const abort = new AbortController();
        try {
          const pending = client.callTool(
            { name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 50 } },
            undefined,
            { signal: abort.signal, onprogress: () => abort.abort('enough') },
          );
          await assert.rejects(pending);
          await until(
            () =>
              everything.received.filter((m) => m === 'notifications/cancelled').length > before,
            'the cancellation upstream',
          );
          const outcomes = await audit('gateway.outcome');
          await until(
            async () =>
              (await audit('gateway.outcome')).some((o) => o.after['error'] === 'cancelled'),
            'the cancelled outcome',
          );
          assert.ok(outcomes.length > 0);
        } finally {
          await client.close();
        }
      });

      it("refuses a session id presented with another identity's token", async () => {
        const { client, transport } = await connectAgent();
        try {
          const sessionId = transport.sessionId;
          assert.ok(sessionId);
          const other = await gw.token({
            audience: EVERYTHING,
            identity: await gw.addIdentity(`intruder-${replicas}`),
          });
          for (const replica of gw.replicas) {
            const response = await fetch(`${replica.url}/gw/mcp/${EVERYTHING}`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${other}`,
                'content-type': 'application/json',
                accept: 'application/json, text/event-stream',
                'mcp-session-id': sessionId,
                'mcp-protocol-version': '2025-06-18',
              },
              body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
            });
            assert.equal(response.status, 404);
          }
          // The owner still uses it.
          const { tools } = await client.listTools();
          assert.ok(tools.length > 0);
        } finally {
          await client.close();
        }
      });
    });
  }
}
