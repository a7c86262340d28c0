import type { Kysely } from 'kysely';
import { isoTime } from '../shared/clock.js';
import type { Database } from '../store/index.js';
import { admitted } from './services.js';
import type { Environment, IdentityStatus } from './vocabulary.js';

/**
 * The registry's read port for workloads: what other folders (the token exchange, attestation,
 * tasks, revocation) need to know of an identity, its service and its team, loaded in one query.
 * The registry owns the `identities`, `services` and `teams` tables; nothing else joins them.
 */
export interface Workload {
  readonly id: string;
  readonly spiffeId: string;
  readonly environment: Environment;
  readonly agentPath: string;
  readonly status: IdentityStatus;
  readonly maxTokenTtlSeconds: number;
  readonly maxSessionSeconds: number;
  readonly serviceId: string;
  readonly service: string;
  /** The environments the service is admitted to, always including `sandbox`. */
  readonly admittedEnvironments: readonly Environment[];
  readonly teamId: string;
  readonly team: string;
}

/** A service as other folders see it: who owns it and where it may run. */
export interface ServiceOwner {
  readonly id: string;
  readonly name: string;
  readonly teamId: string;
  readonly team: string;
}

/** Why a workload may not act now; `undefined` from {@link whyMayNotAct} means it may. */
export type ActRefusal =
  | { readonly reason: 'inactive'; readonly status: IdentityStatus; readonly message: string }
  | {
      readonly reason: 'not_admitted';
      readonly environment: Environment;
      readonly message: string;
    };

const selectWorkloads = (source: Kysely<Database>) =>
  source
    .selectFrom('identities')
    .innerJoin('services', 'services.id', 'identities.service_id')
    .innerJoin('teams', 'teams.id', 'services.team_id')
    .select([
      'identities.id',
      'identities.spiffe_id',
      'identities.environment',
      'identities.agent_path',
      'identities.status',
      'identities.max_token_ttl_seconds',
      'identities.max_session_seconds',
      'services.id as service_id',
      'services.name as service',
      'services.admitted_environments',
      'teams.id as team_id',
      'teams.name as team',
    ]);

type WorkloadRow = Awaited<
  ReturnType<ReturnType<typeof selectWorkloads>['executeTakeFirstOrThrow']>
>;

function toWorkload(row: WorkloadRow): Workload {
  return {
    id: row.id,
    spiffeId: row.spiffe_id,
    environment: row.environment as Environment,
    agentPath: row.agent_path,
    status: row.status as IdentityStatus,
    maxTokenTtlSeconds: row.max_token_ttl_seconds,
    maxSessionSeconds: row.max_session_seconds,
    serviceId: row.service_id,
    service: row.service,
    admittedEnvironments: admitted(row),
    teamId: row.team_id,
    team: row.team,
  };
}

/**
 * Loads the workload `id` with its service and team, in `source` (the database or the caller's
 * transaction); `undefined` when there is no such identity.
 */
export async function loadWorkload(
  source: Kysely<Database>,
  id: string,
): Promise<Workload | undefined> {
  const row = await selectWorkloads(source).where('identities.id', '=', id).executeTakeFirst();
  return row && toWorkload(row);
}

/** Loads several workloads at once, by id; ids with no identity are absent from the map. */
export async function loadWorkloads(
  source: Kysely<Database>,
  ids: readonly string[],
): Promise<ReadonlyMap<string, Workload>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await selectWorkloads(source).where('identities.id', 'in', unique).execute();
  return new Map(rows.map((row) => [row.id, toWorkload(row)]));
}

/** The ids of every identity of the service named `name` (none when there is no such service). */
export async function workloadIdsOfService(
  source: Kysely<Database>,
  name: string,
): Promise<string[]> {
  const rows = await source
    .selectFrom('identities')
    .innerJoin('services', 'services.id', 'identities.service_id')
    .select('identities.id')
    .where('services.name', '=', name)
    .execute();
  return rows.map((row) => row.id);
}

/** Loads the service named `name` with its owning team; `undefined` when there is none. */
export async function loadServiceOwner(
  source: Kysely<Database>,
  name: string,
): Promise<ServiceOwner | undefined> {
  const row = await source
    .selectFrom('services')
    .innerJoin('teams', 'teams.id', 'services.team_id')
    .select(['services.id', 'services.name', 'teams.id as team_id', 'teams.name as team'])
    .where('services.name', '=', name)
    .executeTakeFirst();
  return row && { id: row.id, name: row.name, teamId: row.team_id, team: row.team };
}

/**
 * The one answer to "may this workload act": it must be active, and its service admitted to
 * the workload's environment (sandbox is free). Every credential path asks here, so a disabled
 * identity or a withdrawn admission stops it everywhere at once.
 */
export function whyMayNotAct(workload: Workload): ActRefusal | undefined {
  if (workload.status !== 'active') {
    return {
      reason: 'inactive',
      status: workload.status,
      message: `The identity is ${workload.status}.`,
    };
  }
  if (!workload.admittedEnvironments.includes(workload.environment)) {
    return {
      reason: 'not_admitted',
      environment: workload.environment,
      message: `The service is not admitted to ${workload.environment}.`,
    };
  }
  return undefined;
}

/**
 * Notes when workloads last received a token, in the caller's transaction: one update per
 * identity, the latest time each.
 */
export async function recordWorkloadUse(
  trx: Kysely<Database>,
  lastUseMs: ReadonlyMap<string, number>,
): Promise<void> {
  for (const [identityId, at] of lastUseMs) {
    await trx
      .updateTable('identities')
      .set({ last_used_at: isoTime(at) })
      .where('id', '=', identityId)
      .execute();
  }
}
