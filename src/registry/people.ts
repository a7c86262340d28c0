import type { Kysely } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Database } from '../store/index.js';
import type { PersonTable } from '../store/schema.js';
import { findTeam } from './teams.js';

/** A person who answers for a team's services: an owner, an approver, the on-call. */
export interface Person {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly team: string;
  /** The person's role in the team, in the team's words: `lead`, `engineer`, `on-call`. */
  readonly role: string;
  readonly active: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CreatePersonInput {
  readonly name: string;
  readonly email: string;
  readonly team: string;
  readonly role?: string;
  readonly active?: boolean;
}

export interface UpdatePersonInput {
  readonly name?: string;
  readonly role?: string;
  readonly active?: boolean;
}

export interface PersonService {
  create(context: ChangeContext, input: CreatePersonInput): Promise<Person>;
  get(id: string): Promise<Person>;
  list(options: {
    team?: string | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<Page<Person>>;
  update(context: ChangeContext, id: string, input: UpdatePersonInput): Promise<Person>;
}

type PersonRow = PersonTable & { team_name: string };

function toPerson(row: PersonRow): Person {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    team: row.team_name,
    role: row.team_role,
    active: row.active === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function personExists(email: string): StewardError {
  return new StewardError(
    'person_exists',
    `A person with email ${JSON.stringify(email)} already exists.`,
  );
}

export function createPersonService(deps: { db: Kysely<Database>; clock: Clock }): PersonService {
  const { db, clock } = deps;
  const selectPeople = (source: Kysely<Database>) =>
    source
      .selectFrom('people')
      .innerJoin('teams', 'teams.id', 'people.team_id')
      .selectAll('people')
      .select('teams.name as team_name');

  async function find(source: Kysely<Database>, id: string): Promise<PersonRow> {
    const row = await selectPeople(source).where('people.id', '=', id).executeTakeFirst();
    if (!row) throw notFound('person', id);
    return row;
  }

  return {
    async create(context, input) {
      // Emails compare case-insensitively in practice; store one canonical form.
      const email = input.email.toLowerCase();
      try {
        return await db.transaction().execute(async (trx) => {
          const team = await findTeam(trx, input.team);
          if (!canManageTeam(context.actor, team.id)) {
            throw forbidden(`This key may not manage team ${JSON.stringify(input.team)}.`);
          }
          const existing = await trx
            .selectFrom('people')
            .select('id')
            .where('email', '=', email)
            .executeTakeFirst();
          if (existing) throw personExists(email);
          const now = isoTime(clock.now());
          const row: PersonTable = {
            id: newId(clock.now()),
            team_id: team.id,
            name: input.name,
            email,
            team_role: input.role ?? 'member',
            active: input.active === false ? 0 : 1,
            created_at: now,
            updated_at: now,
          };
          await trx.insertInto('people').values(row).execute();
          const person = toPerson({ ...row, team_name: team.name });
          await recordChange(trx, clock, context, {
            type: 'person.created',
            targetKind: 'person',
            targetId: row.id,
            team: team.name,
            after: person,
          });
          return person;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? personExists(email) : error;
      }
    },

    async get(id) {
      return toPerson(await find(db, id));
    },

    async list({ team, cursor, limit }) {
      let query = selectPeople(db);
      if (team !== undefined) query = query.where('teams.name', '=', team);
      if (cursor !== undefined)
        query = query.where('people.id', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('people.id')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, (row) => row.id, toPerson);
    },

    async update(context, id, input) {
      return db.transaction().execute(async (trx) => {
        const row = await find(trx, id);
        if (!canManageTeam(context.actor, row.team_id)) {
          throw forbidden(`This key may not manage team ${JSON.stringify(row.team_name)}.`);
        }
        const updated: PersonRow = {
          ...row,
          name: input.name ?? row.name,
          team_role: input.role ?? row.team_role,
          active: input.active === undefined ? row.active : input.active ? 1 : 0,
          updated_at: isoTime(clock.now()),
        };
        await trx
          .updateTable('people')
          .set({
            name: updated.name,
            team_role: updated.team_role,
            active: updated.active,
            updated_at: updated.updated_at,
          })
          .where('id', '=', id)
          .execute();
        const person = toPerson(updated);
        await recordChange(trx, clock, context, {
          type: 'person.updated',
          targetKind: 'person',
          targetId: id,
          team: row.team_name,
          before: toPerson(row),
          after: person,
        });
        return person;
      });
    },
  };
}
