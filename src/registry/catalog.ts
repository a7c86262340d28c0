import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

/**
 * The registry's bulk read port: every team, service and workload at once, for the policy's
 * entity snapshot. The snapshot is rebuilt on the decision path's refresh, so this stays three
 * queries however large the registry grows.
 */
export interface RegistryCatalog {
  readonly teams: readonly { readonly name: string }[];
  readonly services: readonly {
    readonly name: string;
    readonly team: string;
    readonly dataClassification: string;
  }[];
  readonly workloads: readonly {
    readonly id: string;
    readonly spiffeId: string;
    readonly environment: string;
    readonly agentPath: string;
    readonly status: string;
    readonly service: string;
    readonly team: string;
  }[];
}

/** What one team answers for: the names of its services and the ids of their workloads. */
export interface TeamHoldings {
  readonly services: readonly string[];
  readonly workloadIds: readonly string[];
}

/** Loads every team, service and workload, each with the names of what it belongs to. */
export async function loadRegistryCatalog(db: Kysely<Database>): Promise<RegistryCatalog> {
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
  return {
    teams,
    services: services.map((s) => ({
      name: s.name,
      team: s.team,
      dataClassification: s.data_classification,
    })),
    workloads: identities.map((i) => ({
      id: i.id,
      spiffeId: i.spiffe_id,
      environment: i.environment,
      agentPath: i.agent_path,
      status: i.status,
      service: i.service,
      team: i.team,
    })),
  };
}

/**
 * A cheap value that changes whenever {@link loadRegistryCatalog} would return something
 * different: counts catch deletions, the newest update catches every change the registry makes.
 */
export async function registryFingerprint(db: Kysely<Database>): Promise<string> {
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
}

/** The services of the team named `teamName` and their workloads (none when there is no such team). */
export async function loadTeamHoldings(
  db: Kysely<Database>,
  teamName: string,
): Promise<TeamHoldings> {
  const services = await db
    .selectFrom('services')
    .innerJoin('teams', 'teams.id', 'services.team_id')
    .select('services.name')
    .where('teams.name', '=', teamName)
    .execute();
  const identities = await db
    .selectFrom('identities')
    .innerJoin('services', 'services.id', 'identities.service_id')
    .innerJoin('teams', 'teams.id', 'services.team_id')
    .select('identities.id')
    .where('teams.name', '=', teamName)
    .execute();
  return {
    services: services.map((s) => s.name),
    workloadIds: identities.map((i) => i.id),
  };
}
