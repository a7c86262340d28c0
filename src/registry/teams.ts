import type { Kysely, Transaction } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Database } from '../store/index.js';
import type { TeamTable } from '../store/schema.js';

/** A team: who owns services and answers for them. */
export interface Team {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Where to reach the team in working hours (mail, chat channel). */
  readonly contact: string;
  /** Who to reach when something is on fire (phone, paging address). */
  readonly escalation: string;
  /** The on-call reference: a pager schedule id or URL. */
  readonly onCall: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CreateTeamInput {
  readonly name: string;
  readonly description?: string;
  readonly contact: string;
  readonly escalation: string;
  readonly onCall?: string;
}

export type UpdateTeamInput = Partial<Omit<CreateTeamInput, 'name'>>;

export interface TeamService {
  create(context: ChangeContext, input: CreateTeamInput): Promise<Team>;
  get(name: string): Promise<Team>;
  list(options: { cursor?: string | undefined; limit: number }): Promise<Page<Team>>;
  update(context: ChangeContext, name: string, input: UpdateTeamInput): Promise<Team>;
  /** Deletes a team that owns nothing: no services, people or API keys. */
  delete(context: ChangeContext, name: string): Promise<void>;
}

export function toTeam(row: TeamTable): Team {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    contact: row.contact,
    escalation: row.escalation,
    onCall: row.on_call,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Loads a team row by name inside `db` (a transaction or not), or throws `not_found`. */
export async function findTeam(
  db: Kysely<Database> | Transaction<Database>,
  name: string,
): Promise<TeamTable> {
  const row = await db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw notFound('team', name);
  return row;
}

function teamExists(name: string): StewardError {
  return new StewardError('team_exists', `A team named ${JSON.stringify(name)} already exists.`);
}

export function createTeamService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  /** Told after every committed change (Cedar's entities come from the registry). */
  onChange?: () => void;
}): TeamService {
  const { db, clock } = deps;

  /** Runs one registry write in a transaction, then says so (the policy entities are stale). */
  async function write<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const result = await db.transaction().execute(work);
    deps.onChange?.();
    return result;
  }
  return {
    async create(context, input) {
      try {
        return await write(async (trx) => {
          const existing = await trx
            .selectFrom('teams')
            .select('id')
            .where('name', '=', input.name)
            .executeTakeFirst();
          if (existing) throw teamExists(input.name);
          const now = isoTime(clock.now());
          const row: TeamTable = {
            id: newId(clock.now()),
            name: input.name,
            description: input.description ?? '',
            contact: input.contact,
            escalation: input.escalation,
            on_call: input.onCall ?? '',
            created_at: now,
            updated_at: now,
          };
          await trx.insertInto('teams').values(row).execute();
          const team = toTeam(row);
          await recordChange(trx, clock, context, {
            type: 'team.created',
            targetKind: 'team',
            targetId: row.id,
            team: row.name,
            after: team,
          });
          return team;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? teamExists(input.name) : error;
      }
    },

    async get(name) {
      return toTeam(await findTeam(db, name));
    },

    async list({ cursor, limit }) {
      let query = db.selectFrom('teams').selectAll();
      if (cursor !== undefined)
        query = query.where('name', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, (row) => row.name, toTeam);
    },

    async update(context, name, input) {
      return write(async (trx) => {
        const row = await findTeam(trx, name);
        if (!canManageTeam(context.actor, row.id)) {
          throw forbidden(`This key may not manage team ${JSON.stringify(name)}.`);
        }
        const updated: TeamTable = {
          ...row,
          description: input.description ?? row.description,
          contact: input.contact ?? row.contact,
          escalation: input.escalation ?? row.escalation,
          on_call: input.onCall ?? row.on_call,
          updated_at: isoTime(clock.now()),
        };
        await trx.updateTable('teams').set(updated).where('id', '=', row.id).execute();
        const team = toTeam(updated);
        await recordChange(trx, clock, context, {
          type: 'team.updated',
          targetKind: 'team',
          targetId: row.id,
          team: row.name,
          before: toTeam(row),
          after: team,
        });
        return team;
      });
    },

    async delete(context, name) {
      await write(async (trx) => {
        const row = await findTeam(trx, name);
        for (const table of ['services', 'people', 'api_keys'] as const) {
          const owned = await trx
            .selectFrom(table)
            .select('id')
            .where('team_id', '=', row.id)
            .executeTakeFirst();
          if (owned) {
            throw new StewardError(
              'team_not_empty',
              `Team ${JSON.stringify(name)} still owns ${table.replace('_', ' ')}; a team is deleted only when it owns nothing (revoked API keys count: they keep the trail readable).`,
            );
          }
        }
        await trx.deleteFrom('teams').where('id', '=', row.id).execute();
        await recordChange(trx, clock, context, {
          type: 'team.deleted',
          targetKind: 'team',
          targetId: row.id,
          team: row.name,
          before: toTeam(row),
        });
      });
    },
  };
}
