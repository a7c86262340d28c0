/**
 * Steward's fast Cedar evaluator: policies parsed once by the official engine (to its JSON EST),
 * indexed by scope, and their conditions compiled to closures once per policy-set version.
 * Correctness never depends on coverage: a policy with a construct the compiler does not know is
 * evaluated by the official engine alone, and a request whose data this evaluator does not model
 * (nulls, fractions, unknown escapes, cyclic hierarchies, …) is answered by the official engine.
 */
import '../wasm-guard.js';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { referenceEngine } from '../reference.js';
import type {
  AuthorizationRequest,
  Decision,
  DecisionExplanation,
  Entity,
  PolicyEngine,
  PolicyEvaluationError,
  PolicySource,
  PreparedEntities,
  PreparedPolicySet,
} from '../types.js';
import { PolicyParseError } from '../types.js';
import { EvalError, NotCompiled, compileExpr } from './compile.js';
import type { Compiled, EntityData, Env } from './compile.js';
import { ANY_KEY, ScopeIndex, compileScope, entityIndexKey, typeIndexKey } from './scope.js';
import type { ScopeCheck } from './scope.js';
import { recordFromJson } from './data.js';
import { CRecord, EntityRef, UnsupportedData, toEntityRef } from './values.js';
import type { Value } from './values.js';

/** How many policies of a set are compiled, and how many the official engine evaluates. */
export interface EngineCoverage {
  readonly compiled: number;
  readonly fallback: number;
  /** Why each fallback policy was not compiled, by policy id. */
  readonly fallbackReasons: Readonly<Record<string, string>>;
}

/** Cumulative counters of a prepared set, for metrics and for checking that slicing works. */
export interface EngineStats {
  /** Policies whose scope was checked (the slice found through the index). */
  readonly candidates: number;
  /** Compiled conditions evaluated. */
  readonly conditionEvaluations: number;
  /** Policies evaluated by the official engine (fallback policies in a slice). */
  readonly policyFallbacks: number;
  /** Requests answered entirely by the official engine (data outside the modelled subset). */
  readonly requestFallbacks: number;
}

/** The fast engine's prepared set: the contract plus coverage, statistics and explanations. */
export interface FastPreparedPolicySet extends PreparedPolicySet {
  explain(request: AuthorizationRequest, entities: PreparedEntities): DecisionExplanation;
  coverage(): EngineCoverage;
  stats(): EngineStats;
}

interface FastEntities extends PreparedEntities {
  readonly engine: 'fast';
  readonly raw: readonly Entity[];
  /** Undefined when the data is outside the modelled subset: requests then fall back. */
  readonly store: ReadonlyMap<string, StoredEntity> | undefined;
  referenceForm?: PreparedEntities;
}

interface StoredEntity extends EntityData {
  /** Index keys of this entity as a request variable: `*`, its type, itself, its ancestors. */
  readonly lookupKeys: readonly string[];
}

interface PolicyEntry {
  readonly id: string;
  readonly position: number;
  readonly forbid: boolean;
  readonly principal: ScopeCheck;
  readonly action: ScopeCheck;
  readonly resource: ScopeCheck;
  /** The whole condition; undefined when the policy is evaluated by the official engine. */
  readonly condition: Compiled | undefined;
  readonly text: string;
  /** Request counter value of the last visit, so a policy filed under two keys runs once. */
  seen: number;
  reference?: PreparedPolicySet;
}

const TRUE: Compiled = () => true;

function compileClause(c: unknown): Compiled {
  if (typeof c !== 'object' || c === null) throw new NotCompiled('clause');
  const { kind, body } = c as { kind?: unknown; body?: unknown };
  const f = compileExpr(body);
  if (kind === 'when') return f;
  if (kind === 'unless') return (env) => !bool(f(env));
  throw new NotCompiled('clause kind');
}

function compileConditions(clauses: unknown): Compiled {
  if (!Array.isArray(clauses)) throw new NotCompiled('conditions');
  // Clauses join with `&&` in order (Lean `Conditions.toExpr`); `unless` negates its body.
  const parts: Compiled[] = [];
  for (const c of clauses as unknown[]) parts.push(compileClause(c));
  if (parts.length === 0) return TRUE;
  if (parts.length === 1) return parts[0] ?? TRUE;
  return (env) => {
    for (const p of parts) if (!bool(p(env))) return false;
    return true;
  };
}

function bool(v: Value): boolean {
  if (typeof v !== 'boolean') throw new EvalError('type error: expected bool');
  return v;
}

function lookupKeysOf(e: EntityRef, ancestors: Iterable<string>): string[] {
  const keys = [ANY_KEY, typeIndexKey(e.type), entityIndexKey(e)];
  for (const a of ancestors) keys.push(`E${a}`);
  return keys;
}

