/**
 * What the conformance tests compare: the decision, the determining policies and the policies
 * that errored, the last two as sets (Cedar does not order them). Error messages are not
 * compared: they are each engine's own words.
 */
import type {
  AuthorizationRequest,
  Decision,
  PreparedEntities,
  PreparedPolicySet,
} from '../../../src/policy/engine/index.js';

/** An engine's answer to one request, or the error it threw (a request it could not decide). */
export type Outcome =
  | {
      readonly decision: 'allow' | 'deny';
      readonly reasons: readonly string[];
      readonly errors: readonly string[];
    }
  | { readonly threw: string };

export function outcomeOf(decision: Decision): Outcome {
  return {
    decision: decision.decision,
    reasons: [...new Set(decision.reasons)].sort(),
    errors: [...new Set(decision.errors.map((e) => e.policyId))].sort(),
  };
}

export function authorizeOutcome(
  policies: PreparedPolicySet,
  request: AuthorizationRequest,
  entities: PreparedEntities,
): Outcome {
  try {
    return outcomeOf(policies.authorize(request, entities));
  } catch (error) {
    return { threw: error instanceof Error ? error.message : String(error) };
  }
}

/** Whether two outcomes agree: same decision, reasons and erroring policies; or both threw. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if ('threw' in a || 'threw' in b) return 'threw' in a && 'threw' in b;
  return a.decision === b.decision && sameSet(a.reasons, b.reasons) && sameSet(a.errors, b.errors);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

export function describeOutcome(outcome: Outcome): string {
  if ('threw' in outcome) return `threw: ${outcome.threw}`;
  return `${outcome.decision} reasons=[${[...outcome.reasons].sort().join(',')}] errors=[${[...outcome.errors].sort().join(',')}]`;
}

/**
 * Policy-set statistics from an engine that reports them: the fast engine's prepared set may
 * expose `coverage()` (how many policies it compiled and how many it left to the official
 * engine). Any numeric fields are summed; other engines report nothing.
 */
export function coverageOf(prepared: PreparedPolicySet): Readonly<Record<string, number>> {
  const candidate = (prepared as { coverage?: unknown }).coverage;
  if (typeof candidate !== 'function') return {};
  const report: unknown = (candidate as () => unknown).call(prepared);
  const counts: Record<string, number> = {};
  if (typeof report === 'object' && report !== null) {
    for (const [key, value] of Object.entries(report)) {
      if (typeof value === 'number') counts[key] = value;
      else if (Array.isArray(value)) counts[key] = value.length;
    }
  }
  return counts;
}

export function addCounts(into: Record<string, number>, more: Readonly<Record<string, number>>) {
  for (const [key, value] of Object.entries(more)) into[key] = (into[key] ?? 0) + value;
}
