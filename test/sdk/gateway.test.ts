/**
 * The agent SDK's gateway helpers against a real Steward (`up()`) and a real MCP server: the
 * official MCP client on the transport `agent.mcpTransport` makes, tokens for the upstream's
 * audience renewed by the agent, task-bound transports, and the `(upstream, path)` form of fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StewardAgent } from '@steward/sdk';
import {
  startMcpUpstream,
  UPSTREAM_KEY,
  type TestMcpUpstream,
} from '../gateway/mcp/upstream-server.js';
import { claimsOf, recordingFetch, startSteward, type TestSteward } from './steward.js';

describe('the agent SDK through the gateway', () => {
  let steward: TestSteward;
  let upstream: TestMcpUpstream;
  let identity: string;
  const agents: StewardAgent[] = [];

  async function agent() {
    const recorder = recordingFetch();
    const made = new StewardAgent({
      url: steward.url,
      joinToken: await steward.joinToken(identity),
      clock: steward.clock,
      fetch: recorder.fetch,
    });
    agents.push(made);
    return { agent: made, exchanges: recorder.exchanges };
  }

  async function mcpClient(transport: StreamableHTTPClientTransport): Promise<Client> {
    const client = new Client({ name: 'sdk-test', version: '1.0.0' });
    await client.connect(transport);
    return client;
  }

  before(async () => {
    steward = await startSteward();
    upstream = await startMcpUpstream();
    const created = await steward.identity();
    identity = created.id;
    const service = (await steward.admin<{ service: string }>('GET', `/v1/identities/${identity}`))
      .service;
    await steward.admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'test' });
    await steward.admin('POST', '/v1/secrets', {
      name: 'orders-key',
      value: UPSTREAM_KEY,
      team: 'sdk-team',
    });
    await steward.admin('POST', '/v1/upstreams', {
      name: 'orders',
      kind: 'mcp',
      url: upstream.url,
      team: 'sdk-team',
      classification: 'internal',
      credential: { secret: 'orders-key', in: 'header', name: 'x-api-key', format: '{secret}' },
    });
    await steward.admin('PUT', '/v1/policies', {
      message: 'sdk gateway tests',
      policies: `
permit(principal in Steward::Service::"${service}", action == Steward::Action::"list_tools", resource == Steward::Upstream::"orders");
permit(principal in Steward::Service::"${service}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"orders/lookup_order");`,
    });
  });
  after(async () => {
    for (const made of agents) made.close();
    await steward.close();
    await upstream.close();
  });

  it('gives the official MCP client a transport with a token for the upstream', async () => {
    const { agent: made, exchanges } = await agent();
    const client = await mcpClient(made.mcpTransport('orders', StreamableHTTPClientTransport));
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(
        tools.map((tool) => tool.name),
        ['lookup_order'],
      );
      const result = await client.callTool({ name: 'lookup_order', arguments: { id: '7' } });
      assert.deepEqual(result.content, [{ type: 'text', text: 'order 7: shipped' }]);
      await assert.rejects(client.callTool({ name: 'refund', arguments: { id: '7', amount: 1 } }));
    } finally {
      await client.close();
    }
    assert.deepEqual(
      exchanges.map((form) => form.get('audience')),
      ['steward', 'orders'],
      "the session starts with Steward's own token, exchanged once for the upstream",
    );
    assert.ok(!upstream.toolCalls.some((call) => call.name === 'refund'));
  });

  it('renews the token as time passes, without the MCP client noticing', async () => {
    const { agent: made, exchanges } = await agent();
    const client = await mcpClient(
      new StreamableHTTPClientTransport(made.mcpUrl('orders'), { fetch: made.mcpFetch('orders') }),
    );
    try {
      await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
      const first = exchanges.length;
      steward.clock.advance(4.5 * 60_000); // past the renewal point of a 5-minute token
      await client.callTool({ name: 'lookup_order', arguments: { id: '2' } });
      assert.ok(exchanges.length > first, 'the token was renewed');
      const last = exchanges.at(-1);
      assert.equal(last?.get('audience'), 'orders');
    } finally {
      await client.close();
    }
  });

  it("makes a task's transport stop working when the task is completed", async () => {
    const { agent: made } = await agent();
    const task = await made.openTask({ deadlineSeconds: 600, description: 'look up one order' });
    const client = await mcpClient(task.mcpTransport('orders', StreamableHTTPClientTransport));
    try {
      await client.callTool({ name: 'lookup_order', arguments: { id: '3' } });
      const token = await task.token('orders');
      assert.equal(claimsOf(token)['task'], task.id);
      await task.complete();
      const calls = upstream.toolCalls.length;
      await assert.rejects(client.callTool({ name: 'lookup_order', arguments: { id: '4' } }));
      assert.equal(upstream.toolCalls.length, calls);
    } finally {
      await client.close();
    }
  });

  it('sends fetch(upstream, path) to the HTTP gateway with a token for the upstream', async () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const exchanges: string[] = [];
    // A stand-in for the network: the token endpoint of the real Steward, and a recorder for the rest.
    const fake: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (request.url.endsWith('/oauth2/token')) {
        exchanges.push(new URLSearchParams(await request.clone().text()).get('audience') ?? '');
        return fetch(request);
      }
      seen.push({ url: request.url, authorization: request.headers.get('authorization') });
      return new Response('{}', { status: 200 });
    };
    const made = new StewardAgent({
      url: steward.url,
      joinToken: await steward.joinToken(identity),
      clock: steward.clock,
      fetch: fake,
    });
    agents.push(made);
    const response = await made.fetch('orders', '/orders/9?fields=status', { method: 'GET' });
    assert.equal(response.status, 200);
    assert.equal(seen[0]?.url, `${steward.url}/gw/http/orders/orders/9?fields=status`);
    assert.match(seen[0]?.authorization ?? '', /^Bearer ey/);
    assert.equal(claimsOf((seen[0]?.authorization ?? '').slice(7))['aud'], 'orders');
    assert.deepEqual(exchanges, ['steward', 'orders']);

    assert.throws(() => made.mcpUrl('Not A Name'), TypeError);
    await assert.rejects(made.fetch('orders', 'no-leading-slash'), TypeError);
    await assert.rejects(made.fetch('../steward', '/v1/tasks'), TypeError);
  });
});
