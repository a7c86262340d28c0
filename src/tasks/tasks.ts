import type { Kysely } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { loadWorkload } from '../registry/index.js';
import type { RevokeWithin } from '../revocation/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import type { Database } from '../store/index.js';
import type { TaskTable } from '../store/schema.js';

/**
 * A task: one unit of agent work with a deadline. Tokens issued for it carry `task`, never
 * outlive the deadline, and die the moment the task completes.
 */
export interface Task {
  readonly id: string;
  readonly identity: string;
  readonly description: string;
  readonly status: 'open' | 'completed' | 'expired';
  readonly deadlineAt: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly closedAt: string | null;
  readonly closedBy: string | null;
}

export const MAX_TASK_SECONDS = 24 * 3600;

function toTask(row: TaskTable): Task {
  return {
    id: row.id,
    identity: row.identity_id,
    description: row.description,
    status: row.status as Task['status'],
    deadlineAt: row.deadline_at,
    createdBy: row.created_by,
    createdAt: row.created_at,
    closedAt: row.closed_at,
    closedBy: row.closed_by,
  };
}

/**
 * The tasks folder's read port: the task `id` as other folders (the token exchange, the revoker)
 * need it, in `source` (the database or the caller's transaction); `undefined` when there is none.
 */
export async function loadTask(source: Kysely<Database>, id: string): Promise<Task | undefined> {
  const row = await source.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toTask(row);
}

/** Workloads act on their own tasks only; admins on any; owners on their team's. */
async function checkAccess(
  db: Kysely<Database>,
  context: ChangeContext,
  identityId: string,
): Promise<void> {
  const actor = context.actor;
  if (actor.role === 'workload') {
    if (actor.identityId !== identityId)
      throw forbidden('A workload may act only on its own tasks.');
    return;
  }
  const workload = await loadWorkload(db, identityId);
  if (!workload) throw notFound('identity', identityId);
  if (!canManageTeam(actor, workload.teamId))
    throw forbidden("This key may not manage this identity's tasks.");
}

export function createTaskService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  /** The revoker's in-transaction revocation: a task's end revokes its tokens in the same commit. */
  revokeWithin: RevokeWithin;
}) {
  const { db, clock, revokeWithin } = deps;

  return {
    async open(
      context: ChangeContext,
      input: { identity: string; deadlineSeconds: number; description?: string | undefined },
    ): Promise<Task> {
      await checkAccess(db, context, input.identity);
      return db.transaction().execute(async (trx) => {
        const identity = await loadWorkload(trx, input.identity);
        if (!identity) throw notFound('identity', input.identity);
        if (identity.status !== 'active') {
          throw new StewardError(
            'invalid_status_transition',
            `The identity is ${identity.status}: it cannot open tasks.`,
          );
        }
        const now = clock.now();
        const row: TaskTable = {
          id: newId(now),
          identity_id: identity.id,
          description: input.description ?? '',
          status: 'open',
          deadline_at: isoTime(now + input.deadlineSeconds * 1000),
          created_by: context.actor.ref,
          created_at: isoTime(now),
          closed_at: null,
          closed_by: null,
        };
        await trx.insertInto('tasks').values(row).execute();
        const task = toTask(row);
        await recordChange(trx, clock, context, {
          type: 'task.opened',
          targetKind: 'task',
          targetId: row.id,
          identityId: identity.id,
          after: task,
        });
        return task;
      });
    },

    async get(context: ChangeContext, id: string): Promise<Task> {
      const row = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound('task', id);
      if (context.actor.role === 'workload' && context.actor.identityId !== row.identity_id)
        throw notFound('task', id);
      return toTask(row);
    },

    async list(filter: {
      identity?: string | undefined;
      status?: string | undefined;
      cursor?: string | undefined;
      limit: number;
    }): Promise<Page<Task>> {
      let query = db.selectFrom('tasks').selectAll();
      if (filter.identity !== undefined) query = query.where('identity_id', '=', filter.identity);
      if (filter.status !== undefined) query = query.where('status', '=', filter.status);
      if (filter.cursor !== undefined)
        query = query.where('id', '>', decodeCursor<string>(filter.cursor, 'string'));
      const rows = await query
        .orderBy('id')
        .limit(filter.limit + 1)
        .execute();
      return toPage(rows, filter.limit, (row) => row.id, toTask);
    },

    /** Completes a task and revokes every token issued for it, here at once and everywhere within a second. */
    async complete(context: ChangeContext, id: string): Promise<Task> {
      const existing = await db
        .selectFrom('tasks')
        .select('identity_id')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!existing) throw notFound('task', id);
      await checkAccess(db, context, existing.identity_id);
      const { task, revocation } = await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('tasks')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        if (row.status !== 'open') return { task: toTask(row), revocation: undefined };
        const now = clock.now();
        const closed: TaskTable = {
          ...row,
          status: 'completed',
          closed_at: isoTime(now),
          closed_by: context.actor.ref,
        };
        await trx
          .updateTable('tasks')
          .set({ status: 'completed', closed_at: closed.closed_at, closed_by: closed.closed_by })
          .where('id', '=', id)
          .execute();
        await recordChange(trx, clock, context, {
          type: 'task.completed',
          targetKind: 'task',
          targetId: id,
          identityId: row.identity_id,
          before: toTask(row),
          after: toTask(closed),
        });
        // Task tokens never outlive the deadline, so the entry is needed only until then.
        const revocation = await revokeWithin(
          trx,
          context,
          {
            kind: 'task',
            subject: id,
            revokedAt: now,
            expiresAt: Math.max(Date.parse(row.deadline_at), now) + 60_000,
          },
          'task completed',
        );
        return { task: toTask(closed), revocation };
      });
      if (revocation) await revocation.announce();
      return task;
    },

    /** Marks open tasks past their deadline as expired (their tokens have expired with it). */
    async expireDue(context: ChangeContext): Promise<number> {
      const now = isoTime(clock.now());
      const due = await db
        .selectFrom('tasks')
        .selectAll()
        .where('status', '=', 'open')
        .where('deadline_at', '<=', now)
        .limit(500)
        .execute();
      for (const row of due) {
        const entry = await db.transaction().execute(async (trx) => {
          const result = await trx
            .updateTable('tasks')
            .set({ status: 'expired', closed_at: now, closed_by: 'system' })
            .where('id', '=', row.id)
            .where('status', '=', 'open')
            .executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) return undefined; // another replica got there first
          await recordChange(trx, clock, context, {
            type: 'task.expired',
            targetKind: 'task',
            targetId: row.id,
            identityId: row.identity_id,
            before: toTask(row),
          });
          // Task tokens expire at the deadline, but verifiers allow clock skew on `exp`; the
          // revocation closes that window as soon as this job sees the deadline pass.
          const nowMs = clock.now();
          return revokeWithin(
            trx,
            context,
            { kind: 'task', subject: row.id, revokedAt: nowMs, expiresAt: nowMs + 120_000 },
            'task deadline passed',
          );
        });
        if (entry) await entry.announce();
      }
      return due.length;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;
