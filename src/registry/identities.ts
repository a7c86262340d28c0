import type { Kysely, Transaction } from 'kysely';
import { canManageTeam } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange, type AuditEventType } from '../audit/index.js';
import { forbidden, invalidField, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Database } from '../store/index.js';
import type { IdentityTable } from '../store/schema.js';
import type { PendingRevocation, RevokeWithin } from '../revocation/index.js';
import { admitted, findService } from './services.js';
import {
  DEFAULT_MAX_SESSION_SECONDS,
  DEFAULT_MAX_TOKEN_TTL_SECONDS,
  MAX_TOKEN_LIFETIME_MS,
  MAX_TOKEN_TTL_SECONDS,
  spiffeId,
  type Environment,
  type IdentityStatus,
} from './vocabulary.js';

/** A workload identity: one per (service, environment, agent path). */
export interface Identity {
  readonly id: string;
  readonly spiffeId: string;
  readonly service: string;
  readonly team: string;
  readonly environment: Environment;
  readonly agentPath: string;
  readonly description: string;
  readonly status: IdentityStatus;
  readonly statusReason: string | null;
  readonly statusChangedBy: string | null;
  readonly statusChangedAt: string | null;
  /** The longest access token this identity may hold; capped per environment. */
  readonly maxTokenTtlSeconds: number;
  /** How long renewals may extend one session (from its first token) before re-attestation. */
  readonly maxSessionSeconds: number;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastUsedAt: string | null;
}

export interface CreateIdentityInput {
  readonly service: string;
  readonly environment: Environment;
  readonly agentPath: string;
  readonly description?: string;
  readonly maxTokenTtlSeconds?: number;
  readonly maxSessionSeconds?: number;
}

export interface UpdateIdentityInput {
  readonly description?: string;
  readonly maxTokenTtlSeconds?: number;
  readonly maxSessionSeconds?: number;
}

