import type { Kysely } from 'kysely';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import type { Clock } from '../shared/clock.js';
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
      let query = db
        .selectFrom('tokens')
        .innerJoin('identities', 'identities.id', 'tokens.identity_id')
        .innerJoin('services', 'services.id', 'identities.service_id')
        .selectAll('tokens')
        .select(['identities.spiffe_id', 'identities.environment', 'services.name as service']);
      if (filter.identity !== undefined)
        query = query.where('tokens.identity_id', '=', filter.identity);
      if (filter.task !== undefined) query = query.where('tokens.task_id', '=', filter.task);
      if (filter.session !== undefined)
        query = query.where('tokens.session_id', '=', filter.session);
      if (filter.service !== undefined) query = query.where('services.name', '=', filter.service);
      if (filter.cursor !== undefined)
        query = query.where('tokens.jti', '<', decodeCursor<string>(filter.cursor, 'string'));
      const rows = await query
        .orderBy('tokens.jti', 'desc')
        .limit(filter.limit + 1)
        .execute();
      const now = clock.now();
      return toPage(
        rows,
        filter.limit,
        (row) => row.jti,
        (row) => toEntry(row, now),
      );
    },
  };

  function toEntry(
    row: TokenTable & { spiffe_id: string; environment: string; service: string },
    now: number,
  ): InventoryEntry {
    const revoked = revocations.isRevoked({
      jti: row.jti,
      sid: row.session_id,
      client_id: row.identity_id,
      service: row.service,
      environment: row.environment,
      task: row.task_id ?? undefined,
      iat: Math.floor(Date.parse(row.issued_at) / 1000),
    });
    return {
      jti: row.jti,
      identity: row.identity_id,
      spiffeId: row.spiffe_id,
      service: row.service,
      environment: row.environment,
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
