/**
 * Sets up the example against a running Steward (`npm start`) and runs the agent:
 * starts the example MCP server and HTTP API, registers the team, service and identity, stores
 * the tools' API keys as secrets, registers both as upstreams (allowing 127.0.0.1 for egress),
 * adds the example's Cedar policies, makes a join token, and runs the agent with it.
 *
 *   STEWARD_ADMIN_KEY=… npx tsx examples/setup.ts
 *
 * Safe to run again: what exists is kept, the keys and addresses are updated to this run's.
 * `steward demo` runs {@link runExample} against a Steward of its own.
 */
import { randomBytes } from 'node:crypto';
import { runAgent } from './agent.js';
import { startOrdersApi } from './http-api.js';
import { startOrdersMcpServer } from './mcp-server.js';
import { isMain } from './serve.js';

const MARKER = '// example: orders (examples/setup.ts)';
/** Everything the agent may do; the rest is denied, as Cedar denies whatever no policy permits. */
export const EXAMPLE_POLICIES = `${MARKER}
@id("orders-agent-list-tools")
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"list_tools", resource == Steward::Upstream::"orders-mcp");
@id("orders-agent-lookup-order")
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"orders-mcp/lookup_order");
@id("orders-agent-get-order")
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"http_request", resource == Steward::Operation::"orders-api/get_order");
`;

export interface ExampleOptions {
  /** Steward's base URL. */
  readonly steward: string;
  /** An admin API key of that Steward. */
  readonly adminKey: string;
  /** Where the narration goes, one line at a time (default: standard output). */
  readonly log?: (line: string) => void;
}

/** The example after its agent ran: its tools are still up, for whoever wants to explore. */
export interface ExampleRun {
  readonly mcpUrl: string;
  readonly apiUrl: string;
  /** Stops the two example tools. */
  close(): Promise<void>;
}

/**
 * Starts the two example tools, registers them and the agent in Steward, runs the agent, and
 * leaves the tools running until {@link ExampleRun.close}.
 */