export interface IdentityFilter {
  readonly service?: string | undefined;
  readonly team?: string | undefined;
  readonly environment?: Environment | undefined;
  readonly status?: IdentityStatus | undefined;
  readonly spiffeId?: string | undefined;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

/** The lifecycle moves an identity can make. Decommissioning is final. */
export type StatusChange = 'disable' | 'enable' | 'decommission';

export interface IdentityService {
  create(context: ChangeContext, input: CreateIdentityInput): Promise<Identity>;
  get(id: string): Promise<Identity>;
  list(filter: IdentityFilter): Promise<Page<Identity>>;
  update(context: ChangeContext, id: string, input: UpdateIdentityInput): Promise<Identity>;
  changeStatus(
    context: ChangeContext,
    id: string,
    change: StatusChange,
    reason: string,
  ): Promise<Identity>;
}

type IdentityRow = IdentityTable & { service_name: string; team_name: string; team_id: string };

function toIdentity(row: IdentityRow): Identity {
  return {
    id: row.id,
    spiffeId: row.spiffe_id,
    service: row.service_name,
    team: row.team_name,
    environment: row.environment as Environment,
    agentPath: row.agent_path,
    description: row.description,
    status: row.status as IdentityStatus,
    statusReason: row.status_reason,
    statusChangedBy: row.status_changed_by,
    statusChangedAt: row.status_changed_at,
    maxTokenTtlSeconds: row.max_token_ttl_seconds,
    maxSessionSeconds: row.max_session_seconds,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastUsedAt: row.last_used_at,
  };
}

const TRANSITIONS: Readonly<
  Record<
    StatusChange,
    { from: readonly IdentityStatus[]; to: IdentityStatus; event: AuditEventType }
  >
> = {
  disable: { from: ['active'], to: 'disabled', event: 'identity.disabled' },
  enable: { from: ['disabled'], to: 'active', event: 'identity.enabled' },
  decommission: {
    from: ['active', 'disabled'],
    to: 'decommissioned',
    event: 'identity.decommissioned',
  },
};

function checkTtl(environment: Environment, ttl: number): void {
  const cap = MAX_TOKEN_TTL_SECONDS[environment];
  if (ttl > cap) {
    throw invalidField(
      '/body/maxTokenTtlSeconds',
      `At most ${cap} seconds in ${environment}; credentials there must be short-lived.`,
    );
  }
}

export function createIdentityService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  trustDomain: string;
  /**
   * The revoker's in-transaction revocation, by which disabling or decommissioning revokes the
   * identity's tokens; absent in unit tests of the registry alone.
   */
  revokeWithin?: RevokeWithin;
  /** Told after every committed change (Cedar's entities come from the registry). */
  onChange?: () => void;
}): IdentityService {
  const { db, clock, trustDomain, revokeWithin } = deps;

  /** Runs one registry write in a transaction, then says so (the policy entities are stale). */
  async function write<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const result = await db.transaction().execute(work);
    deps.onChange?.();
    return result;
  }

  const selectIdentities = (source: Kysely<Database>) =>
    source
      .selectFrom('identities')
      .innerJoin('services', 'services.id', 'identities.service_id')
      .innerJoin('teams', 'teams.id', 'services.team_id')
      .selectAll('identities')
      .select(['services.name as service_name', 'teams.name as team_name', 'teams.id as team_id']);

  async function find(source: Kysely<Database>, id: string): Promise<IdentityRow> {
    const row = await selectIdentities(source).where('identities.id', '=', id).executeTakeFirst();
    if (!row) throw notFound('identity', id);
    return row;
  }

  async function save(
    trx: Transaction<Database>,
    context: ChangeContext,
    type: AuditEventType,
    before: IdentityRow,
    after: IdentityRow,
  ): Promise<Identity> {
    const { service_name: _s, team_name: _t, team_id: _i, ...columns } = after;
    await trx.updateTable('identities').set(columns).where('id', '=', before.id).execute();
    const identity = toIdentity(after);
    await recordChange(trx, clock, context, {
      type,
      targetKind: 'identity',
      targetId: before.id,
      team: after.team_name,
      service: after.service_name,
      identityId: before.id,
      before: toIdentity(before),
      after: identity,
    });
    return identity;
  }

  function conflict(spiffe: string, status?: string): StewardError {
    return status === 'decommissioned'
      ? new StewardError(
          'identity_decommissioned',
          `${spiffe} was decommissioned; a SPIFFE ID is never reused. Choose another agent path.`,
        )
      : new StewardError('identity_exists', `${spiffe} already exists.`);
  }

  return {
    async create(context, input) {
      let spiffe = '';
      try {
        return await write(async (trx) => {
          const service = await findService(trx, input.service);
          if (!canManageTeam(context.actor, service.team_id)) {
            throw forbidden(
              `This key may not manage identities of team ${JSON.stringify(service.team_name)}.`,
            );
          }
          if (!admitted(service).includes(input.environment)) {
            throw new StewardError(
              'environment_not_admitted',
              `Service ${JSON.stringify(service.name)} has not been admitted to ${input.environment}.`,
            );
          }
          const ttl =
            input.maxTokenTtlSeconds ??
            Math.min(DEFAULT_MAX_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS[input.environment]);
          checkTtl(input.environment, ttl);
          spiffe = spiffeId(trustDomain, input.environment, service.name, input.agentPath);
          const existing = await trx
            .selectFrom('identities')
            .select('status')
            .where('spiffe_id', '=', spiffe)
            .executeTakeFirst();
          if (existing) throw conflict(spiffe, existing.status);
          const now = isoTime(clock.now());
          const row: IdentityTable = {
            id: newId(clock.now()),
            service_id: service.id,
            environment: input.environment,
            agent_path: input.agentPath,
            spiffe_id: spiffe,
            description: input.description ?? '',
            status: 'active',
            status_reason: null,
            status_changed_by: null,
            status_changed_at: null,
            max_token_ttl_seconds: ttl,
            max_session_seconds: input.maxSessionSeconds ?? DEFAULT_MAX_SESSION_SECONDS,
            created_by: context.actor.ref,
            created_at: now,
            updated_at: now,
            last_used_at: null,
          };
          await trx.insertInto('identities').values(row).execute();
          const identity = toIdentity({
            ...row,
            service_name: service.name,
            team_name: service.team_name,
            team_id: service.team_id,
          });
          await recordChange(trx, clock, context, {
            type: 'identity.created',
            targetKind: 'identity',
            targetId: row.id,
            team: service.team_name,
            service: service.name,
            identityId: row.id,
            after: identity,
          });
          return identity;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? conflict(spiffe) : error;
      }
    },

    async get(id) {
      return toIdentity(await find(db, id));
    },

    async list(filter) {
      let query = selectIdentities(db);
      if (filter.service !== undefined) query = query.where('services.name', '=', filter.service);
      if (filter.team !== undefined) query = query.where('teams.name', '=', filter.team);
      if (filter.environment !== undefined)
        query = query.where('identities.environment', '=', filter.environment);
      if (filter.status !== undefined) query = query.where('identities.status', '=', filter.status);
      if (filter.spiffeId !== undefined)
        query = query.where('identities.spiffe_id', '=', filter.spiffeId);
      if (filter.cursor !== undefined) {
        query = query.where('identities.id', '>', decodeCursor<string>(filter.cursor, 'string'));
      }
      const rows = await query
        .orderBy('identities.id')
        .limit(filter.limit + 1)
        .execute();
      return toPage(rows, filter.limit, (row) => row.id, toIdentity);
    },

    async update(context, id, input) {
      return write(async (trx) => {
        const row = await find(trx, id);
        if (!canManageTeam(context.actor, row.team_id)) {
          throw forbidden(
            `This key may not manage identities of team ${JSON.stringify(row.team_name)}.`,
          );
        }
        if (row.status === 'decommissioned') {
          throw new StewardError(
            'identity_decommissioned',
            `${row.spiffe_id} is decommissioned and cannot change.`,
          );
        }
        const ttl = input.maxTokenTtlSeconds ?? row.max_token_ttl_seconds;
        checkTtl(row.environment as Environment, ttl);
        return save(trx, context, 'identity.updated', row, {
          ...row,
          description: input.description ?? row.description,
          max_token_ttl_seconds: ttl,
          max_session_seconds: input.maxSessionSeconds ?? row.max_session_seconds,
          updated_at: isoTime(clock.now()),
        });
      });
    },

    async changeStatus(context, id, change, reason) {
      let revocation: PendingRevocation | undefined;
      const identity = await write(async (trx) => {
        const row = await find(trx, id);
        // Owners may stop their own workloads (disable, decommission); re-enabling one that
        // security disabled is not theirs to do, and the route's role list enforces that.
        if (context.actor.role === 'owner' && !canManageTeam(context.actor, row.team_id)) {
          throw forbidden(
            `This key may not manage identities of team ${JSON.stringify(row.team_name)}.`,
          );
        }
        const transition = TRANSITIONS[change];
        if (row.status === transition.to) return toIdentity(row); // already there: idempotent
        if (!transition.from.includes(row.status as IdentityStatus)) {
          throw new StewardError(
            row.status === 'decommissioned'
              ? 'identity_decommissioned'
              : 'invalid_status_transition',
            `Cannot ${change} an identity that is ${row.status}.`,
          );
        }
        const nowMs = clock.now();
        const now = isoTime(nowMs);
        if (transition.to !== 'active' && revokeWithin) {
          // A stopped workload's tokens stop with it: every token issued so far is revoked in
          // the same transaction as the status change.
          revocation = await revokeWithin(
            trx,
            context,
            {
              kind: 'identity',
              subject: row.id,
              revokedAt: nowMs,
              expiresAt: nowMs + MAX_TOKEN_LIFETIME_MS,
            },
            `identity ${transition.to}: ${reason}`,
          );
        }
        return save(trx, context, transition.event, row, {
          ...row,
          status: transition.to,
          status_reason: reason,
          status_changed_by: context.actor.ref,
          status_changed_at: now,
          updated_at: now,
        });
      });
      if (revocation) await revocation.announce();
      return identity;
    },
  };
}
