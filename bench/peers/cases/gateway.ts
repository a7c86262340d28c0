/**
 * gateway and mcp: the gateway against plain proxies, with the gateway scenario's parts
 * (`bench/scenarios/gateway.ts`): its upstreams child (an HTTP API and an MCP server, both
 * requiring the upstream key), its Steward setup through the admin API (policies, the key as an
 * injected secret, 16 identities with one access token each) and its checks before measuring
 * (the key injected, the agent's token never forwarded, `/admin` and `refund` refused).
 *
 * - gateway: `GET /gw/http/tools/orders/ord_1042` through Steward (SQLite, and PostgreSQL when
 *   given) vs the bare Fastify+undici proxy (`bench/harness/bare-proxy.ts`) and vs nginx (when
 *   installed), the two proxies given the upstream key by the caller and checking nothing.
 * - mcp: `tools/call lookup_order` through Steward's MCP gateway vs the bare proxy, each client
 *   initialized once before measuring (the official MCP client in the generator).
 *
 * Steward and the bare proxy run in the bench's process (one at a time under load), nginx and
 * the upstreams in processes of their own; the server CPU figure is the proxy's process only.
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseKind } from '../../harness/databases.js';
import { startBareProxy, type BareProxy } from '../../harness/bare-proxy.js';
import type { UpstreamStats } from '../../harness/gateway-upstreams.js';
import type { HeaderSet, LoadTarget } from '../../harness/load.js';
import {
  checkEnforcement,
  HTTP_PATH,
  HTTP_UPSTREAM,
  MCP_UPSTREAM,
  setUp,
  startUpstreams,
  stop,
  TOOL,
  TOOL_ARGUMENTS,
} from '../../scenarios/gateway.js';
import type { PeerCase, PeerContext } from '../case.js';
import { measureSideBySide, type PeerTarget } from '../measure.js';
import { nginxBinary, startNginx, type RunningNginx } from '../nginx.js';
import { startSteward, type BenchSteward } from '../steward.js';

export const GATEWAY_RATE = 200;
export const MCP_RATE = 50;

type Protocol = 'http' | 'mcp';

async function run(context: PeerContext, protocol: Protocol): Promise<void> {
  const upstreamKey = `bench-upstream-${randomBytes(16).toString('hex')}`;
  const stewards: {
    database: DatabaseKind;
    steward: BenchSteward;
    tokens: { http: string[]; mcp: string[] };
  }[] = [];
  let upstreams: Awaited<ReturnType<typeof startUpstreams>> | undefined;
  let bare: BareProxy | undefined;
  let nginx: RunningNginx | undefined;
  try {
    upstreams = await startUpstreams(upstreamKey);
    const { ready } = upstreams;
    bare = await startBareProxy(ready);
    const stats = async (): Promise<UpstreamStats> =>
      (await (await fetch(`${ready.http}/__stats`)).json()) as UpstreamStats;
    for (const database of context.databases) {
      const steward = await startSteward(database);
      stewards.push({ database, steward, tokens: { http: [], mcp: [] } });
      const tokens = await setUp(steward.server, steward.adminKey, ready, upstreamKey);
      stewards[stewards.length - 1] = { database, steward, tokens };
      await checkEnforcement(steward.url, bare.url, tokens, stats);
    }
    context.log('checked: Steward injects the key, strips the token, refuses /admin and refund');

    const keyed: HeaderSet[] = [{ 'x-api-key': upstreamKey }];
    const bearer = (list: readonly string[]): HeaderSet[] =>
      list.map((token) => ({ authorization: `Bearer ${token}` }));
    const http = (url: string, headers: readonly HeaderSet[]): LoadTarget => ({
      kind: 'http',
      url,
      headers,
    });
    const mcp = (url: string, headers: readonly HeaderSet[]): LoadTarget => ({
      kind: 'mcp',
      url,
      headers,
      tool: TOOL,
      arguments: TOOL_ARGUMENTS,
      client: 'raw',
    });

    const targets: PeerTarget[] = stewards.map(({ database, steward, tokens }) => ({
      label: `Steward (${database})`,
      cpu: 'self',
      target:
        protocol === 'http'
          ? http(`${steward.url}/gw/http/${HTTP_UPSTREAM}${HTTP_PATH}`, bearer(tokens.http))
          : mcp(`${steward.url}/gw/mcp/${MCP_UPSTREAM}`, bearer(tokens.mcp)),
    }));
    const bareLabel = 'bare proxy';
    targets.push({
      label: bareLabel,
      cpu: 'self',
      // As many MCP clients as Steward has (one per token), each with the key.
      target:
        protocol === 'http'
          ? http(`${bare.url}/http${HTTP_PATH}`, keyed)
          : mcp(
              `${bare.url}/mcp`,
              Array.from({ length: stewards[0]?.tokens.mcp.length ?? 1 }, () => ({
                'x-api-key': upstreamKey,
              })),
            ),
    });
    let nginxLabel: string | undefined;
    if (protocol === 'http') {
      const binary = nginxBinary();
      if (binary === undefined) {
        context.skip('nginx: not installed, skipped');
      } else {
        nginx = await startNginx(binary, ready.http);
        const check = await fetch(`${nginx.url}/http${HTTP_PATH}`, {
          headers: { 'x-api-key': upstreamKey },
        });
        await check.arrayBuffer();
        if (check.status !== 200) throw new Error(`nginx answered ${check.status}`);
        nginxLabel = nginx.version;
        context.detail('nginx', nginx.version);
        targets.push({
          label: nginxLabel,
          cpu: { pid: nginx.child.pid ?? -1 },
          target: http(`${nginx.url}/http${HTTP_PATH}`, keyed),
        });
      }
    }
    const figures = await measureSideBySide(context.generator, targets, {
      ...context.timing,
      rate: protocol === 'http' ? GATEWAY_RATE : MCP_RATE,
      log: context.log,
    });
    const name = protocol === 'http' ? 'gateway' : 'mcp';
    for (const { database } of stewards) {
      const label = `Steward (${database})`;
      const steward = figures.get(label);
      if (steward === undefined) throw new Error(`no ${label} figures`);
      for (const peerLabel of [bareLabel, nginxLabel]) {
        if (peerLabel === undefined) continue;
        const peer = figures.get(peerLabel);
        if (peer === undefined) throw new Error(`no ${peerLabel} figures`);
        context.record({
          case: name,
          variant: database,
          steward: { label, figures: steward },
          peer: { label: peerLabel, figures: peer },
        });
      }
    }
  } finally {
    await nginx?.close();
    await bare?.close();
    for (const { steward } of stewards) await steward.close();
    if (upstreams !== undefined) await stop(upstreams.child);
  }
}

export const gatewayCase: PeerCase = {
  name: 'gateway',
  summary: 'HTTP gateway call vs the bare Fastify+undici proxy and nginx (when installed)',
  run: (context) => run(context, 'http'),
};

export const mcpCase: PeerCase = {
  name: 'mcp',
  summary: 'MCP gateway tools/call vs the bare proxy',
  run: (context) => run(context, 'mcp'),
};