export async function runExample(options: ExampleOptions): Promise<ExampleRun> {
  const log = options.log ?? ((line: string) => console.log(line));
  const steward = options.steward.replace(/\/+$/, '');

  /** An admin API call; `ok` lists statuses that are fine besides 2xx (409: it exists already). */
  async function admin(
    method: string,
    route: string,
    body?: unknown,
    ok: number[] = [],
  ): Promise<{ status: number; body: unknown }> {
    const response = await fetch(steward + route, {
      method,
      headers: {
        authorization: `Bearer ${options.adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok && !ok.includes(response.status)) {
      throw new Error(`${method} ${route} → ${response.status}: ${text}`);
    }
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as unknown) };
  }

  // Fresh random keys: the tools accept nothing else, and only Steward will hold them.
  const mcpKey = randomBytes(24).toString('base64url');
  const apiKey = randomBytes(24).toString('base64url');
  const mcp = await startOrdersMcpServer({ key: mcpKey });
  const api = await startOrdersApi({ key: apiKey }).catch(async (error: unknown) => {
    await mcp.close();
    throw error;
  });
  const close = async () => {
    await Promise.all([mcp.close(), api.close()]);
  };
  try {
    log(
      'Two example tools start on 127.0.0.1; each answers only to its own API key, held by Steward:',
    );
    log(`  orders-mcp  MCP server at ${mcp.url}: lookup_order, refund (sensitive)`);
    log(`  orders-api  HTTP API at ${api.url}: GET /orders/:id, POST /refunds (sensitive)`);

    await admin(
      'POST',
      '/v1/teams',
      { name: 'orders', contact: 'orders@example.com', escalation: '+1-555-0100' },
      [409],
    );
    await admin(
      'POST',
      '/v1/services',
      { name: 'orders-agent', team: 'orders', dataClassification: 'confidential' },
      [409],
    );
    const identity = await admin(
      'POST',
      '/v1/identities',
      { service: 'orders-agent', environment: 'sandbox', agentPath: 'planner' },
      [409],
    );
    let identityId = (identity.body as { id?: string }).id;
    if (identity.status === 409) {
      const list = await admin(
        'GET',
        '/v1/identities?service=orders-agent&environment=sandbox&limit=100',
      );
      const { items } = list.body as { items: { id: string; agentPath: string }[] };
      identityId = items.find((item) => item.agentPath === 'planner')?.id;
    }
    if (identityId === undefined) throw new Error('could not find the example identity');

    // The example tools run on loopback, which the egress guard refuses unless an admin allows it.
    await admin(
      'POST',
      '/v1/egress/allow',
      { address: '127.0.0.1', reason: 'Steward example servers on loopback' },
      [409],
    );
    for (const [name, value] of [
      ['orders-mcp-key', mcpKey],
      ['orders-api-key', apiKey],
    ] as const) {
      const created = await admin('POST', '/v1/secrets', { name, value, team: 'orders' }, [409]);
      if (created.status === 409) await admin('POST', `/v1/secrets/${name}/rotate`, { value });
    }
    const upstreams = [
      {
        name: 'orders-mcp',
        kind: 'mcp',
        url: mcp.url,
        team: 'orders',
        classification: 'confidential',
        credential: {
          secret: 'orders-mcp-key',
          in: 'header',
          name: 'x-api-key',
          format: '{secret}',
        },
        sensitive: ['refund'],
      },
      {
        name: 'orders-api',
        kind: 'http',
        url: api.url,
        team: 'orders',
        classification: 'confidential',
        credential: {
          secret: 'orders-api-key',
          in: 'header',
          name: 'x-api-key',
          format: '{secret}',
        },
        operations: [
          { name: 'get_order', method: 'GET', path: '/orders/:id' },
          { name: 'refund', method: 'POST', path: '/refunds', sensitive: true },
        ],
      },
    ];
    for (const upstream of upstreams) {
      const created = await admin('POST', '/v1/upstreams', upstream, [409]);
      // From an earlier run: the tools listen on new ports now.
      if (created.status === 409) {
        await admin('PATCH', `/v1/upstreams/${upstream.name}`, { url: upstream.url });
      }
    }
    log('');
    log(
      'Registered in Steward: team orders; service orders-agent and its sandbox identity planner;',
    );
    log(
      '  the tools as upstreams orders-mcp and orders-api, their keys as secrets Steward injects.',
    );

    // Added to the policies already there, once: the example must not replace an operator's set.
    const { text } = (await admin('GET', '/v1/policies')).body as { text: string };
    if (!text.includes(MARKER)) {
      await admin('PUT', '/v1/policies', {
        policies: `${text}\n${EXAMPLE_POLICIES}`,
        message: 'Steward example: orders',
      });
    }
    log('');
    log('Policy (Cedar): orders-agent may do this, and whatever no policy permits is refused:');
    for (const line of EXAMPLE_POLICIES.split('\n').filter((l) => l.startsWith('permit'))) {
      log(`  ${line}`);
    }

    const join = await admin('POST', `/v1/identities/${identityId}/join-tokens`, {
      ttlSeconds: 600,
    });
    log('');
    log('The agent starts with a one-time join token (examples/agent.ts, with @steward/sdk):');
    await runAgent({
      url: steward,
      joinToken: (join.body as { token: string }).token,
      log: (line) => log(`  ${line}`),
    });
    return { mcpUrl: mcp.url, apiUrl: api.url, close };
  } catch (error) {
    await close();
    throw error;
  }
}

if (isMain(import.meta.url)) {
  const adminKey = process.env['STEWARD_ADMIN_KEY'];
  if (adminKey === undefined) {
    console.error('Set STEWARD_ADMIN_KEY to an admin key of the running Steward.');
    process.exit(1);
  }
  const steward = (process.env['STEWARD_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const run = await runExample({ steward, adminKey });
  await run.close();
  console.log(
    `\nThe trail: steward audit list --service orders-agent, or\n  curl -H "authorization: Bearer $STEWARD_ADMIN_KEY" '${steward}/v1/audit?service=orders-agent'`,
  );
}
