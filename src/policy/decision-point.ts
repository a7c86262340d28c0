import type { ChangeContext } from '../actors/index.js';
import { auditRow } from '../audit/index.js';
import { notFound, storageUnavailable, StewardError } from '../errors/index.js';
import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import {
  createGroupCommit,
  GroupCommitFullError,
  type AuditEventRow,
  type Store,
} from '../store/index.js';
import { TokenError, type TokenVerifier } from '../tokens/index.js';
import type { CurrentSet, PreparedSet } from './current-set.js';
import type {
  AuthorizationRequest,
  Decision,
  Entity,
  EntityUid,
  PolicyEvaluationError,
} from './engine/index.js';
import { key } from './entities.js';
import type { EntitySnapshot, EntitySnapshots } from './entity-snapshot.js';
import { evaluateRequest } from './evaluate.js';
import type { Explanation } from './explain.js';
import type { DecisionValue } from './vocabulary.js';
import { buildRequest, type RequestInput, type ResolvedPrincipal } from './request.js';
import { qualified } from './schema.js';

/** Who a decision is about: a workload identity by id, or the access token it holds. */
export type PrincipalInput = { readonly identity: string } | { readonly token: string };

export interface AuthorizeInput extends RequestInput {
  readonly principal: PrincipalInput;
}

/** Annotations of the determining policies, by policy id (`{"refunds": {"approval": "security"}}`). */
export type DecisionAnnotations = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** Steward's answer to one authorization request. */
export interface AuthorizeResult {
  /** The decision's id: its audit event's target. */
  readonly id: string;
  readonly decision: DecisionValue;
  /** The determining policies: satisfied forbids when forbidden, satisfied permits when allowed. */
  readonly policies: string[];
  readonly errors: PolicyEvaluationError[];
  readonly explanation: Explanation;
  /** Annotations of the determining policies, by policy id (`{"refunds": {"approval": "security"}}`). */
  readonly annotations: DecisionAnnotations;
  readonly policyVersion: number;
  /** Time spent deciding and explaining, in microseconds. */
  readonly timeMicros: number;
}

/** One gateway call to decide: the workload, what it does, and the entities describing the target. */
export interface GatewayDecisionInput {
  /** The workload identity, from a verified access token. */
  readonly identityId: string;
  /** The task of the token, when it has one. */
  readonly task?: string | undefined;
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
  /** Context attributes besides `environment`, `time` and `task`, which Steward sets. */
  readonly context: Readonly<Record<string, unknown>>;
  /**
   * Entities for what the gateway is called about (the upstream, its tool or operation), built
   * from the upstream record. Those Steward's entity sources already hold are taken from there.
   */
  readonly entities: readonly Entity[];
}

/** The gateway's decision, not yet recorded: the gateway writes `record` itself, durably. */
export interface GatewayDecision {
  readonly decision: DecisionValue;
  readonly policies: string[];
  readonly errors: PolicyEvaluationError[];
  readonly annotations: DecisionAnnotations;
  readonly policyVersion: number;
  readonly principal: ResolvedPrincipal;
  /** What a decision event records (replayable by `simulate`); context not yet redacted. */
  readonly record: DecisionRecord;
}

/** What a decision event records: enough to replay it. */
export interface DecisionRecord {
  readonly principal: EntityUid;
  readonly action: EntityUid;
  readonly resource: EntityUid;
  readonly resourceEntity?: Entity;
  /** Further described entities (the gateway's upstream), for replay. */
  readonly extraEntities?: readonly Entity[];
  readonly context: AuthorizationRequest['context'];
  readonly decision: DecisionValue;
  readonly policies: readonly string[];
  readonly errors: readonly PolicyEvaluationError[];
  readonly explanation: Explanation;
  readonly policyVersion: number;
  readonly via: 'identity' | 'token' | 'gateway';
}

/** Where decisions are made: the admin API's recorded ones, and the gateway's. */
export interface DecisionPoint {
  /** Decides a request about a workload (by id or by its token) and records it durably. */
  authorize(context: ChangeContext, input: AuthorizeInput): Promise<AuthorizeResult>;
  /**
   * Decides a gateway call without recording it: the gateway records the decision with group
   * commit before it forwards (no durable record, no forwarding).
   *
   * @throws StewardError `principal_invalid` when the workload is unknown or not active, and
   *   `policy_request_invalid` when the request does not fit the schema: no decision either way.
   */
  decideGatewayCall(input: GatewayDecisionInput): Promise<GatewayDecision>;
}

