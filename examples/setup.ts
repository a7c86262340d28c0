/**
 * Sets up the example against a running Steward (`npm start`) and runs the agent:
 * starts the example MCP server and HTTP API, registers the team, service and identity, stores
 * the tools' API keys as secrets, registers both as upstreams (allowing 127.0.0.1 for egress),
 * adds the example's Cedar policies, makes a join token, and runs the agent with it.
 *
 *   STEWARD_ADMIN_KEY=… npx tsx examples/setup.ts
 *
 * Safe to run again: what exists is kept, the keys are rotated to this run's values.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STEWARD = (process.env['STEWARD_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_KEY = process.env['STEWARD_ADMIN_KEY'];
if (ADMIN_KEY === undefined) {
  console.error('Set STEWARD_ADMIN_KEY to an admin key of the running Steward.');
  process.exit(1);
}
const MCP_PORT = Number(process.env['ORDERS_MCP_PORT'] ?? 4010);
const API_PORT = Number(process.env['ORDERS_API_PORT'] ?? 4020);
const here = path.dirname(fileURLToPath(import.meta.url));
const MARKER = '// example: orders (examples/setup.ts)';
const POLICIES = `${MARKER}
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"list_tools", resource == Steward::Upstream::"orders-mcp");
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"orders-mcp/lookup_order");
permit(principal in Steward::Service::"orders-agent", action == Steward::Action::"http_request", resource == Steward::Operation::"orders-api/get_order");
`;

/** An admin API call; `ok` lists statuses that are fine besides 2xx (409: it exists already). */
async function admin(
  method: string,
  route: string,
  body?: unknown,
  ok: number[] = [],
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(STEWARD + route, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_KEY ?? ''}`,
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

/** Runs an example program with tsx, as this script runs. */
function run(file: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(here, file)], {
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

const mcpKey = randomBytes(24).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const children = [
  run('mcp-server.ts', { ORDERS_MCP_KEY: mcpKey, PORT: String(MCP_PORT) }),
  run('http-api.ts', { ORDERS_API_KEY: apiKey, PORT: String(API_PORT) }),
];
try {
  await waitFor(`http://127.0.0.1:${MCP_PORT}/mcp`);
  await waitFor(`http://127.0.0.1:${API_PORT}/`);

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
  const identity = (await admin(
    'POST',
    '/v1/identities',
    { service: 'orders-agent', environment: 'sandbox', agentPath: 'planner' },
    [409],
  )) as { status: number; body: { id?: string } };
  let identityId = identity.body.id;
  if (identityId === undefined) {
    const list = (await admin('GET', '/v1/identities?service=orders-agent&limit=100')) as {
      status: number;
      body: {
        items: { id: string; service: string; agentPath: string; environment: string }[];
      };
    };
    identityId = list.body.items.find(
      (item) =>
        item.service === 'orders-agent' &&
        item.agentPath === 'planner' &&
        item.environment === 'sandbox',
    )?.id;
  }
  if (identityId === undefined) throw new Error('could not find the example identity');

  // The example servers run on loopback, which the egress guard refuses unless an admin allows it.
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
  await admin(
    'POST',
    '/v1/upstreams',
    {
      name: 'orders-mcp',
      kind: 'mcp',
      url: `http://127.0.0.1:${MCP_PORT}/mcp`,
      team: 'orders',
      classification: 'confidential',
      credential: { secret: 'orders-mcp-key', in: 'header', name: 'x-api-key', format: '{secret}' },
      sensitive: ['refund'],
    },
    [409],
  );
  await admin(
    'POST',
    '/v1/upstreams',
    {
      name: 'orders-api',
      kind: 'http',
      url: `http://127.0.0.1:${API_PORT}`,
      team: 'orders',
      classification: 'confidential',
      credential: { secret: 'orders-api-key', in: 'header', name: 'x-api-key', format: '{secret}' },
      operations: [
        { name: 'get_order', method: 'GET', path: '/orders/:id' },
        { name: 'refund', method: 'POST', path: '/refunds', sensitive: true },
      ],
    },
    [409],
  );

  // Added to the policies already there, once: the example must not replace an operator's set.
  const current = (await admin('GET', '/v1/policies')) as {
    status: number;
    body: { text: string };
  };
  if (!current.body.text.includes(MARKER)) {
    await admin('PUT', '/v1/policies', {
      policies: `${current.body.text}\n${POLICIES}`,
      message: 'Steward example: orders',
    });
  }

  const join = (await admin('POST', `/v1/identities/${identityId}/join-tokens`, {
    ttlSeconds: 600,
  })) as { status: number; body: { token: string } };
  console.log('\n--- the agent ---');
  const agent = run('agent.ts', { STEWARD_URL: STEWARD, STEWARD_JOIN_TOKEN: join.body.token });
  const code = await new Promise<number | null>((resolve) => agent.on('exit', resolve));
  console.log(
    `\nThe trail: curl -H "authorization: Bearer $STEWARD_ADMIN_KEY" '${STEWARD}/v1/audit?service=orders-agent'`,
  );
  process.exitCode = code ?? 1;
} finally {
  for (const child of children) child.kill();
}
