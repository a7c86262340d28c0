import type { Kysely, Transaction } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange, type AuditEventType } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Database } from '../store/index.js';
import type { ServiceTable } from '../store/schema.js';
import { findTeam } from './teams.js';
import { ENVIRONMENTS, type DataClassification, type Environment } from './vocabulary.js';

/** An AI service or agent application, owned by a team. */
export interface Service {
  readonly id: string;
  readonly name: string;
  readonly team: string;
  readonly description: string;
  readonly dataClassification: DataClassification;
  readonly runbookUrl: string;
  readonly rollbackPlan: string;
  /**
   * Environments the service may run identities in. `sandbox` is always there; `pilot` and
   * `production` are added by admission (today by `admin`/`security`, later by promotion gates).
   */
  readonly admittedEnvironments: Environment[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CreateServiceInput {
  readonly name: string;
  readonly team: string;
  readonly description?: string;
  readonly dataClassification: DataClassification;
  readonly runbookUrl?: string;
  readonly rollbackPlan?: string;
}

export interface UpdateServiceInput {
  /** Moving a service to another team is for admins only. */
  readonly team?: string;
  readonly description?: string;
  readonly dataClassification?: DataClassification;
  readonly runbookUrl?: string;
  readonly rollbackPlan?: string;
}

export interface AdmissionInput {
  /** The full set of admitted environments after the change; `sandbox` is implied. */
  readonly environments: readonly Environment[];
  /** Why: a ticket, a review, a sign-off. Recorded in the trail. */
  readonly reason: string;
}

export interface ServiceService {
  create(context: ChangeContext, input: CreateServiceInput): Promise<Service>;
  get(name: string): Promise<Service>;
  list(options: {
    team?: string | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<Page<Service>>;
  update(context: ChangeContext, name: string, input: UpdateServiceInput): Promise<Service>;
  setAdmittedEnvironments(
    context: ChangeContext,
    name: string,
    input: AdmissionInput,
  ): Promise<Service>;
}

export type ServiceRow = ServiceTable & { team_name: string };

export function toService(row: ServiceRow): Service {
  return {
    id: row.id,
    name: row.name,
    team: row.team_name,
    description: row.description,
    dataClassification: row.data_classification as DataClassification,
    runbookUrl: row.runbook_url,
    rollbackPlan: row.rollback_plan,
    admittedEnvironments: admitted(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The environments a service row is admitted to, always including `sandbox`, in rank order. */
export function admitted(row: Pick<ServiceTable, 'admitted_environments'>): Environment[] {
  const stored = JSON.parse(row.admitted_environments) as string[];
  return ENVIRONMENTS.filter((e) => e === 'sandbox' || stored.includes(e));
}

/** Loads a service with its team's name, or throws `not_found`. */
export async function findService(
  db: Kysely<Database> | Transaction<Database>,
  name: string,
): Promise<ServiceRow> {
  const row = await db
    .selectFrom('services')
    .innerJoin('teams', 'teams.id', 'services.team_id')
    .selectAll('services')
    .select('teams.name as team_name')
    .where('services.name', '=', name)
    .executeTakeFirst();
  if (!row) throw notFound('service', name);
  return row;
}

function serviceExists(name: string): StewardError {
  return new StewardError(
    'service_exists',
    `A service named ${JSON.stringify(name)} already exists.`,
  );
}

function mayNotManage(team: string): StewardError {
  return forbidden(`This key may not manage services of team ${JSON.stringify(team)}.`);
}

export function createServiceService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  /** Told after every committed change (Cedar's entities come from the registry). */
  onChange?: () => void;
}): ServiceService {
  const { db, clock } = deps;

  /** Runs one registry write in a transaction, then says so (the policy entities are stale). */
  async function write<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const result = await db.transaction().execute(work);
    deps.onChange?.();
    return result;
  }

  async function change(
    trx: Transaction<Database>,
    context: ChangeContext,
    type: AuditEventType,
    before: ServiceRow,
    after: ServiceRow,
    extra: Record<string, unknown> = {},
  ): Promise<Service> {
    const { team_name: _ignored, ...columns } = after;
    await trx.updateTable('services').set(columns).where('id', '=', before.id).execute();
    const service = toService(after);
    await recordChange(trx, clock, context, {
      type,
      targetKind: 'service',
      targetId: before.id,
      team: after.team_name,
      service: after.name,
      before: toService(before),
      after: { ...service, ...extra },
    });
    return service;
  }

  return {
    async create(context, input) {
      try {
        return await write(async (trx) => {
          const team = await findTeam(trx, input.team);
          if (!canManageTeam(context.actor, team.id)) throw mayNotManage(input.team);
          const existing = await trx
            .selectFrom('services')
            .select('id')
            .where('name', '=', input.name)
            .executeTakeFirst();
          if (existing) throw serviceExists(input.name);
          const now = isoTime(clock.now());
          const row: ServiceTable = {
            id: newId(clock.now()),
            team_id: team.id,
            name: input.name,
            description: input.description ?? '',
            data_classification: input.dataClassification,
            runbook_url: input.runbookUrl ?? '',
            rollback_plan: input.rollbackPlan ?? '',
            admitted_environments: JSON.stringify([]),
            created_at: now,
            updated_at: now,
          };
          await trx.insertInto('services').values(row).execute();
          const service = toService({ ...row, team_name: team.name });
          await recordChange(trx, clock, context, {
            type: 'service.created',
            targetKind: 'service',
            targetId: row.id,
            team: team.name,
            service: row.name,
            after: service,
          });
          return service;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? serviceExists(input.name) : error;
      }
    },

    async get(name) {
      return toService(await findService(db, name));
    },

    async list({ team, cursor, limit }) {
      let query = db
        .selectFrom('services')
        .innerJoin('teams', 'teams.id', 'services.team_id')
        .selectAll('services')
        .select('teams.name as team_name');
      if (team !== undefined) query = query.where('teams.name', '=', team);
      if (cursor !== undefined)
        query = query.where('services.name', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('services.name')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, (row) => row.name, toService);
    },

    async update(context, name, input) {
      return write(async (trx) => {
        const row = await findService(trx, name);
        if (!canManageTeam(context.actor, row.team_id)) throw mayNotManage(row.team_name);
        let team = { id: row.team_id, name: row.team_name };
        if (input.team !== undefined && input.team !== row.team_name) {
          if (context.actor.role !== 'admin')
            throw forbidden('Only an admin may move a service to another team.');
          const target = await findTeam(trx, input.team);
          team = { id: target.id, name: target.name };
        }
        return change(trx, context, 'service.updated', row, {
          ...row,
          team_id: team.id,
          team_name: team.name,
          description: input.description ?? row.description,
          data_classification: input.dataClassification ?? row.data_classification,
          runbook_url: input.runbookUrl ?? row.runbook_url,
          rollback_plan: input.rollbackPlan ?? row.rollback_plan,
          updated_at: isoTime(clock.now()),
        });
      });
    },

    async setAdmittedEnvironments(context, name, input) {
      return write(async (trx) => {
        const row = await findService(trx, name);
        const beyondSandbox = ENVIRONMENTS.filter(
          (e) => e !== 'sandbox' && input.environments.includes(e),
        );
        return change(
          trx,
          context,
          'service.admission_changed',
          row,
          {
            ...row,
            admitted_environments: JSON.stringify(beyondSandbox),
            updated_at: isoTime(clock.now()),
          },
          { reason: input.reason },
        );
      });
    },
  };
}
