import type { Kysely } from 'kysely';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import type { Clock } from '../shared/clock.js';
import { loadWorkloads, workloadIdsOfService, type Workload } from '../registry/index.js';
import type { RevocationList } from '../revocation/index.js';
import type { Database } from '../store/index.js';
import type { TokenTable } from '../store/schema.js';

/** One issued token as the inventory shows it: metadata, never the token. */
export interface InventoryEntry {
  readonly jti: string;
  readonly identity: string;
  readonly spiffeId: string;
  readonly service: string;
  readonly environment: string;
  readonly audience: string;
  readonly task: string | null;
  readonly attestation: string;
  readonly parent: string | null;
  readonly session: string;
  readonly kid: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly sessionExpiresAt: string;
  readonly clientAddress: string | null;
  readonly act: unknown;
  /** `active`, `expired` or `revoked`, as of now. */
  readonly status: 'active' | 'expired' | 'revoked';
}

export interface InventoryFilter {
  readonly identity?: string | undefined;
  readonly task?: string | undefined;
  readonly session?: string | undefined;
  readonly service?: string | undefined;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

export function createInventory(deps: {
  db: Kysely<Database>;
  clock: Clock;
  revocations: RevocationList;
}) {
  const { db, clock, revocations } = deps;
  return {
    /** Newest first (jtis are time-ordered). */
    async list(filter: InventoryFilter): Promise<Page<InventoryEntry>> {
      let query = db.selectFrom('tokens').selectAll();
      if (filter.identity !== undefined) query = query.where('identity_id', '=', filter.identity);
      if (filter.task !== undefined) query = query.where('task_id', '=', filter.task);
      if (filter.session !== undefined) query = query.where('session_id', '=', filter.session);
      if (filter.service !== undefined) {
        const identities = await workloadIdsOfService(db, filter.service);
        if (identities.length === 0) return { items: [] };
        query = query.where('identity_id', 'in', identities);
      }
      if (filter.cursor !== undefined)
        query = query.where('jti', '<', decodeCursor<string>(filter.cursor, 'string'));
      const rows = await query
        .orderBy('jti', 'desc')
        .limit(filter.limit + 1)
        .execute();
      const workloads = await loadWorkloads(
        db,
        rows.map((row) => row.identity_id),
      );
      const now = clock.now();
      const page = toPage(
        rows,
        filter.limit,
        (row) => row.jti,
        (row) => ({ row, workload: workloads.get(row.identity_id) }),
      );
      // A token whose identity is gone is left out, as a join would (none is: decommissioning
      // keeps the identity's row).
      return {
        ...page,
        items: page.items.flatMap(({ row, workload }) =>
          workload ? [toEntry(row, workload, now)] : [],
        ),
      };
    },
  };

  function toEntry(row: TokenTable, workload: Workload, now: number): InventoryEntry {
    const revoked = revocations.isRevoked({
      jti: row.jti,
      sid: row.session_id,
      client_id: row.identity_id,
      service: workload.service,
      environment: workload.environment,
      task: row.task_id ?? undefined,
      iat: Math.floor(Date.parse(row.issued_at) / 1000),
    });
    return {
      jti: row.jti,
      identity: row.identity_id,
      spiffeId: workload.spiffeId,
      service: workload.service,
      environment: workload.environment,
      audience: row.audience,
      task: row.task_id,
      attestation: row.attestation,
      parent: row.parent_jti,
      session: row.session_id,
      kid: row.kid,
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
      sessionExpiresAt: row.session_expires_at,
      clientAddress: row.client_address,
      act: row.actor === null ? null : JSON.parse(row.actor),
      status: revoked ? 'revoked' : Date.parse(row.expires_at) <= now ? 'expired' : 'active',
    };
  }
}

export type Inventory = ReturnType<typeof createInventory>;
