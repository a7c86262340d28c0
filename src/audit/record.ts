import type { Insertable, Transaction } from 'kysely';
import type { ChangeContext } from '../actors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Database } from '../store/index.js';
import type { AuditEventTable } from '../store/schema.js';
import type { AuditEventType } from './event-types.js';

/** What changed, as one audit event. `before`/`after` are the API views, never secrets. */
export interface ChangeRecord {
  /** Dotted event type: `team.created`, `identity.disabled`, `apikey.revoked`. */
  readonly type: AuditEventType;
  readonly targetKind: string;
  readonly targetId: string;
  /** Names and ids that the trail is filtered by. */
  readonly team?: string | undefined;
  readonly service?: string | undefined;
  readonly identityId?: string | undefined;
  readonly before?: unknown;
  readonly after?: unknown;
}

/**
 * Appends one event to the trail inside the caller's transaction, so that a change and its record
 * commit together or not at all.
 */
export async function recordChange(
  trx: Transaction<Database>,
  clock: Clock,
  context: ChangeContext,
  change: ChangeRecord,
): Promise<void> {
  await trx
    .insertInto('audit_events')
    .values(auditRow(clock, context, change))
    .execute();
}

/** The row of one audit event, for callers that write many in one statement (group commit). */
export function auditRow(
  clock: Clock,
  context: ChangeContext,
  change: ChangeRecord,
): Insertable<AuditEventTable> {
  const now = clock.now();
  return {
    id: newId(now),
    occurred_at: isoTime(now),
    type: change.type,
    actor: context.actor.ref,
    actor_role: context.actor.role,
    request_id: context.requestId ?? null,
    client_request_id: context.clientRequestId ?? null,
    target_kind: change.targetKind,
    target_id: change.targetId,
    team: change.team ?? null,
    service: change.service ?? null,
    identity_id: change.identityId ?? null,
    before: change.before === undefined ? null : JSON.stringify(change.before),
    after: change.after === undefined ? null : JSON.stringify(change.after),
  };
}

/**
 * Appends prepared events (from {@link auditRow}) in one statement inside the caller's
 * transaction: a group commit records a batch of changes and their events together.
 */
export async function appendAuditRows(
  trx: Transaction<Database>,
  rows: readonly Insertable<AuditEventTable>[],
): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto('audit_events')
    .values([...rows])
    .execute();
}
