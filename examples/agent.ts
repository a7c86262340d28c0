/**
 * The example agent: bootstraps from a one-time join token, then uses its tools only through
 * Steward's gateway. It never sees the tools' API keys; Steward decides every call.
 *
 *   STEWARD_URL=http://127.0.0.1:8080 STEWARD_JOIN_TOKEN=stw_join_… npx tsx examples/agent.ts
 *
 * `setup.ts` (and so `steward demo`) runs it in its own process with {@link runAgent}.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StewardAgent } from '@steward/sdk';
import { isMain } from './serve.js';

/** Runs the agent once against Steward at `url`, saying what happens, one line at a time. */
export async function runAgent(options: {
  url: string;
  joinToken: string;
  log?: (line: string) => void;
}): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  const agent = new StewardAgent({ url: options.url, joinToken: options.joinToken });
  try {
    const me = await agent.start();
    log(`running as ${me.spiffeId}`);

    // MCP: the official client, on a transport that carries (and renews) a token for `orders-mcp`.
    const client = new Client({ name: 'orders-agent', version: '1.0.0' });
    await client.connect(agent.mcpTransport('orders-mcp', StreamableHTTPClientTransport));
    try {
      const { tools } = await client.listTools();
      log(`tools I can see: ${tools.map((tool) => tool.name).join(', ')}`);
      log(`  (the server also has "refund"; policy hides it from me)`);

      const looked = await client.callTool({ name: 'lookup_order', arguments: { id: '1234' } });
      log(`lookup_order → ${JSON.stringify(looked.content)}`);

      // The agent tries the hidden tool anyway, as a confused or hijacked agent would.
      try {
        await client.callTool({ name: 'refund', arguments: { id: '1234', amount: 500 } });
        log('refund → allowed (unexpected: check the policies)');
      } catch (error) {
        log(`refund → refused by the gateway: ${(error as Error).message}`);
      }
    } finally {
      await client.close();
    }

    // HTTP: fetch(upstream, path) goes through /gw/http/<upstream> with a token for it.
    const order = await agent.fetch('orders-api', '/orders/1234');
    log(`GET /orders/1234 → ${order.status} ${await order.text()}`);
    const refund = await agent.fetch('orders-api', '/refunds', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: '1234', amount: 500 }),
    });
    if (refund.ok) {
      log(`POST /refunds → ${refund.status} allowed (unexpected: check the policies)`);
      await refund.body?.cancel();
    } else {
      // A refusal is a problem document (RFC 9457) with a stable code.
      const problem = (await refund.json().catch(() => ({}))) as { code?: string; detail?: string };
      log(
        `POST /refunds → ${refund.status} refused by the gateway: ${problem.code ?? '?'}: ${problem.detail ?? ''}`,
      );
    }
  } finally {
    agent.close();
  }
}

if (isMain(import.meta.url)) {
  const joinToken = process.env['STEWARD_JOIN_TOKEN'];
  if (joinToken === undefined) {
    console.error('Set STEWARD_JOIN_TOKEN (setup.ts makes one).');
    process.exit(1);
  }
  await runAgent({ url: process.env['STEWARD_URL'] ?? 'http://127.0.0.1:8080', joinToken });
}
