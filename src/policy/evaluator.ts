import {
  fastEngine,
  type AuthorizationRequest,
  type Decision,
  type PolicyEngine,
  type PreparedEntities,
  type PreparedPolicySet,
} from './engine/index.js';

/**
 * The one engine Steward decides with: the fast evaluator, which gives the official engine's
 * decisions (tested on Cedar's own corpus and differentially) and falls back to it, policy by
 * policy, for what it does not compile.
 */
export const decisionEngine: PolicyEngine = fastEngine;

/** A decision with the permits whose scope matched but whose conditions did not hold. */
export type ExplainedDecision = Decision & { readonly scopeMatchedPermits: readonly string[] };

/** A prepared set that can explain its own decisions (the fast evaluator may offer this). */
interface Explaining {
  explain(request: AuthorizationRequest, entities: PreparedEntities): ExplainedDecision;
}

/** The engine's own explanation when it has one; otherwise undefined, and Steward works it out. */
export function engineExplanation(
  prepared: PreparedPolicySet,
  request: AuthorizationRequest,
  entities: PreparedEntities,
): ExplainedDecision | undefined {
  const candidate = prepared as PreparedPolicySet & Partial<Explaining>;
  return typeof candidate.explain === 'function' ? candidate.explain(request, entities) : undefined;
}
