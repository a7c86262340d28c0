/**
 * gateway: what full enforcement costs an agent's tool call, against a bare pass-through proxy on
 * the same stack and against calling the upstream directly, for an HTTP tool call and an MCP
 * `tools/call`, at a fixed offered load and at maximum throughput, on loopback.
 *
 * The parts, all real:
 * - **Upstreams** in a child process (`bench/harness/gateway-upstreams.ts`): an HTTP API
 *   (node:http, a small JSON answer) and an MCP server (official SDK, Streamable HTTP, stateless,
 *   tools `lookup_order` and `refund`). Both answer 401 without the upstream key in `x-api-key`.
 * - **Steward**: `up()` with port 0 and silent logs on the selected `--db` (as
 *   `revocation-propagation` starts it), set up through its admin API as an operator would: a
 *   team, a service, identities, the upstream key as a secret injected in `x-api-key`, both
 *   upstreams (127.0.0.1 allowed in the egress guard), Cedar policies that permit `GET` on the
 *   HTTP API (but not `/admin*`) and `lookup_order` (but not `refund`), and access tokens from
 *   `/oauth2/token` with a join token, per upstream audience.
 * - **Bare proxy** (`bench/harness/bare-proxy.ts`): Fastify + undici, no checks; the caller sends
 *   the upstream key itself. It runs in the bench's process beside Steward; only one of them is
 *   under load at a time.
 * - **Load generator** in a child process (`bench/harness/load.ts`): undici for HTTP, the official
 *   MCP client for `tools/call` (each client initialized once, before the measurement).
 *
 * Enforcement per Steward call: token verification (cached, see below), revocation, upstream
 * lookup, rate limits, argument scan, the Cedar decision, the decision's audit record committed
 * (group commit) before forwarding, credential injection, forwarding, and the outcome's record.
 *
 * Tokens: each Steward client uses one access token for all its calls, so the verifier's cache
 * (part of the design) serves every call after the first. There are {@link AGENTS} of them, one
 * identity each.
 *
 * Rate limits: the defaults (100 calls/s per identity, 1,000/s per upstream) are far below what
 * is offered here, so they are raised through `STEWARD_RATE_*` as an operator would: otherwise
 * the bench would measure the limits instead of the cost. The limiter still runs on every call.
 *
 * Order: per protocol, every target gets a warm-up, then {@link ROUNDS} open-loop rounds in
 * rotated order (direct, bare, Steward; bare, Steward, direct; …), then closed-loop rounds the
 * same way, so a burst of load on the shared machine falls on all three alike.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { startBareProxy, type BareProxy } from '../harness/bare-proxy.js';
import { postgresUrlOf } from '../harness/databases.js';
import type { UpstreamsReady, UpstreamStats } from '../harness/gateway-upstreams.js';
import {
  startLoadGenerator,
  type HeaderSet,
  type LoadGenerator,
  type LoadMode,
  type LoadResult,
  type LoadTarget,
} from '../harness/load.js';
import type { Measured } from '../harness/measure.js';
import type { ComparisonSpec, Limit, Scenario } from '../harness/scenario.js';
import { summarize } from '../harness/stats.js';

/** Offered load of the open-loop runs, per protocol (requests per second). */
const RATE = { http: 50, mcp: 40 } as const;
/** Outstanding requests allowed in the open loop; a due request beyond them waits (and counts). */
const MAX_IN_FLIGHT = 64;
/** Clients of the closed-loop (maximum throughput) runs. */
const CONCURRENCY = 16;
/** Open-loop rounds per target; the measured requests are split evenly between them. */
const ROUNDS = 3;
/** Closed-loop rounds per target, and each one's length. */
const CLOSED_ROUNDS = 2;
const CLOSED_SECONDS = 3;
const WARMUP_SECONDS = 2;
/** Steward clients, one identity and one token each (see the header). */
const AGENTS = 16;
/** A rate limit no run of this bench reaches (see the header). */
const UNLIMITED = '1000000/1000000';

const SERVICE = 'bench-agent';
const TEAM = 'bench';
export const HTTP_UPSTREAM = 'tools';
export const MCP_UPSTREAM = 'orders';
export const HTTP_PATH = '/orders/ord_1042';
export const TOOL = 'lookup_order';
export const TOOL_ARGUMENTS = { id: 'ord_1042' };

