import type { Kysely } from 'kysely';
import { loadRegistryCatalog, registryFingerprint } from '../registry/index.js';
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

  fingerprint: registryFingerprint,

  async load(db) {
    const { teams, services, workloads } = await loadRegistryCatalog(db);
    return [
      ...teams.map((t): Entity => ({
        uid: uid('Team', t.name),
        attrs: { name: t.name },
        parents: [],
      })),
      ...services.map((s): Entity => ({
        uid: uid('Service', s.name),
        attrs: { name: s.name, team: s.team, dataClassification: s.dataClassification },
        parents: [uid('Team', s.team)],
      })),
      ...workloads.map((w): Entity => ({
        uid: uid('Workload', w.id),
        attrs: {
          spiffeId: w.spiffeId,
          service: w.service,
          environment: w.environment,
          agentPath: w.agentPath,
          team: w.team,
          status: w.status,
        },
        parents: [uid('Service', w.service)],
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