/** A decision as both the admin API and the gateway return and record it. */
interface Decided {
  readonly decision: Decision;
  readonly annotations: DecisionAnnotations;
  readonly record: DecisionRecord;
}

/**
 * Decision records per transaction at most: 14 columns a row keep a batch far below PostgreSQL's
 * parameter limit, and one slow batch from holding many callers.
 */
const MAX_RECORD_BATCH = 256;

/**
 * The decision point: requests built from the current policy set and entity snapshot, decided
 * and explained; `authorize` records its decision, the gateway records its own.
 */
export function createDecisionPoint(deps: {
  /** The trail's group-commit path (the store's `appendAuditEvents`). */
  appendAuditEvents: Store['appendAuditEvents'];
  clock: Clock;
  verifier: TokenVerifier;
  currentSet: CurrentSet;
  snapshots: EntitySnapshots;
}): DecisionPoint {
  const { clock, verifier, currentSet, snapshots } = deps;
  // Concurrent decisions share one transaction; each answer still waits for its own commit.
  const records = createGroupCommit<AuditEventRow>({
    maxBatch: MAX_RECORD_BATCH,
    write: deps.appendAuditEvents,
  });

  /** The workload the API asks about, by id or by a token it holds, checked for the caller. */
  function resolvePrincipal(
    context: ChangeContext,
    input: PrincipalInput,
    snap: EntitySnapshot,
  ): { principal: ResolvedPrincipal; via: 'identity' | 'token' } {
    let identityId: string;
    let task: string | undefined;
    let via: 'identity' | 'token';
    if ('token' in input) {
      try {
        const { claims } = verifier.verify(input.token);
        identityId = claims.client_id;
        task = claims.task;
        via = 'token';
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        throw new StewardError(
          'principal_invalid',
          `The principal's token is not valid (${error.code}): ${error.message}`,
          {
            errors: [{ pointer: '/body/principal/token', detail: error.code }],
          },
        );
      }
    } else {
      identityId = input.identity;
      via = 'identity';
    }
    const workload = workloadPrincipal(snap, identityId, task);
    if (!workload) throw notFound('identity', identityId);
    if (workload.status !== 'active') {
      throw new StewardError(
        'principal_invalid',
        `The identity is ${workload.status ?? 'unknown'}: no decision is made for it.`,
        {
          errors: [
            { pointer: '/body/principal', detail: `identity is ${workload.status ?? 'unknown'}` },
          ],
        },
      );
    }
    const actor = context.actor;
    if (actor.role === 'owner' && actor.teamName !== workload.principal.team) {
      throw new StewardError('forbidden', "This key may ask only about its own team's workloads.");
    }
    return { principal: workload.principal, via };
  }

  return {
    async authorize(context, input) {
      const set = await currentSet.get();
      const snap =
        'identity' in input.principal
          ? await snapshots.knowingWorkload(input.principal.identity)
          : await snapshots.current();
      const { principal, via } = resolvePrincipal(context, input.principal, snap);
      const now = clock.now();
      const { request, resourceEntity } = buildRequest(principal, input, now, {
        taskFromToken: via === 'token',
        knows: (entity) => snap.known.has(key(entity)),
      });
      const started = process.hrtime.bigint();
      const { decision, annotations, record } = recordableDecision(
        set,
        snap,
        request,
        via,
        resourceEntity,
      );
      const timeMicros = Number((process.hrtime.bigint() - started) / 1000n);
      const id = newId(now);
      // No durable record, no decision: a failure here fails the request.
      try {
        await records.submit(
          auditRow(clock, context, {
            type: `decision.${decision.decision}`,
            targetKind: 'decision',
            targetId: id,
            team: principal.team,
            service: principal.service,
            identityId: principal.identityId,
            after: record,
          }),
        );
      } catch (error) {
        // The store has not kept up with the decisions waiting for it: 503, retry later.
        if (error instanceof GroupCommitFullError) throw storageUnavailable(error);
        throw error;
      }
      return {
        id,
        decision: decision.decision,
        policies: [...decision.reasons],
        errors: [...decision.errors],
        explanation: record.explanation,
        annotations,
        policyVersion: set.version,
        timeMicros,
      };
    },

    async decideGatewayCall(input) {
      const set = await currentSet.get();
      const snap = await snapshots.knowingWorkload(input.identityId);
      const workload = workloadPrincipal(snap, input.identityId, input.task);
      if (workload?.status !== 'active') {
        throw new StewardError(
          'principal_invalid',
          `The identity is ${workload?.status ?? 'unknown'}: no decision is made for it.`,
        );
      }
      const { principal } = workload;
      const resourceUid = { type: qualified(input.resource.type), id: input.resource.id };
      // Describe only what the sources do not hold; a known entity is never overridden.
      const unknown = input.entities.filter((e) => !snap.known.has(key(e.uid)));
      const resourceEntity = unknown.find((e) => key(e.uid) === key(resourceUid));
      const others = unknown.filter((e) => e !== resourceEntity);
      const now = clock.now();
      const { request } = buildRequest(
        principal,
        {
          action: input.action,
          resource: {
            type: input.resource.type,
            id: input.resource.id,
            ...(resourceEntity
              ? { attrs: resourceEntity.attrs, parents: resourceEntity.parents }
              : {}),
          },
          context: input.context,
        },
        now,
        // The gateway's own requests: see `schemaChecks` (its caller refuses on any error).
        { taskFromToken: true, knows: (e) => snap.known.has(key(e)), schemaChecks: false },
      );
      const { decision, annotations, record } = recordableDecision(
        set,
        snap,
        request,
        'gateway',
        resourceEntity,
        others,
      );
      return {
        decision: decision.decision,
        policies: [...decision.reasons],
        errors: [...decision.errors],
        annotations,
        policyVersion: set.version,
        principal,
        record,
      };
    },
  };
}

