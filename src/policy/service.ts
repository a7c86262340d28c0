import type { Kysely } from 'kysely';
import type { ChangeContext } from '../access/index.js';
import { recordChange } from '../audit/index.js';
import { notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, encodeCursor, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import type { Database, Store } from '../store/index.js';
import type { PolicyVersionTable } from '../store/schema.js';
import { TokenError, type TokenVerifier } from '../tokens/index.js';
import {
  compilePolicies,
  policySource,
  type CompiledPolicy,
  type PolicySetDraft,
  type PolicyWarning,
} from './compile.js';
import { diffLines } from './diff.js';
import type {
  AuthorizationRequest,
  Decision,
  Entity,
  EntityUid,
  PolicyEvaluationError,
  PreparedEntities,
  PreparedPolicySet,
} from './engine/index.js';
import { ancestry, key, registrySource, type EntitySource } from './entities.js';
import { decisionEngine, engineExplanation } from './evaluator.js';
import { explain, type Explanation } from './explain.js';
import { breadthFindings, type PolicyFinding } from './findings.js';
import { unknownEntityWarnings, type KnownUpstream } from './references.js';
import { buildRequest, badRequest, type RequestInput, type ResolvedPrincipal } from './request.js';
import { qualified } from './schema.js';

/** The notification channel on which policy changes are announced to other replicas. */
export const POLICIES_CHANNEL = 'steward_policies';
/** Registry changes, for the other replicas' entity snapshots. */
const REGISTRY_CHANNEL = 'steward_registry';
/**
 * The longest an entity snapshot is used without re-reading its fingerprint: the safety net
 * under the registry notifications, as the revocation and policy polls are under theirs.
 */
const ENTITY_RECHECK_MS = 1_000;

const knowsWorkload = (snap: { byKey: ReadonlyMap<string, unknown> }, id: string): boolean =>
  snap.byKey.has(key({ type: qualified('Workload'), id }));

/** One stored version's metadata. Version 0 is the empty set Steward starts with (deny all). */
export interface PolicyVersion {
  readonly version: number;
  readonly author: string;
  readonly message: string;
  readonly createdAt: string | null;
  readonly policyCount: number;
  readonly rolledBackFrom: number | null;
}

/** One policy of a set, as listed. */
export interface PolicySummary {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  readonly line: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly text: string;
}

/** A version with its text. For an owner, `filtered` is true and only its team's policies are there. */
export interface PolicySetView extends PolicyVersion {
  readonly text: string;
  readonly policies: PolicySummary[];
  readonly filtered: boolean;
}

export interface PolicyVersionDetail extends PolicySetView {
  /** The version this one is compared with (the one before it), null for the first. */
  readonly previous: number | null;
  /** A line diff against `previous`: every line marked ` `, `-` or `+`. */
  readonly diff: string;
}

/** A new version to store. */
export interface PolicyWriteInput {
  readonly policies: string;
  readonly message: string;
  /**
   * The version the writer read and changed (HTTP `If-Match`): the write is refused if another
   * version was stored since, so that nobody replaces policies they have not seen.
   */
  readonly ifVersion?: readonly number[] | undefined;
}

export interface PolicyWriteResult extends PolicyVersion {
  readonly warnings: PolicyWarning[];
}

export interface ValidationResult {
  readonly valid: true;
  readonly policies: PolicySummary[];
  readonly warnings: PolicyWarning[];
  readonly findings: PolicyFinding[];
}

/** Who a decision is about: a workload identity by id, or the access token it holds. */
export type PrincipalInput = { readonly identity: string } | { readonly token: string };

export interface AuthorizeInput extends RequestInput {
  readonly principal: PrincipalInput;
}

/** Steward's answer to one authorization request. */
export interface AuthorizeResult {
  /** The decision's id: its audit event's target. */
  readonly id: string;
  readonly decision: 'allow' | 'deny';
  /** The determining policies: satisfied forbids when forbidden, satisfied permits when allowed. */
  readonly policies: string[];
  readonly errors: PolicyEvaluationError[];
  readonly explanation: Explanation;
  /** Annotations of the determining policies, by policy id (`{"refunds": {"approval": "security"}}`). */
  readonly annotations: Readonly<Record<string, Readonly<Record<string, string>>>>;
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
  readonly decision: 'allow' | 'deny';
  readonly policies: string[];
  readonly errors: PolicyEvaluationError[];
  readonly annotations: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly policyVersion: number;
  readonly principal: ResolvedPrincipal;
  /** What a decision event records (replayable by `simulate`); context not yet redacted. */
  readonly record: DecisionRecord;
}

export interface SimulationInput {
  readonly policies: string;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly limit?: number | undefined;
}

/** A recorded decision that would come out differently under the draft. */
export interface SimulatedChange {
  readonly event: string;
  readonly occurredAt: string;
  readonly principal: EntityUid;
  readonly action: string;
  readonly resource: EntityUid;
  readonly before: {
    readonly decision: string;
    readonly policies: string[];
    readonly policyVersion: number;
  };
  readonly after: {
    readonly decision: string;
    readonly policies: string[];
    readonly errors: PolicyEvaluationError[];
  };
}

export interface SimulationReport {
  readonly evaluated: number;
  readonly changed: number;
  readonly unchanged: number;
  /** Recorded requests that no longer evaluate (say, their resource is gone). */
  readonly skipped: number;
  readonly changes: SimulatedChange[];
  /** True when `changes` was cut at {@link MAX_REPORTED_CHANGES}. */
  readonly truncated: boolean;
  readonly warnings: PolicyWarning[];
}

/** At most this many changes are listed in one simulation report; the counts cover all. */
export const MAX_REPORTED_CHANGES = 500;
/** The most recorded decisions one simulation replays. */
export const MAX_SIMULATION_EVENTS = 10_000;

export interface PolicyService {
  /** The current set (an owner sees its team's policies only). */
  current(context: ChangeContext): Promise<PolicySetView>;
  /**
   * Validates and stores a new version; refuses with positions and stores nothing when invalid.
   * With `ifVersion`, stores only if the current version is still one of those.
   *
   * @throws StewardError `policy_version_mismatch` when `ifVersion` is not the current version.
   */
  put(context: ChangeContext, input: PolicyWriteInput): Promise<PolicyWriteResult>;
  versions(options: { cursor?: string | undefined; limit: number }): Promise<Page<PolicyVersion>>;
  version(context: ChangeContext, version: number): Promise<PolicyVersionDetail>;
  /** Restores the text of `version` as a new version (with `ifVersion` as for `put`). */
  rollback(
    context: ChangeContext,
    input: { version: number; message: string; ifVersion?: readonly number[] | undefined },
  ): Promise<PolicyWriteResult>;
  /** Validates text against the schema without storing it; warns about unknown entities. */
  validate(text: string): Promise<ValidationResult>;
  authorize(context: ChangeContext, input: AuthorizeInput): Promise<AuthorizeResult>;
  /**
   * Decides a gateway call without recording it: the gateway records the decision with group
   * commit before it forwards (no durable record, no forwarding).
   *
   * @throws StewardError `principal_invalid` when the workload is unknown or not active, and
   *   `policy_request_invalid` when the request does not fit the schema: no decision either way.
   */
  decide(input: GatewayDecisionInput): Promise<GatewayDecision>;
  /** Replays recorded decisions against a draft and reports which would change. */
  simulate(input: SimulationInput): Promise<SimulationReport>;
  /** Least-privilege findings on the current set. */
  findings(): Promise<{ version: number; findings: PolicyFinding[] }>;
  /** Re-reads the current version if it changed (on start, on notification, on a timer). */
  reload(): Promise<void>;
  /**
   * The registry (teams, services, workloads) changed in this process: the next decision re-reads
   * the entities, and the other replicas are told.
   */
  registryChanged(): void;
  /** Subscribes to other replicas' changes; returns the unsubscribe function. */
  listen(): () => void;
}

interface Loaded {
  readonly version: number;
  readonly draft: PolicySetDraft;
  readonly prepared: PreparedPolicySet;
  readonly byId: ReadonlyMap<string, CompiledPolicy>;
}

interface Snapshot {
  readonly fingerprint: string;
  readonly entities: Entity[];
  readonly known: ReadonlySet<string>;
  readonly byKey: ReadonlyMap<string, Entity>;
  readonly ancestors: ReadonlyMap<string, readonly EntityUid[]>;
  readonly prepared: PreparedEntities;
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
  readonly decision: 'allow' | 'deny';
  readonly policies: readonly string[];
  readonly errors: readonly PolicyEvaluationError[];
  readonly explanation: Explanation;
  readonly policyVersion: number;
  readonly via: 'identity' | 'token' | 'gateway';
}

const EMPTY_VERSION: PolicyVersion = {
  version: 0,
  author: 'system',
  message: 'No policies yet: every request is denied.',
  createdAt: null,
  policyCount: 0,
  rolledBackFrom: null,
};

function toVersion(row: PolicyVersionTable): PolicyVersion {
  return {
    version: row.version,
    author: row.author,
    message: row.message,
    createdAt: row.created_at,
    policyCount: row.policy_count,
    rolledBackFrom: row.rolled_back_from,
  };
}

function summary(policy: CompiledPolicy): PolicySummary {
  return {
    id: policy.id,
    effect: policy.effect,
    line: policy.line,
    annotations: policy.annotations,
    text: policy.text,
  };
}

/**
 * The policy store and the decision point: versioned Cedar policy sets validated against the
 * schema, decisions with explanations recorded in the trail, simulation and breadth findings.
 */
export function createPolicyService(deps: {
  store: Store;
  clock: Clock;
  verifier: TokenVerifier;
  /** Where entities come from; the registry by default. */
  sources?: EntitySource[];
  /**
   * The upstreams, to warn about policies naming one that does not exist (or a tool it does not
   * declare); without it, upstreams are not checked.
   */
  upstreams?: {
    resolve(name: string): Promise<
      | {
          readonly operations: readonly { readonly name: string }[];
          readonly sensitive: readonly string[];
        }
      | undefined
    >;
  };
}): PolicyService {
  const { store, clock, verifier } = deps;
  const db = store.db;
  const sources = deps.sources ?? [registrySource];
  let loaded: Loaded | undefined;
  let loading: Promise<Loaded> | undefined;
  let snapshot: Snapshot | undefined;
  let entitiesStale = true;
  let entitiesCheckedAt = Number.NEGATIVE_INFINITY;

  function prepare(version: number, draft: PolicySetDraft): Loaded {
    return {
      version,
      draft,
      prepared: decisionEngine.prepare(policySource(draft)),
      byId: new Map(draft.policies.map((p) => [p.id, p])),
    };
  }

  async function latestRow(source: Kysely<Database>): Promise<PolicyVersionTable | undefined> {
    return source
      .selectFrom('policy_versions')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** The compiled current set; read from the store the first time and whenever it moved on. */
  async function load(force: boolean): Promise<Loaded> {
    if (loaded && !force) return loaded;
    loading ??= (async () => {
      try {
        const row = await latestRow(db);
        const version = row?.version ?? 0;
        if (loaded && loaded.version === version) return loaded;
        const next = prepare(
          version,
          row ? compilePolicies(row.text) : { text: '', policies: [], warnings: [] },
        );
        loaded?.prepared.release();
        loaded = next;
        return next;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  /**
   * The entity snapshot. Its fingerprint is re-read only when the registry said it changed (in
   * this process at once, from other replicas by notification) or a second has passed, rather
   * than on every decision; `fresh` forces it (a principal the snapshot does not know yet).
   */
  async function entities(fresh = false): Promise<Snapshot> {
    const now = performance.now();
    if (snapshot && !fresh && !entitiesStale && now - entitiesCheckedAt < ENTITY_RECHECK_MS) {
      return snapshot;
    }
    // Cleared before reading, so that a change signalled meanwhile marks the result stale.
    entitiesStale = false;
    entitiesCheckedAt = now;
    const fingerprint = (await Promise.all(sources.map((s) => s.fingerprint(db)))).join('#');
    if (snapshot && snapshot.fingerprint === fingerprint) return snapshot;
    const list = (await Promise.all(sources.map((s) => s.load(db)))).flat();
    snapshot = {
      fingerprint,
      entities: list,
      known: new Set(list.map((e) => key(e.uid))),
      byKey: new Map(list.map((e) => [key(e.uid), e])),
      ancestors: ancestry(list),
      prepared: decisionEngine.prepareEntities(list),
    };
    return snapshot;
  }

  /**
   * Entities prepared with described ones added. The gateway describes the same few upstream
   * entities on every call, so the prepared forms are kept per snapshot (bounded).
   */
  let extraCache = new Map<string, PreparedEntities>();
  let extraCacheFor: Snapshot | undefined;
  const EXTRA_CACHE_SIZE = 256;
  function withExtras(snap: Snapshot, extras: readonly Entity[]): PreparedEntities {
    if (extras.length === 0) return snap.prepared;
    if (extraCacheFor !== snap) {
      extraCache = new Map();
      extraCacheFor = snap;
    }
    const cacheKey = JSON.stringify(extras);
    let prepared = extraCache.get(cacheKey);
    if (prepared === undefined) {
      prepared = decisionEngine.prepareEntities([...snap.entities, ...extras]);
      if (extraCache.size >= EXTRA_CACHE_SIZE) {
        const oldest = extraCache.keys().next();
        if (!oldest.done) extraCache.delete(oldest.value);
      }
      extraCache.set(cacheKey, prepared);
    }
    return prepared;
  }

  /** Evaluates `request`, with `extra` entities added to the snapshot (described resources). */
  function decide(
    set: Loaded,
    snap: Snapshot,
    request: AuthorizationRequest,
    extra: Entity | readonly Entity[] | undefined,
  ): { decision: Decision; explanation: Explanation } {
    const extras: readonly Entity[] =
      extra === undefined ? [] : Array.isArray(extra) ? extra : [extra as Entity];
    const prepared = withExtras(snap, extras);
    let decision: Decision;
    let scopeMatched: readonly string[] | undefined;
    try {
      const explained = engineExplanation(set.prepared, request, prepared);
      if (explained) {
        decision = explained;
        scopeMatched = explained.scopeMatchedPermits;
      } else {
        decision = set.prepared.authorize(request, prepared);
      }
    } catch (error) {
      // The engine refused the request itself: no decision, which is never an allow.
      throw badRequest(
        '/body',
        error instanceof Error
          ? error.message.replace(/^cedar: /, '')
          : 'the engine refused the request',
      );
    }
    const described = new Map(extras.map((e) => [key(e.uid), e]));
    // Each entity's ancestors once, by a walk that visits every entity at most once: described
    // entities by their parents, the rest from the snapshot (already transitive).
    const ancestors = (entity: EntityUid): readonly EntityUid[] => {
      if (!described.has(key(entity))) return snap.ancestors.get(key(entity)) ?? [];
      const found = new Map<string, EntityUid>();
      const stack = [...(described.get(key(entity))?.parents ?? [])];
      for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
        const k = key(next);
        if (found.has(k)) continue;
        found.set(k, next);
        const own = described.get(k);
        if (own !== undefined) stack.push(...own.parents);
        else for (const a of snap.ancestors.get(k) ?? []) found.set(key(a), a);
      }
      return [...found.values()];
    };
    const explanation = explain(decision, set.draft.policies, request, ancestors);
    return {
      decision,
      explanation: scopeMatched
        ? { ...explanation, scopeMatchedPermits: [...scopeMatched] }
        : explanation,
    };
  }

  async function resolvePrincipal(
    context: ChangeContext,
    input: PrincipalInput,
    snap: Snapshot,
  ): Promise<{ principal: ResolvedPrincipal; via: 'identity' | 'token' }> {
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
    const entity = snap.byKey.get(key({ type: qualified('Workload'), id: identityId }));
    if (!entity) throw notFound('identity', identityId);
    const attrs = entity.attrs as Readonly<Record<string, string>>;
    if (attrs['status'] !== 'active') {
      throw new StewardError(
        'principal_invalid',
        `The identity is ${attrs['status'] ?? 'unknown'}: no decision is made for it.`,
        {
          errors: [
            { pointer: '/body/principal', detail: `identity is ${attrs['status'] ?? 'unknown'}` },
          ],
        },
      );
    }
    const actor = context.actor;
    if (actor.role === 'owner' && actor.teamName !== attrs['team']) {
      throw new StewardError('forbidden', "This key may ask only about its own team's workloads.");
    }
    return {
      principal: {
        identityId,
        environment: attrs['environment'] ?? '',
        service: attrs['service'] ?? '',
        team: attrs['team'] ?? '',
        ...(task === undefined ? {} : { task }),
      },
      via,
    };
  }

  /** The names an owner's team answers for: its team, services and workloads, as entity keys. */
  async function teamEntities(teamName: string): Promise<Set<string>> {
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
    return new Set([
      key({ type: qualified('Team'), id: teamName }),
      ...services.map((s) => key({ type: qualified('Service'), id: s.name })),
      ...identities.map((i) => key({ type: qualified('Workload'), id: i.id })),
    ]);
  }

  /** An owner's view keeps the policies whose principal or resource scope names its team's entities. */
  async function view(
    context: ChangeContext,
    version: PolicyVersion,
    text: string,
  ): Promise<PolicySetView> {
    const draft = text === '' ? { policies: [] as CompiledPolicy[] } : compilePolicies(text);
    const actor = context.actor;
    if (actor.role !== 'owner') {
      return { ...version, text, policies: draft.policies.map(summary), filtered: false };
    }
    const mine = await teamEntities(actor.teamName ?? '');
    const kept = draft.policies.filter((p) => scopeNames(p).some((k) => mine.has(k)));
    return {
      ...version,
      text: kept.map((p) => p.text).join('\n\n'),
      policies: kept.map(summary),
      filtered: true,
    };
  }

  /** Warnings for a draft: the validator's, and entities it names that do not exist. */
  async function warningsFor(draft: PolicySetDraft): Promise<PolicyWarning[]> {
    const snap = await entities(true);
    const upstreams = deps.upstreams;
    const unknown = await unknownEntityWarnings(draft.policies, {
      has: (entity) => snap.known.has(key(entity)),
      upstream: async (name): Promise<KnownUpstream | undefined> => {
        if (upstreams === undefined) return { operations: [] };
        const found = await upstreams.resolve(name);
        return (
          found && { operations: [...found.operations.map((o) => o.name), ...found.sensitive] }
        );
      },
    });
    return [...draft.warnings, ...unknown];
  }

  async function write(
    context: ChangeContext,
    text: string,
    message: string,
    rolledBackFrom: number | null,
    ifVersion: readonly number[] | undefined,
  ): Promise<PolicyWriteResult> {
    const draft = compilePolicies(text);
    const warnings = await warningsFor(draft);
    const result = await store.exclusive('policies', async (trx) => {
      const latest = await latestRow(trx);
      const current = latest?.version ?? 0;
      if (ifVersion !== undefined && !ifVersion.includes(current)) {
        throw new StewardError(
          'policy_version_mismatch',
          `The policy set is at version ${current}, not ${ifVersion.join(' or ')}: it changed since it was read. Nothing was stored; read it again (GET /v1/policies), apply the change to it and send If-Match: "${current}".`,
          {
            errors: [{ pointer: '/headers/if-match', detail: `the current version is ${current}` }],
          },
        );
      }
      const now = clock.now();
      const row: PolicyVersionTable = {
        version: (latest?.version ?? 0) + 1,
        text,
        policy_count: draft.policies.length,
        author: context.actor.ref,
        message,
        rolled_back_from: rolledBackFrom,
        created_at: isoTime(now),
      };
      await trx.insertInto('policy_versions').values(row).execute();
      const version = toVersion(row);
      await recordChange(trx, clock, context, {
        type: rolledBackFrom === null ? 'policy.updated' : 'policy.rolled_back',
        targetKind: 'policy_set',
        targetId: String(row.version),
        before: latest ? { version: latest.version } : { version: 0 },
        after: {
          ...version,
          policies: draft.policies.map((p) => p.id),
          diff: diffLines(latest?.text ?? '', text),
        },
      });
      return version;
    });
    // This replica switches at once; the others on the notification, or at their next poll.
    const next = prepare(result.version, draft);
    if (!loaded || loaded.version < next.version) {
      loaded?.prepared.release();
      loaded = next;
    } else {
      next.prepared.release();
    }
    await store.notifications.publish(POLICIES_CHANNEL, String(result.version)).catch(() => {});
    return { ...result, warnings };
  }

  async function findVersion(version: number): Promise<PolicyVersionTable> {
    const row = await db
      .selectFrom('policy_versions')
      .selectAll()
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) throw notFound('policy version', String(version));
    return row;
  }

  return {
    async current(context) {
      const row = await latestRow(db);
      return view(context, row ? toVersion(row) : EMPTY_VERSION, row?.text ?? '');
    },

    put(context, input) {
      return write(context, input.policies, input.message, null, input.ifVersion);
    },

    async versions({ cursor, limit }) {
      let query = db.selectFrom('policy_versions').selectAll();
      if (cursor !== undefined)
        query = query.where('version', '<', decodeCursor<number>(cursor, 'number'));
      const rows = await query
        .orderBy('version', 'desc')
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map(toVersion);
      const last = items.at(-1);
      return rows.length > limit && last
        ? { items, nextCursor: encodeCursor(last.version) }
        : { items };
    },

    async version(context, version) {
      const row = await findVersion(version);
      const previous = await db
        .selectFrom('policy_versions')
        .selectAll()
        .where('version', '<', version)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const shown = await view(context, toVersion(row), row.text);
      const before = previous ? (await view(context, toVersion(previous), previous.text)).text : '';
      return { ...shown, previous: previous?.version ?? null, diff: diffLines(before, shown.text) };
    },

    async rollback(context, input) {
      const row = await findVersion(input.version);
      return write(context, row.text, input.message, row.version, input.ifVersion);
    },

    async validate(text) {
      const draft = compilePolicies(text);
      return {
        valid: true,
        policies: draft.policies.map(summary),
        warnings: await warningsFor(draft),
        findings: breadthFindings(draft.policies),
      };
    },

    async authorize(context, input) {
      const set = await load(false);
      let snap = await entities();
      if ('identity' in input.principal && !knowsWorkload(snap, input.principal.identity)) {
        snap = await entities(true);
      }
      const { principal, via } = await resolvePrincipal(context, input.principal, snap);
      const now = clock.now();
      const { request, resourceEntity } = buildRequest(principal, input, now, {
        taskFromToken: via === 'token',
        knows: (entity) => snap.known.has(key(entity)),
      });
      const started = process.hrtime.bigint();
      const { decision, explanation } = decide(set, snap, request, resourceEntity);
      const timeMicros = Number((process.hrtime.bigint() - started) / 1000n);
      const annotations: Record<string, Readonly<Record<string, string>>> = {};
      for (const id of decision.reasons) {
        const policy = set.byId.get(id);
        // `@id` names the policy, which `policies` already does; the rest are for the caller.
        const { id: _id, ...rest } = policy?.annotations ?? {};
        if (Object.keys(rest).length > 0) annotations[id] = rest;
      }
      const id = newId(now);
      const record: DecisionRecord = {
        principal: request.principal,
        action: request.action,
        resource: request.resource,
        ...(resourceEntity ? { resourceEntity } : {}),
        context: request.context,
        decision: decision.decision,
        policies: decision.reasons,
        errors: decision.errors,
        explanation,
        policyVersion: set.version,
        via,
      };
      // No durable record, no decision: a failure here fails the request.
      await db.transaction().execute((trx) =>
        recordChange(trx, clock, context, {
          type: `decision.${decision.decision}`,
          targetKind: 'decision',
          targetId: id,
          team: principal.team,
          service: principal.service,
          identityId: principal.identityId,
          after: record,
        }),
      );
      return {
        id,
        decision: decision.decision,
        policies: [...decision.reasons],
        errors: [...decision.errors],
        explanation,
        annotations,
        policyVersion: set.version,
        timeMicros,
      };
    },

    async decide(input) {
      const set = await load(false);
      let snap = await entities();
      if (!knowsWorkload(snap, input.identityId)) snap = await entities(true);
      const entity = snap.byKey.get(key({ type: qualified('Workload'), id: input.identityId }));
      const attrs = entity?.attrs as Readonly<Record<string, string>> | undefined;
      if (!attrs || attrs['status'] !== 'active') {
        throw new StewardError(
          'principal_invalid',
          `The identity is ${attrs?.['status'] ?? 'unknown'}: no decision is made for it.`,
        );
      }
      const principal: ResolvedPrincipal = {
        identityId: input.identityId,
        environment: attrs['environment'] ?? '',
        service: attrs['service'] ?? '',
        team: attrs['team'] ?? '',
        ...(input.task === undefined ? {} : { task: input.task }),
      };
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
      const described = resourceEntity ? [resourceEntity, ...others] : others;
      const { decision, explanation } = decide(set, snap, request, described);
      const annotations: Record<string, Readonly<Record<string, string>>> = {};
      for (const id of decision.reasons) {
        const { id: _id, ...rest } = set.byId.get(id)?.annotations ?? {};
        if (Object.keys(rest).length > 0) annotations[id] = rest;
      }
      return {
        decision: decision.decision,
        policies: [...decision.reasons],
        errors: [...decision.errors],
        annotations,
        policyVersion: set.version,
        principal,
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
          via: 'gateway',
        },
      };
    },

    async simulate(input) {
      const draft = compilePolicies(input.policies);
      const candidate = prepare(-1, draft);
      try {
        const snap = await entities();
        let query = db
          .selectFrom('audit_events')
          .select(['id', 'occurred_at', 'after'])
          .where('target_kind', '=', 'decision');
        if (input.since !== undefined) query = query.where('occurred_at', '>=', input.since);
        if (input.until !== undefined) query = query.where('occurred_at', '<', input.until);
        const rows = await query
          .orderBy('seq', 'desc')
          .limit(Math.min(input.limit ?? 1000, MAX_SIMULATION_EVENTS))
          .execute();
        const changes: SimulatedChange[] = [];
        let changed = 0;
        let skipped = 0;
        for (const row of rows) {
          const record = JSON.parse(row.after ?? '{}') as DecisionRecord;
          const request: AuthorizationRequest = {
            principal: record.principal,
            action: record.action,
            resource: record.resource,
            context: record.context,
          };
          let after: Decision;
          try {
            const described = [
              ...(record.resourceEntity ? [record.resourceEntity] : []),
              ...(record.extraEntities ?? []),
            ];
            after = decide(candidate, snap, request, described).decision;
          } catch {
            skipped++;
            continue;
          }
          if (after.decision === record.decision) continue;
          changed++;
          if (changes.length < MAX_REPORTED_CHANGES) {
            changes.push({
              event: row.id,
              occurredAt: row.occurred_at,
              principal: record.principal,
              action: record.action.id,
              resource: record.resource,
              before: {
                decision: record.decision,
                policies: [...record.policies],
                policyVersion: record.policyVersion,
              },
              after: {
                decision: after.decision,
                policies: [...after.reasons],
                errors: [...after.errors],
              },
            });
          }
        }
        return {
          evaluated: rows.length - skipped,
          changed,
          unchanged: rows.length - skipped - changed,
          skipped,
          changes,
          truncated: changed > changes.length,
          warnings: await warningsFor(draft),
        };
      } finally {
        candidate.prepared.release();
      }
    },

    async findings() {
      const set = await load(false);
      return { version: set.version, findings: breadthFindings(set.draft.policies) };
    },

    reload,

    registryChanged() {
      entitiesStale = true;
      void store.notifications.publish(REGISTRY_CHANNEL, 'changed').catch(() => {});
    },

    listen() {
      const policiesChanged = store.notifications.subscribe(POLICIES_CHANNEL, () => {
        void reload().catch(() => {});
      });
      const registryChanged = store.notifications.subscribe(REGISTRY_CHANNEL, () => {
        entitiesStale = true;
      });
      return () => {
        policiesChanged();
        registryChanged();
      };
    },
  };

  async function reload(): Promise<void> {
    const row = await db
      .selectFrom('policy_versions')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    const latest = row?.version ?? 0;
    if (!loaded || loaded.version !== latest) await load(true);
  }
}

/** The entities a policy's principal and resource scope name (by `==`, `in` or `is … in`). */
function scopeNames(policy: CompiledPolicy): string[] {
  const names: string[] = [];
  for (const constraint of [policy.json.principal, policy.json.resource]) {
    const target =
      constraint.op === '==' || constraint.op === 'in'
        ? 'entity' in constraint
          ? constraint.entity
          : undefined
        : constraint.op === 'is' && constraint.in && 'entity' in constraint.in
          ? constraint.in.entity
          : undefined;
    if (target) names.push(key('__entity' in target ? target.__entity : target));
  }
  return names;
}
