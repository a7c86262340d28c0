/**
 * The MCP gateway (see fixture.ts) in front of the careless `notes` server of
 * catalog-upstream.ts, under a broad policy: the calling service may do anything on `notes`
 * except invoke a sensitive tool (`refund`). That is the policy a look-alike name would slip
 * past if the gateway decided names as written.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ManualClock } from '../../support/clock.js';
import type { TestDatabase } from '../../support/databases.js';
import { startCatalogUpstream, type CatalogUpstream } from './catalog-upstream.js';
import { connect, POLICIES, startGateway, type TestGateway } from './fixture.js';

export const NOTES = 'notes';

export const BROAD_POLICIES = `${POLICIES}
permit(principal in Steward::Service::"refund-agent", action, resource in Steward::Upstream::"${NOTES}");
forbid(principal, action == Steward::Action::"invoke_tool", resource) when { resource.sensitive };
`;

export interface CatalogGateway {
  readonly gw: TestGateway;
  readonly notes: CatalogUpstream;
  /** The clock every replica shares: listings age by it. */
  readonly clock: ManualClock;
  /** An MCP client of `notes` through replica `replica` (default 0), as a new session of `identity`. */
  agent(options?: { identity?: string; replica?: number }): Promise<Client>;
  /** The trail's events of `type`, newest first, once every replica's records are written. */
  audit(type: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export interface AuditEvent {
  readonly type: string;
  readonly target: { readonly kind: string; readonly id: string };
  readonly team: string | null;
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown>;
}

export async function startCatalogGateway(
  database: TestDatabase,
  replicas = 1,
): Promise<CatalogGateway> {
  const gw = await startGateway(database, replicas);
  const notes = await startCatalogUpstream();
  await gw.admin('POST', '/v1/upstreams', {
    name: NOTES,
    kind: 'mcp',
    url: notes.url,
    team: 'payments',
    classification: 'internal',
    sensitive: ['refund'],
    timeoutMs: 5_000,
  });
  await gw.admin('PUT', '/v1/policies', { policies: BROAD_POLICIES, message: 'catalog tests' });
  for (const replica of gw.replicas) await replica.core.policies.reload();
  const clock = gw.replicas[0]?.core.clock;
  if (!(clock instanceof ManualClock)) throw new Error('the gateway fixture has a manual clock');
  return {
    gw,
    notes,
    clock,
    async agent(options = {}) {
      const token = await gw.token({
        audience: NOTES,
        ...(options.identity !== undefined ? { identity: options.identity } : {}),
      });
      return connect(gw.replicas[options.replica ?? 0]?.url ?? '', token, undefined, NOTES);
    },
    async audit(type) {
      for (const replica of gw.replicas) await replica.core.gateway.drain();
      const page = await gw.admin<{ items: AuditEvent[] }>(
        'GET',
        `/v1/audit?type=${encodeURIComponent(type)}&limit=200`,
      );
      return page.items;
    },
    async close() {
      await gw.close();
      await notes.close();
    },
  };
}