/**
 * Workload `identityId` of the snapshot as a principal, with its status (only an active one may
 * be decided for); undefined when the snapshot does not hold it.
 */
function workloadPrincipal(
  snap: EntitySnapshot,
  identityId: string,
  task: string | undefined,
): { readonly status: string | undefined; readonly principal: ResolvedPrincipal } | undefined {
  const entity = snap.byKey.get(key({ type: qualified('Workload'), id: identityId }));
  if (!entity) return undefined;
  const attrs = entity.attrs as Readonly<Record<string, string>>;
  return {
    status: attrs['status'],
    principal: {
      identityId,
      environment: attrs['environment'] ?? '',
      service: attrs['service'] ?? '',
      team: attrs['team'] ?? '',
      ...(task === undefined ? {} : { task }),
    },
  };
}

/**
 * Decides `request` and builds what both callers return and record: the determining policies'
 * annotations, and the decision record that `simulate` can replay. `resourceEntity` and `others`
 * are the described entities (the resource, and the gateway's upstream entities).
 */
function recordableDecision(
  set: PreparedSet,
  snap: EntitySnapshot,
  request: AuthorizationRequest,
  via: DecisionRecord['via'],
  resourceEntity: Entity | undefined,
  others: readonly Entity[] = [],
): Decided {
  const described = resourceEntity ? [resourceEntity, ...others] : others;
  const { decision, explanation } = evaluateRequest(set, snap, request, described);
  const annotations: Record<string, Readonly<Record<string, string>>> = {};
  for (const id of decision.reasons) {
    // `@id` names the policy, which `policies` already does; the rest are for the caller.
    const { id: _id, ...rest } = set.byId.get(id)?.annotations ?? {};
    if (Object.keys(rest).length > 0) annotations[id] = rest;
  }
  return {
    decision,
    annotations,
    record: {
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      ...(resourceEntity ? { resourceEntity } : {}),
      ...(others.length > 0 ? { extraEntities: others } : {}),
      context: request.context,
      decision: decision.decision,
      policies: decision.reasons,
      errors: decision.errors,
      explanation,
      policyVersion: set.version,
      via,
    },
  };
}