function buildStore(raw: readonly Entity[]): Map<string, StoredEntity> {
  const parsed = new Map<
    string,
    { uid: EntityRef; attrs: CRecord; tags: CRecord; parents: EntityRef[] }
  >();
  for (const e of raw) {
    const uid = toEntityRef(e.uid);
    if (parsed.has(uid.key)) throw new UnsupportedData('duplicate entity');
    parsed.set(uid.key, {
      uid,
      attrs: recordFromJson(e.attrs),
      tags: recordFromJson(e.tags ?? {}),
      parents: (Array.isArray(e.parents) ? e.parents : []).map((p: unknown) => toEntityRef(p)),
    });
  }
  const store = new Map<string, StoredEntity>();
  for (const [key, e] of parsed) {
    // Transitive closure by a walk over parents; parents absent from the data still count.
    const ancestors = new Set<string>();
    const stack = e.parents.map((p) => p.key);
    while (stack.length > 0) {
      const k = stack.pop() ?? '';
      if (ancestors.has(k)) continue;
      ancestors.add(k);
      for (const p of parsed.get(k)?.parents ?? []) stack.push(p.key);
    }
    // A cycle is the official engine's to judge.
    if (ancestors.has(key)) throw new UnsupportedData('cyclic hierarchy');
    store.set(key, {
      attrs: e.attrs.map,
      tags: e.tags.map,
      ancestors,
      lookupKeys: lookupKeysOf(e.uid, ancestors),
    });
  }
  return store;
}

function referenceEntities(entities: FastEntities): PreparedEntities {
  entities.referenceForm ??= referenceEngine.prepareEntities(entities.raw);
  return entities.referenceForm;
}

function asFast(entities: PreparedEntities): FastEntities {
  if (entities.engine !== 'fast') {
    throw new TypeError(`entities prepared by engine "${entities.engine}", expected "fast"`);
  }
  return entities as FastEntities;
}

function byPosition(a: PolicyEntry, b: PolicyEntry): number {
  return a.position - b.position;
}

class FastPolicySet implements FastPreparedPolicySet {
  readonly policyIds: readonly string[];
  private readonly entries: PolicyEntry[] = [];
  private readonly index = new ScopeIndex<PolicyEntry>();
  private readonly fallbackReasons: Record<string, string> = {};
  private whole: PreparedPolicySet | undefined;
  private visit = 0;
  private candidates = 0;
  private conditionEvaluations = 0;
  private policyFallbacks = 0;
  private requestFallbacks = 0;

  constructor(private readonly source: PolicySource) {
    this.policyIds = Object.keys(source);
    const ids = this.policyIds;
    // A plain indexed loop calling a method: V8 (Node 20) crashed on a lazy deoptimisation of
    // the on-stack-replaced `for…of` over `Object.entries` when this body was inlined.
    for (let position = 0; position < ids.length; position++) {
      const id = ids[position] ?? '';
      this.addPolicy(id, source[id] ?? '', position);
    }
  }

  private addPolicy(id: string, text: string, position: number): void {
    const answer = cedar.policyToJson(text);
    if (answer.type === 'failure') {
      throw new PolicyParseError(id, answer.errors.map((e) => e.message).join('; '));
    }
    const est = answer.json;
    let principal: ScopeCheck;
    let action: ScopeCheck;
    let resource: ScopeCheck;
    try {
      principal = compileScope(est.principal);
      action = compileScope(est.action);
      resource = compileScope(est.resource);
    } catch (e) {
      if (!(e instanceof UnsupportedData)) throw e;
      // Unknown scope: file it everywhere, with a scope that always holds, and let the
      // official engine decide the whole policy.
      const any: ScopeCheck = { keys: [ANY_KEY], test: () => true, any: true };
      [principal, action, resource] = [any, any, any];
      this.fallbackReasons[id] = `scope: ${e.message}`;
    }
    let condition: Compiled | undefined;
    if (this.fallbackReasons[id] === undefined) {
      try {
        condition = compileConditions(est.conditions);
      } catch (e) {
        if (!(e instanceof NotCompiled)) throw e;
        this.fallbackReasons[id] = e.message;
      }
    }
    const entry: PolicyEntry = {
      id,
      position,
      forbid: est.effect === 'forbid',
      principal,
      action,
      resource,
      condition,
      text,
      seen: 0,
    };
    this.entries.push(entry);
    this.index.add(principal.keys, resource.keys, action.keys, entry);
  }

  authorize(request: AuthorizationRequest, entities: PreparedEntities): Decision {
    return this.run(request, entities, undefined);
  }

  explain(request: AuthorizationRequest, entities: PreparedEntities): DecisionExplanation {
    const matched: PolicyEntry[] = [];
    const decision = this.run(request, entities, matched);
    return {
      ...decision,
      scopeMatchedPermits: matched.sort(byPosition).map((p) => p.id),
    };
  }

  coverage(): EngineCoverage {
    const fallback = Object.keys(this.fallbackReasons).length;
    return {
      compiled: this.entries.length - fallback,
      fallback,
      fallbackReasons: { ...this.fallbackReasons },
    };
  }

  stats(): EngineStats {
    return {
      candidates: this.candidates,
      conditionEvaluations: this.conditionEvaluations,
      policyFallbacks: this.policyFallbacks,
      requestFallbacks: this.requestFallbacks,
    };
  }

