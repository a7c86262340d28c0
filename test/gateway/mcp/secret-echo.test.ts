/**
 * The injected secret never comes back through the MCP gateway: a real MCP server (the official
 * SDK) whose tools answer with the HTTP headers they were called with, in a result and in a
 * JSON-RPC error, behind a real gateway, called by the official client, on both databases.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { testDatabases } from '../../support/databases.js';
import { connect, POLICIES, refusal, startGateway, type TestGateway } from './fixture.js';

const UPSTREAM = 'echo';
const ECHO_KEY = 'echo-upstream-key-9876543210';

/**
 * A stateless MCP server: `whoami` answers with the request's headers (as text, as structured
 * content and base64-encoded), `fail` with a JSON-RPC error that quotes the key it was sent.
 */
async function startEchoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const http: Server = createServer((req, res) => {
    void (async () => {
      const mcp = new McpServer(
        { name: 'echo', version: '1.0.0' },
        { capabilities: { tools: {} } },
      );
      mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({
        tools: ['whoami', 'fail'].map((name) => ({
          name,
          inputSchema: { type: 'object' as const, properties: {} },
        })),
      }));
      mcp.server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
        const headers = extra.requestInfo?.headers ?? {};
        const key = String(headers['x-api-key']);
        if (request.params.name === 'fail') {
          throw new McpError(ErrorCode.InvalidParams, `the key ${key} is not valid`, { key });
        }
        return {
          content: [
            { type: 'text', text: JSON.stringify(headers) },
            { type: 'text', text: Buffer.from(`svc:${key}`).toString('base64') },
          ],
          structuredContent: { headers, [key]: 'as a key' },
        };
      });
      // No `sessionIdGenerator`: stateless, a fresh server for each request.
      const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
      await mcp.connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

for (const database of await testDatabases()) {
  describe(`MCP: the injected secret never comes back (${database.name})`, () => {
    let g: TestGateway;
    let server: Awaited<ReturnType<typeof startEchoServer>>;
    let client: Client;
    before(async () => {
      g = await startGateway(database);
      server = await startEchoServer();
      await g.admin('POST', '/v1/secrets', { name: 'echo-key', value: ECHO_KEY, team: 'payments' });
      await g.admin('POST', '/v1/upstreams', {
        name: UPSTREAM,
        kind: 'mcp',
        url: server.url,
        team: 'payments',
        classification: 'internal',
        credential: { secret: 'echo-key', in: 'header', name: 'x-api-key', format: '{secret}' },
        recordContent: true,
        timeoutMs: 5_000,
      });
      await g.admin('PUT', '/v1/policies', {
        policies: `${POLICIES}
permit(principal, action == Steward::Action::"list_tools", resource == Steward::Upstream::"${UPSTREAM}");
permit(principal, action == Steward::Action::"invoke_tool", resource in Steward::Upstream::"${UPSTREAM}");`,
        message: 'echo upstream',
      });
      for (const replica of g.replicas) await replica.core.policies.reload();
      const [replica] = g.replicas;
      assert.ok(replica);
      client = await connect(
        replica.url,
        await g.token({ audience: UPSTREAM }),
        undefined,
        UPSTREAM,
      );
    });
    after(async () => {
      await client.close();
      await g.close();
      await server.close();
    });

    async function findings(): Promise<Record<string, unknown>[]> {
      const [replica] = g.replicas;
      assert.ok(replica);
      await replica.core.gateway.drain();
      const rows = await replica.core.store.db
        .selectFrom('audit_events')
        .select('after')
        .where('type', '=', 'finding.credential_exposed')
        .execute();
      return rows
        .map((row) => JSON.parse(row.after ?? '{}') as Record<string, unknown>)
        .filter((after) => after['kind'] === 'injected_secret');
    }

    async function assertTrailClean(): Promise<void> {
      const [replica] = g.replicas;
      assert.ok(replica);
      await replica.core.gateway.drain();
      const rows = await replica.core.store.db
        .selectFrom('audit_events')
        .select(['type', 'after'])
        .execute();
      const row = rows.find((r) => (r.after ?? '').includes(ECHO_KEY));
      assert.equal(row, undefined, `the trail holds the key in ${row?.type ?? ''}`);
    }

    test('a tool result that quotes the request headers comes back scrubbed; a finding; the secret due for rotation', async () => {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      const text = JSON.stringify(result);
      assert.ok(!text.includes(ECHO_KEY), text);
      assert.ok(!text.includes(Buffer.from(ECHO_KEY).toString('base64').slice(4, 20)), text);
      const [first] = result.content as { text: string }[];
      // The upstream did get the key, and the agent sees that it was scrubbed.
      assert.match(
        (JSON.parse(first?.text ?? '{}') as Record<string, string>)['x-api-key'] ?? '',
        /^\[REDACTED/,
      );
      const raised = await findings();
      assert.equal(raised.length, 1);
      assert.equal(raised[0]?.['where'], 'result');
      assert.equal(raised[0]?.['secret'], 'echo-key');
      assert.equal(raised[0]?.['upstream'], UPSTREAM);
      assert.equal(raised[0]?.['rotation'], 'due');
      const secret = await g.admin<{ exposedAt: string | null; rotationDue: boolean }>(
        'GET',
        '/v1/secrets/echo-key',
      );
      assert.equal(typeof secret.exposedAt, 'string');
      assert.equal(secret.rotationDue, true);
      await assertTrailClean();
    });

    test("an upstream's JSON-RPC error that quotes the key comes back scrubbed", async () => {
      const refused = await refusal(client.callTool({ name: 'fail', arguments: {} }));
      assert.equal(refused.code, ErrorCode.InvalidParams);
      assert.ok(!refused.message.includes(ECHO_KEY), refused.message);
      assert.ok(!JSON.stringify(refused.data).includes(ECHO_KEY));
      assert.match(refused.message, /REDACTED/);
      assert.ok((await findings()).some((f) => f['where'] === 'error'));
      await assertTrailClean();
    });
  });
}
