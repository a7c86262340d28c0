import type { Kysely } from 'kysely';
import type { TeamNames } from '../access/index.js';
import type { Database } from '../store/index.js';

/**
 * The registry's {@link TeamNames} port: team names by id, kept in memory once read. A team is
 * never renamed and an id never reused, so an entry never goes stale and needs no notification
 * across replicas; a team made on another replica is simply not known yet, and read on first
 * sight. One process keeps one entry per team it has seen (a deleted team's lingers, unused).
 */
export function createTeamNames(): TeamNames {
  const names = new Map<string, string>();
  return {
    async namesOf(source, ids) {
      const wanted = new Set<string>();
      for (const id of ids) if (id !== null) wanted.add(id);
      const missing = [...wanted].filter((id) => !names.has(id));
      if (missing.length > 0) {
        const rows = await source
          .selectFrom('teams')
          .select(['id', 'name'])
          .where('id', 'in', missing)
          .execute();
        for (const row of rows) names.set(row.id, row.name);
      }
      const found = new Map<string, string>();
      for (const id of wanted) {
        const name = names.get(id);
        if (name !== undefined) found.set(id, name);
      }
      return found;
    },

    async idOf(source, name) {
      const row = await source
        .selectFrom('teams')
        .select(['id', 'name'])
        .where('name', '=', name)
        .executeTakeFirst();
      if (row) names.set(row.id, row.name);
      return row?.id;
    },

    idExpression(source: Kysely<Database>, name: string) {
      return source.selectFrom('teams').select('id').where('name', '=', name).$asScalar();
    },
  };
}