  release(): void {
    this.whole?.release();
    for (const e of this.entries) e.reference?.release();
  }

  /**
   * Evaluates the slice. `unmet`, when given, collects the permits whose scope matched but
   * whose condition was false or errored.
   */
  private run(
    request: AuthorizationRequest,
    prepared: PreparedEntities,
    unmet: PolicyEntry[] | undefined,
  ): Decision {
    const entities = asFast(prepared);
    const store = entities.store;
    let env: Env;
    try {
      if (store === undefined) throw new UnsupportedData('entities');
      env = {
        principal: toEntityRef(request.principal),
        action: toEntityRef(request.action),
        resource: toEntityRef(request.resource),
        context: recordFromJson(request.context),
        store,
      };
    } catch (e) {
      if (!(e instanceof UnsupportedData)) throw e;
      return this.wholeRequestFallback(request, entities, unmet);
    }

    const visit = ++this.visit;
    const permits: PolicyEntry[] = [];
    const forbids: PolicyEntry[] = [];
    const errors: { entry: PolicyEntry; message: string }[] = [];
    const keys = (e: EntityRef): readonly string[] =>
      store.get(e.key)?.lookupKeys ?? lookupKeysOf(e, []);

    this.index.forEach(keys(env.principal), keys(env.resource), keys(env.action), (p) => {
      if (p.seen === visit) return;
      p.seen = visit;
      this.candidates++;
      if (
        !p.principal.test(env.principal, store) ||
        !p.action.test(env.action, store) ||
        !p.resource.test(env.resource, store)
      ) {
        return;
      }
      const outcome = this.evaluate(p, env, request, entities);
      if (outcome === true) (p.forbid ? forbids : permits).push(p);
      else {
        if (outcome !== false) errors.push({ entry: p, message: outcome });
        if (unmet !== undefined && !p.forbid) unmet.push(p);
      }
    });

    const allow = forbids.length === 0 && permits.length > 0;
    return {
      decision: allow ? 'allow' : 'deny',
      reasons: (allow ? permits : forbids).sort(byPosition).map((p) => p.id),
      errors: errors
        .sort((a, b) => a.entry.position - b.entry.position)
        .map(({ entry, message }): PolicyEvaluationError => ({ policyId: entry.id, message })),
    };
  }

  /** True when satisfied, false when not, or the error message when the condition errored. */
  private evaluate(
    p: PolicyEntry,
    env: Env,
    request: AuthorizationRequest,
    entities: FastEntities,
  ): boolean | string {
    if (p.condition !== undefined) {
      this.conditionEvaluations++;
      try {
        return bool(p.condition(env));
      } catch (e) {
        if (e instanceof EvalError) return e.message;
        // Anything else (a stack overflow on a huge value, say) is not ours to judge.
      }
    }
    this.policyFallbacks++;
    p.reference ??= referenceEngine.prepare({ [p.id]: p.text });
    const answer = p.reference.authorize(request, referenceEntities(entities));
    const error = answer.errors.find((e) => e.policyId === p.id);
    if (error !== undefined) return error.message;
    return answer.reasons.includes(p.id);
  }

  private wholeRequestFallback(
    request: AuthorizationRequest,
    entities: FastEntities,
    unmet: PolicyEntry[] | undefined,
  ): Decision {
    this.requestFallbacks++;
    this.whole ??= referenceEngine.prepare(this.source);
    const ref = referenceEntities(entities);
    if (unmet === undefined || this.whole.explain === undefined) {
      return this.whole.authorize(request, ref);
    }
    const explained = this.whole.explain(request, ref);
    const ids = new Set(explained.scopeMatchedPermits);
    for (const e of this.entries) if (ids.has(e.id)) unmet.push(e);
    return explained;
  }
}

/** The engine contract, with the fast engine's richer prepared set. */
export interface FastEngine extends PolicyEngine {
  prepare(policies: PolicySource): FastPreparedPolicySet;
}

/**
 * The fast evaluator. Same decisions, determining policies and erroring policies as the
 * official engine (`referenceEngine`), at a cost proportional to the policies whose scope can
 * match a request rather than to the size of the set.
 *
 * @example
 * ```ts
 * const set = fastEngine.prepare({ p1: 'permit(principal in Team::"ml", action, resource);' });
 * const entities = fastEngine.prepareEntities(snapshot);
 * const { decision, reasons, errors } = set.authorize(request, entities);
 * ```
 */
export const fastEngine: FastEngine = {
  name: 'fast',

  prepare(policies: PolicySource): FastPreparedPolicySet {
    return new FastPolicySet(policies);
  },

  prepareEntities(entities: readonly Entity[]): PreparedEntities {
    let store: Map<string, StoredEntity> | undefined;
    try {
      store = buildStore(entities);
    } catch (e) {
      if (!(e instanceof UnsupportedData)) throw e;
      store = undefined;
    }
    const prepared: FastEntities = { engine: 'fast', raw: entities, store };
    return prepared;
  },
};
