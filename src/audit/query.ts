import { sql, type Kysely } from 'kysely';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import type { Database } from '../store/index.js';

/** One audit event as the API returns it. */
export interface AuditEvent {
  readonly id: string;
  readonly seq: number;
  readonly occurredAt: string;
  readonly type: string;
  readonly actor: string;
  readonly actorRole: string;
  /** Steward's id of the request that caused the event. */
  readonly requestId: string | null;
  /** The caller's own `x-request-id`, when it sent a usable one. */
  readonly clientRequestId: string | null;
  readonly target: { readonly kind: string; readonly id: string };
  readonly team: string | null;
  readonly service: string | null;
  readonly identity: string | null;
  readonly before: unknown;
  readonly after: unknown;
}

export interface AuditFilter {
  /** Exact type (`team.created`) or a prefix ending in a dot (`identity.`). */
  readonly type?: string | undefined;
  readonly identity?: string | undefined;
  readonly service?: string | undefined;
  readonly team?: string | undefined;
  readonly actor?: string | undefined;
  /** Inclusive lower bound, ISO 8601. */
  readonly since?: string | undefined;
  /** Exclusive upper bound, ISO 8601. */
  readonly until?: string | undefined;
  /** Newest first by default; `asc` reads the trail in the order it was written. */
  readonly order?: 'asc' | 'desc' | undefined;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

/** Reads the trail with keyset pagination on the event sequence number. */
export async function queryAudit(
  db: Kysely<Database>,
  filter: AuditFilter,
): Promise<Page<AuditEvent>> {
  const descending = filter.order !== 'asc';
  let query = db.selectFrom('audit_events').selectAll();
  if (filter.type !== undefined) {
    query = filter.type.endsWith('.')
      ? query.where(sql`substr(type, 1, ${filter.type.length})`, '=', filter.type)
      : query.where('type', '=', filter.type);
  }
  if (filter.identity !== undefined) query = query.where('identity_id', '=', filter.identity);
  if (filter.service !== undefined) query = query.where('service', '=', filter.service);
  if (filter.team !== undefined) query = query.where('team', '=', filter.team);
  if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
  if (filter.since !== undefined) query = query.where('occurred_at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('occurred_at', '<', filter.until);
  if (filter.cursor !== undefined) {
    const after = decodeCursor<number>(filter.cursor, 'number');
    query = query.where('seq', descending ? '<' : '>', after);
  }
  const rows = await query
    .orderBy('seq', descending ? 'desc' : 'asc')
    .limit(filter.limit + 1)
    .execute();
  return toPage(
    rows,
    filter.limit,
    (row) => row.seq,
    (row): AuditEvent => ({
      id: row.id,
      seq: row.seq,
      occurredAt: row.occurred_at,
      type: row.type,
      actor: row.actor,
      actorRole: row.actor_role,
      requestId: row.request_id,
      clientRequestId: row.client_request_id,
      target: { kind: row.target_kind, id: row.target_id },
      team: row.team,
      service: row.service,
      identity: row.identity_id,
      before: row.before === null ? null : JSON.parse(row.before),
      after: row.after === null ? null : JSON.parse(row.after),
    }),
  );
}

/** One recorded decision of the API or the gateway: its event and the record it carries. */
export interface RecordedDecision {
  readonly id: string;
  readonly occurredAt: string;
  /** The decision record as the policy's decision point wrote it (`{}` when there was none). */
  readonly record: unknown;
}

/**
 * The newest recorded decisions, newest first, for simulation to replay: at most `limit`, those
 * that occurred in `[since, until)` when given.
 */
export async function loadDecisionRecords(
  db: Kysely<Database>,
  window: { since?: string | undefined; until?: string | undefined; limit: number },
): Promise<RecordedDecision[]> {
  let query = db
    .selectFrom('audit_events')
    .select(['id', 'occurred_at', 'after'])
    .where('target_kind', '=', 'decision');
  if (window.since !== undefined) query = query.where('occurred_at', '>=', window.since);
  if (window.until !== undefined) query = query.where('occurred_at', '<', window.until);
  const rows = await query.orderBy('seq', 'desc').limit(window.limit).execute();
  return rows.map((row) => ({
    id: row.id,
    occurredAt: row.occurred_at,
    record: JSON.parse(row.after ?? '{}') as unknown,
  }));
}
