import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { Entity, EntityUid } from './engine/index.js';
import { qualified } from './schema.js';

/**
 * A source of Cedar entities. The registry gives teams, services and workloads; the gateway issue
 * adds upstreams and their tools by adding a source, without touching the others.
 */
export interface EntitySource {
  readonly name: string;
  /** A cheap value that changes whenever `load` would return something different. */
  fingerprint(db: Kysely<Database>): Promise<string>;
  load(db: Kysely<Database>): Promise<Entity[]>;
}

/** The uid of a Steward entity: `uid('Team', 'payments')`. */
export function uid(type: string, id: string): EntityUid {
  return { type: qualified(type), id };
}

/** Teams (id: name), services (id: name, in their team) and workloads (id: identity id, in their service). */
export const registrySource: EntitySource = {
  name: 'registry',

  async fingerprint(db) {
    // Counts catch deletions; the newest update catches every change the registry makes.
    const parts = await Promise.all(
      (['teams', 'services', 'identities'] as const).map((table) =>
        db
          .selectFrom(table)
          .select((eb) => [
            eb.fn.countAll<number | string>().as('n'),
            eb.fn.max('updated_at').as('at'),
          ])
          .executeTakeFirst(),
      ),
    );
    return parts.map((p) => `${String(p?.n ?? 0)}:${p?.at ?? ''}`).join('|');
  },

  async load(db) {
    const teams = await db.selectFrom('teams').select(['name']).execute();
    const services = await db
      .selectFrom('services')
      .innerJoin('teams', 'teams.id', 'services.team_id')
      .select(['services.name', 'services.data_classification', 'teams.name as team'])
      .execute();
    const identities = await db
      .selectFrom('identities')
      .innerJoin('services', 'services.id', 'identities.service_id')
      .innerJoin('teams', 'teams.id', 'services.team_id')
      .select([
        'identities.id',
        'identities.spiffe_id',
        'identities.environment',
        'identities.agent_path',
        'identities.status',
        'services.name as service',
        'teams.name as team',
      ])
      .execute();
    return [
      ...teams.map((t): Entity => ({
        uid: uid('Team', t.name),
        attrs: { name: t.name },
        parents: [],
      })),
      ...services.map((s): Entity => ({
        uid: uid('Service', s.name),
        attrs: { name: s.name, team: s.team, dataClassification: s.data_classification },
        parents: [uid('Team', s.team)],
      })),
      ...identities.map((i): Entity => ({
        uid: uid('Workload', i.id),
        attrs: {
          spiffeId: i.spiffe_id,
          service: i.service,
          environment: i.environment,
          agentPath: i.agent_path,
          team: i.team,
          status: i.status,
        },
        parents: [uid('Service', i.service)],
      })),
    ];
  },
};

/** Every ancestor of each entity (transitively), by `type::id` key; for scope matching. */
export function ancestry(entities: readonly Entity[]): Map<string, readonly EntityUid[]> {
  const parents = new Map<string, readonly EntityUid[]>();
  for (const entity of entities) parents.set(key(entity.uid), entity.parents);
  const memo = new Map<string, readonly EntityUid[]>();
  const walk = (start: EntityUid): readonly EntityUid[] => {
    const k = key(start);
    const known = memo.get(k);
    if (known) return known;
    const seen = new Map<string, EntityUid>();
    const stack = [...(parents.get(k) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop();
      if (!next || seen.has(key(next))) continue;
      seen.set(key(next), next);
      stack.push(...(parents.get(key(next)) ?? []));
    }
    const result = [...seen.values()];
    memo.set(k, result);
    return result;
  };
  const all = new Map<string, readonly EntityUid[]>();
  for (const entity of entities) all.set(key(entity.uid), walk(entity.uid));
  return all;
}

/** `Steward::Team::"payments"`: one string per entity, for maps and messages. */
export function key(entity: EntityUid): string {
  return `${entity.type}::${JSON.stringify(entity.id)}`;
}
