/**
 * The contract every Cedar engine in Steward meets: the official engine (the reference for what
 * Cedar means) and Steward's fast evaluator. Values use Cedar's JSON format, the same one
 * `@cedar-policy/cedar-wasm` takes, so requests and entities pass to either unchanged.
 */

/** An entity reference: `Steward::Workload::"<id>"` is `{ type: 'Steward::Workload', id: '<id>' }`. */
export interface EntityUid {
  readonly type: string;
  readonly id: string;
}

/**
 * A value in Cedar's JSON format: booleans, integers (i64; JSON numbers here), strings, sets
 * (arrays), records (objects), entity references (`{ "__entity": {type, id} }`) and extension
 * values (`{ "__extn": { "fn": "ip", "arg": "10.0.0.1" } }`).
 */
export type CedarJson =
  | boolean
  | number
  | string
  | readonly CedarJson[]
  | { readonly __entity: EntityUid }
  | {
      readonly __extn: {
        readonly fn: string;
        readonly arg?: CedarJson;
        readonly args?: readonly CedarJson[];
      };
    }
  | { readonly [key: string]: CedarJson };

export interface Entity {
  readonly uid: EntityUid;
  readonly attrs: Readonly<Record<string, CedarJson>>;
  readonly parents: readonly EntityUid[];
  readonly tags?: Readonly<Record<string, CedarJson>>;
}

export interface AuthorizationRequest {
  readonly principal: EntityUid;
  readonly action: EntityUid;
  readonly resource: EntityUid;
  readonly context: Readonly<Record<string, CedarJson>>;
}

/** A policy whose evaluation raised an error: it was skipped, and the decision says so. */
export interface PolicyEvaluationError {
  readonly policyId: string;
  readonly message: string;
}

/**
 * Cedar's answer. `reasons` are the determining policies: the satisfied forbids when denied by
 * a forbid, the satisfied permits when allowed, none when nothing permitted. Deny by default.
 */
export interface Decision {
  readonly decision: 'allow' | 'deny';
  readonly reasons: readonly string[];
  readonly errors: readonly PolicyEvaluationError[];
}

/**
 * A decision with what an engineer needs to see why: the permits whose scope (principal, action,
 * resource) matched the request but whose conditions did not hold, either false or errored.
 */
export interface DecisionExplanation extends Decision {
  readonly scopeMatchedPermits: readonly string[];
}

/** Policies by id, each the Cedar text of one static policy. */
export type PolicySource = Readonly<Record<string, string>>;

export interface PreparedPolicySet {
  readonly policyIds: readonly string[];
  authorize(request: AuthorizationRequest, entities: PreparedEntities): Decision;
  /** The decision plus the permits whose scope matched but whose conditions did not hold. */
  explain?(request: AuthorizationRequest, entities: PreparedEntities): DecisionExplanation;
  /** Frees what the engine holds for this set (the official engine keeps it in Wasm memory). */
  release(): void;
}

/** Entities in whatever form an engine evaluates fastest; made once per entity snapshot. */
export interface PreparedEntities {
  readonly engine: string;
}

export interface PolicyEngine {
  readonly name: string;
  /** @throws PolicyParseError when a policy does not parse. */
  prepare(policies: PolicySource): PreparedPolicySet;
  prepareEntities(entities: readonly Entity[]): PreparedEntities;
}

/** A policy that does not parse, with the engine's message; positions are in `message`. */
export class PolicyParseError extends Error {
  constructor(
    readonly policyId: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'PolicyParseError';
  }
}