const POLICIES = `
@id("tools-read")
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"http_request", resource in Steward::Upstream::"${HTTP_UPSTREAM}")
  when { context has method && context.method == "GET" };
@id("tools-no-admin")
forbid(principal, action == Steward::Action::"http_request", resource)
  when { context has path && context.path like "/admin*" };
@id("orders-list")
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"list_tools", resource == Steward::Upstream::"${MCP_UPSTREAM}");
@id("orders-lookup")
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"${MCP_UPSTREAM}/${TOOL}");
`;

const UPSTREAMS_CHILD = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'harness',
  'gateway-upstreams.ts',
);

type Protocol = 'http' | 'mcp';
type Path = 'direct' | 'bare proxy' | 'Steward';
const PATHS: readonly Path[] = ['direct', 'bare proxy', 'Steward'];

const label = (protocol: Protocol, via: Path, mode: 'open' | 'closed'): string =>
  `${protocol === 'http' ? 'HTTP GET' : 'MCP tools/call'} ${via}, ${
    mode === 'open' ? `${RATE[protocol]}/s open loop` : `${CONCURRENCY} clients closed loop`
  }`;

const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;

export const gateway: Scenario = {
  name: 'gateway',
  summary:
    'HTTP tool call and MCP tools/call: direct, bare Fastify+undici proxy, Steward gateway (open and closed loop)',
  usesDatabase: true,
  async run(context) {
    const store = await context.openStore();
    const upstreamKey = `bench-upstream-${randomBytes(16).toString('hex')}`;
    const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
    const dataDir =
      context.database === 'sqlite' ? mkdtempSync(path.join(tmpdir(), 'steward-bench-')) : '';
    const env = {
      STEWARD_PORT: '0',
      STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
      STEWARD_ADMIN_KEY: adminKey,
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_ISSUER: 'http://steward.bench',
      STEWARD_RATE_PER_IDENTITY: UNLIMITED,
      STEWARD_RATE_PER_IDENTITY_UPSTREAM: UNLIMITED,
      STEWARD_RATE_PER_UPSTREAM: UNLIMITED,
      ...(context.database === 'postgres'
        ? { DATABASE_URL: await postgresUrlOf(store) }
        : { STEWARD_DATA_DIR: dataDir }),
    };

    let upstreams: ChildProcess | undefined;
    let steward: RunningSteward | undefined;
    let bare: BareProxy | undefined;
    let load: LoadGenerator | undefined;
    try {
      const started = await startUpstreams(upstreamKey);
      upstreams = started.child;
      const targets = started.ready;
      steward = await up(loadConfig(env), { announce: () => {} });
      const tokens = await setUp(steward, adminKey, targets, upstreamKey);
      bare = await startBareProxy(targets);
      const stats = async (): Promise<UpstreamStats> =>
        (await (await fetch(`${targets.http}/__stats`)).json()) as UpstreamStats;
      const checked = await checkEnforcement(steward.url, bare.url, tokens, stats);
      context.log('checked: Steward injects the key, strips the token, refuses /admin and refund');

      const keyed: HeaderSet[] = Array.from({ length: AGENTS }, () => ({
        'x-api-key': upstreamKey,
      }));
      const bearer = (list: readonly string[]): HeaderSet[] =>
        list.map((token) => ({ authorization: `Bearer ${token}` }));
      const target = (protocol: Protocol, via: Path): LoadTarget => {
        if (protocol === 'http') {
          const url =
            via === 'direct'
              ? `${targets.http}${HTTP_PATH}`
              : via === 'bare proxy'
                ? `${bare?.url ?? ''}/http${HTTP_PATH}`
                : `${steward?.url ?? ''}/gw/http/${HTTP_UPSTREAM}${HTTP_PATH}`;
          return { kind: 'http', url, headers: via === 'Steward' ? bearer(tokens.http) : keyed };
        }
        const url =
          via === 'direct'
            ? targets.mcp
            : via === 'bare proxy'
              ? `${bare?.url ?? ''}/mcp`
              : `${steward?.url ?? ''}/gw/mcp/${MCP_UPSTREAM}`;
        return {
          kind: 'mcp',
          url,
          headers: via === 'Steward' ? bearer(tokens.mcp) : keyed,
          tool: TOOL,
          arguments: TOOL_ARGUMENTS,
        };
      };

      load = await startLoadGenerator();
      const generator = load;
      const measurements: Measured[] = [];
      const failures: Record<string, string> = {};
      const details: Record<string, string | number> = {};
      // Requests per target in the open loop, split over the rounds.
      const requests = { http: context.iterations(1_000), mcp: context.iterations(800) };
      const auditBefore = await auditRows(steward);

      for (const protocol of ['http', 'mcp'] as const) {
        const rate = RATE[protocol];
        const openSeconds = requests[protocol] / rate / ROUNDS;
        const run = async (via: Path, mode: LoadMode): Promise<LoadResult> => {
          const t = target(protocol, via);
          await generator.prepare(t);
          const result = await generator.run({ target: t, mode });
          await generator.reset();
          return result;
        };
        context.log(
          `${protocol}: warm-up ${WARMUP_SECONDS} s each, then ${ROUNDS} × ${openSeconds.toFixed(1)} s at ${rate}/s and ${CLOSED_ROUNDS} × ${CLOSED_SECONDS} s with ${CONCURRENCY} clients per target`,
        );
        for (const via of PATHS) {
          await run(via, {
            type: 'open',
            rate,
            seconds: WARMUP_SECONDS,
            maxInFlight: MAX_IN_FLIGHT,
          });
        }
        const open = new Map<Path, LoadResult[]>(PATHS.map((p) => [p, []]));
        const closed = new Map<Path, LoadResult[]>(PATHS.map((p) => [p, []]));
        for (let round = 0; round < ROUNDS; round++) {
          for (let k = 0; k < PATHS.length; k++) {
            const via = PATHS[(round + k) % PATHS.length] ?? 'direct';
            const mode: LoadMode = {
              type: 'open',
              rate,
              seconds: openSeconds,
              maxInFlight: MAX_IN_FLIGHT,
            };
            open.get(via)?.push(await run(via, mode));
          }
          context.log(`${protocol}: open-loop round ${round + 1}/${ROUNDS} done`);
        }
        for (let round = 0; round < CLOSED_ROUNDS; round++) {
          for (let k = 0; k < PATHS.length; k++) {
            const via = PATHS[(round + k) % PATHS.length] ?? 'direct';
            const mode: LoadMode = {
              type: 'closed',
              concurrency: CONCURRENCY,
              seconds: CLOSED_SECONDS,
            };
            closed.get(via)?.push(await run(via, mode));
          }
        }
        context.log(`${protocol}: closed-loop rounds done`);
        for (const via of PATHS) {
          for (const [mode, results] of [
            ['open', open.get(via) ?? []],
            ['closed', closed.get(via) ?? []],
          ] as const) {
            const name = label(protocol, via, mode);
            const combined = combine(results);
            measurements.push({ label: name, warmup: 0, stats: combined.stats });
            if (combined.failed !== '') failures[name] = combined.failed;
            if (mode === 'open') {
              details[`${name}: service time p50 ms`] = ms(combined.serviceMedianNs);
              details[`${name}: due requests that waited for a slot`] = combined.waited;
            }
          }
        }
      }

      const comparisons: ComparisonSpec[] = [];
      const limits: Limit[] = [];
      for (const protocol of ['http', 'mcp'] as const) {
        comparisons.push(
          {
            subject: label(protocol, 'Steward', 'closed'),
            baseline: label(protocol, 'bare proxy', 'closed'),
            goal: {
              metric: 'throughput',
              atLeast: 0.7,
              text: 'maximum throughput at least 0.7x the bare proxy',
            },
          },
          {
            subject: label(protocol, 'Steward', 'open'),
            baseline: label(protocol, 'bare proxy', 'open'),
          },
          {
            subject: label(protocol, 'bare proxy', 'open'),
            baseline: label(protocol, 'direct', 'open'),
          },
          {
            subject: label(protocol, 'bare proxy', 'closed'),
            baseline: label(protocol, 'direct', 'closed'),
          },
        );
        const bareOpen = measurements.find(
          (m) => m.label === label(protocol, 'bare proxy', 'open'),
        );
        const bareMedianMs = (bareOpen?.stats.medianNs ?? Number.NaN) / 1e6;
        limits.push({
          measurement: label(protocol, 'Steward', 'open'),
          metric: 'median',
          atMostMs: Math.round((bareMedianMs + 1) * 1000) / 1000,
          text: `p50 at most the bare proxy's p50 (${bareMedianMs.toFixed(3)} ms) + 1 ms`,
        });
      }

      const upstreamStats = await stats();
      return {
        measurements,
        comparisons,
        limits,
        details: {
          offeredLoadHttpPerSecond: RATE.http,
          offeredLoadMcpPerSecond: RATE.mcp,
          openLoopMaxInFlight: MAX_IN_FLIGHT,
          openLoopRoundsPerTarget: ROUNDS,
          closedLoopClients: CONCURRENCY,
          closedLoopSecondsPerTarget: CLOSED_ROUNDS * CLOSED_SECONDS,
          stewardTokens: `${AGENTS} identities, one access token each, reused for every call`,
          auditRowsWritten: (await auditRows(steward)) - auditBefore,
          upstreamHttpCalls: upstreamStats.httpCalls,
          upstreamToolCalls: upstreamStats.toolCalls[TOOL] ?? 0,
          upstreamRequestsWithAuthorization: upstreamStats.withAuthorization,
          upstreamRequestsWithoutKey: upstreamStats.withoutKey,
          upstreamMcpHttpRequestsPerStewardToolCall: checked.upstreamRequestsPerStewardToolCall,
          ...failures,
          ...details,
        },
      };
    } finally {
      await load?.close();
      await bare?.close();
      await steward?.close();
      if (upstreams !== undefined) await stop(upstreams);
      if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

/** The results of one target's rounds as one measurement: all latencies, total throughput. */
function combine(results: readonly LoadResult[]): {
  stats: Measured['stats'];
  serviceMedianNs: number;
  waited: number;
  failed: string;
} {
  const latencies = Float64Array.from(results.flatMap((r) => r.latenciesNs));
  const service = Float64Array.from(results.flatMap((r) => r.serviceNs));
  const ok = results.reduce((sum, r) => sum + r.ok, 0);
  const seconds = results.reduce((sum, r) => sum + r.elapsedSeconds, 0);
  const failed: Record<string, number> = {};
  for (const r of results) {
    for (const [kind, count] of Object.entries(r.failures))
      failed[kind] = (failed[kind] ?? 0) + count;
  }
  return {
    // Throughput is what the target answered per second of wall time, not 1 / latency.
    stats: { ...summarize(latencies), opsPerSec: ok / seconds },
    serviceMedianNs: service.length > 0 ? summarize(service).medianNs : Number.NaN,
    waited: results.reduce((sum, r) => sum + r.waitedForSlot, 0),
    failed: Object.entries(failed)
      .map(([kind, count]) => `${kind}: ${count}`)
      .join(', '),
  };
}

export async function startUpstreams(
  key: string,
): Promise<{ child: ChildProcess; ready: UpstreamsReady }> {
  const child = fork(UPSTREAMS_CHILD, [], {
    env: { ...process.env, BENCH_UPSTREAM_KEY: key },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<UpstreamsReady>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the upstreams exited (${String(code)})`)));
    child.once('message', (message: UpstreamsReady) => resolve(message));
  });
  child.removeAllListeners('exit');
  return { child, ready };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await gone;
}

/** Steward's setup through its admin API; returns one access token per agent and upstream. */
export async function setUp(
  steward: RunningSteward,
  adminKey: string,
  targets: UpstreamsReady,
  upstreamKey: string,
): Promise<{ http: string[]; mcp: string[] }> {
  const admin = async <T>(method: 'POST' | 'PUT', url: string, body: unknown): Promise<T> => {
    const response = await steward.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${adminKey}` },
      payload: body as Record<string, unknown>,
    });
    if (response.statusCode >= 300) {
      throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
    }
    return (response.body === '' ? {} : response.json()) as T;
  };
  await admin('POST', '/v1/teams', {
    name: TEAM,
    contact: 'bench@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: SERVICE,
    team: TEAM,
    dataClassification: 'internal',
  });
  await admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'bench upstreams' });
  await admin('POST', '/v1/secrets', { name: 'upstream-key', value: upstreamKey, team: TEAM });
  const common = {
    team: TEAM,
    classification: 'internal',
    credential: { secret: 'upstream-key', in: 'header', name: 'x-api-key', format: '{secret}' },
    timeoutMs: 10_000,
  };
  await admin('POST', '/v1/upstreams', {
    name: HTTP_UPSTREAM,
    kind: 'http',
    url: targets.http,
    ...common,
  });
  await admin('POST', '/v1/upstreams', {
    name: MCP_UPSTREAM,
    kind: 'mcp',
    url: targets.mcp,
    sensitive: ['refund'],
    ...common,
  });
  await admin('PUT', '/v1/policies', { policies: POLICIES, message: 'gateway bench' });
  await steward.core.policies.reload();
  await steward.core.upstreams.reload();

  const tokens = { http: [] as string[], mcp: [] as string[] };
  for (let agent = 0; agent < AGENTS; agent++) {
    const { id } = await admin<{ id: string }>('POST', '/v1/identities', {
      service: SERVICE,
      environment: 'sandbox',
      agentPath: `worker-${agent}`,
    });
    for (const [audience, list] of [
      [HTTP_UPSTREAM, tokens.http],
      [MCP_UPSTREAM, tokens.mcp],
    ] as const) {
      const { token: join } = await admin<{ token: string }>(
        'POST',
        `/v1/identities/${id}/join-tokens`,
        { ttlSeconds: 600 },
      );
      const response = await steward.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: join,
          subject_token_type: 'urn:steward:token-type:join-token',
          audience,
        }).toString(),
      });
      if (response.statusCode !== 200) throw new Error(`token exchange: ${response.body}`);
      list.push(response.json<{ access_token: string }>().access_token);
    }
  }
  return tokens;
}

