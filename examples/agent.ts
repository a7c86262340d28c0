/**
 * The example agent: bootstraps from a one-time join token, then uses its tools only through
 * Steward's gateway. It never sees the tools' API keys; Steward decides every call.
 *
 *   STEWARD_URL=http://127.0.0.1:8080 STEWARD_JOIN_TOKEN=stw_join_… npx tsx examples/agent.ts
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StewardAgent } from '@steward/sdk';

const joinToken = process.env['STEWARD_JOIN_TOKEN'];
if (joinToken === undefined) {
  console.error('Set STEWARD_JOIN_TOKEN (setup.ts makes one).');
  process.exit(1);
}
const agent = new StewardAgent({
  url: process.env['STEWARD_URL'] ?? 'http://127.0.0.1:8080',
  joinToken,
});

try {
  const me = await agent.start();
  console.log(`running as ${me.spiffeId}`);

  // MCP: the official client, on a transport that carries (and renews) a token for `orders-mcp`.
  const client = new Client({ name: 'orders-agent', version: '1.0.0' });
  await client.connect(agent.mcpTransport('orders-mcp', StreamableHTTPClientTransport));
  const { tools } = await client.listTools();
  console.log(`tools I can see: ${tools.map((tool) => tool.name).join(', ')}`);
  console.log(`  (the server also has "refund"; policy hides it from me)`);

  const looked = await client.callTool({ name: 'lookup_order', arguments: { id: '1234' } });
  console.log(`lookup_order → ${JSON.stringify(looked.content)}`);

  try {
    await client.callTool({ name: 'refund', arguments: { id: '1234', amount: 500 } });
    console.log('refund → allowed (unexpected: check the policies)');
  } catch (error) {
    console.log(`refund → refused: ${(error as Error).message}`);
  }
  await client.close();

  // HTTP: fetch(upstream, path) goes through /gw/http/<upstream> with a token for it.
  const order = await agent.fetch('orders-api', '/orders/1234');
  console.log(`GET /orders/1234 → ${order.status} ${await order.text()}`);
  const refund = await agent.fetch('orders-api', '/refunds', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '1234', amount: 500 }),
  });
  console.log(`POST /refunds → ${refund.status} (refused by policy)`);
  await refund.body?.cancel();
} finally {
  agent.close();
}