/**
 * Before measuring: Steward's call reaches the upstream with the injected key and without the
 * agent's token, a forbidden path and a forbidden tool are refused and never reach it, and the
 * bare proxy passes calls through.
 */
export async function checkEnforcement(
  stewardUrl: string,
  bareUrl: string,
  tokens: { http: readonly string[]; mcp: readonly string[] },
  stats: () => Promise<UpstreamStats>,
): Promise<{ upstreamRequestsPerStewardToolCall: string }> {
  const [httpToken] = tokens.http;
  const [mcpToken] = tokens.mcp;
  if (httpToken === undefined || mcpToken === undefined) throw new Error('no tokens');
  const fail = (what: string): never => {
    throw new Error(`check failed: ${what}`);
  };
  const before = await stats();
  const auth = { authorization: `Bearer ${httpToken}` };

  const allowed = await fetch(`${stewardUrl}/gw/http/${HTTP_UPSTREAM}${HTTP_PATH}`, {
    headers: auth,
  });
  if (allowed.status !== 200) fail(`Steward HTTP call answered ${allowed.status}`);
  await allowed.arrayBuffer();
  const admin = await fetch(`${stewardUrl}/gw/http/${HTTP_UPSTREAM}/admin/users`, {
    headers: auth,
  });
  if (admin.status !== 403) fail(`Steward answered ${admin.status} for /admin`);
  await admin.arrayBuffer();
  const noKey = await fetch(`${bareUrl}/http${HTTP_PATH}`);
  if (noKey.status !== 401) fail(`the bare proxy without a key got ${noKey.status}, not 401`);
  await noKey.arrayBuffer();

  let perCall: string | undefined;
  const client = new Client({ name: 'bench-check', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stewardUrl}/gw/mcp/${MCP_UPSTREAM}`), {
      requestInit: { headers: { authorization: `Bearer ${mcpToken}` } },
    }),
  );
  try {
    const listed = await client.listTools();
    const names = listed.tools.map((tool) => tool.name);
    if (!names.includes(TOOL) || names.includes('refund'))
      fail(`tools/list showed ${names.join()}`);
    const beforeCall = (await stats()).mcpHttpRequests;
    const result = await client.callTool({ name: TOOL, arguments: TOOL_ARGUMENTS });
    if (result.isError === true) fail('the permitted tool call failed');
    // The listing above opened this replica's pooled upstream session, so the call should cost
    // one POST; the pause lets anything sent after the answer (there should be nothing) arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const afterCall = (await stats()).mcpHttpRequests;
    perCall = Object.entries(afterCall)
      .map(([method, n]) => `${method} ${n - (beforeCall[method] ?? 0)}`)
      .join(', ');
    const refused = await client.callTool({ name: 'refund', arguments: TOOL_ARGUMENTS }).then(
      () => false,
      () => true,
    );
    if (!refused) fail('refund was not refused');
  } finally {
    await client.close();
  }

  const after = await stats();
  if (after.httpCalls !== before.httpCalls + 1)
    fail('the HTTP call did not reach the upstream once');
  if (after.httpAdminCalls !== before.httpAdminCalls) fail('/admin reached the upstream');
  if ((after.toolCalls[TOOL] ?? 0) !== (before.toolCalls[TOOL] ?? 0) + 1)
    fail('the tool call did not reach the upstream once');
  if ((after.toolCalls['refund'] ?? 0) !== 0) fail('refund reached the upstream');
  if (after.withAuthorization !== before.withAuthorization)
    fail("an agent's token reached the upstream");
  // The bare proxy's keyless call is the only one the upstreams refused.
  if (after.withoutKey !== before.withoutKey + 1) fail('a Steward call arrived without the key');
  return { upstreamRequestsPerStewardToolCall: perCall ?? 'not measured' };
}

async function auditRows(steward: RunningSteward): Promise<number> {
  await steward.core.gateway.drain();
  const row = await steward.core.store.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
