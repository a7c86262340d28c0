import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { AuthorizationRequest, Decision, EntityUid } from './engine/index.js';
import type { CompiledPolicy } from './compile.js';
import { key } from './entities.js';
import type { ExplanationKind } from './vocabulary.js';

/** Why a decision came out as it did. */
export interface Explanation {
  /** `allowed`: a permit held and no forbid; `forbidden`: a forbid held; `not_permitted`: no permit held. */
  readonly kind: ExplanationKind;
  /** The forbids that held, when `forbidden`. */
  readonly forbiddenBy?: string[];
  /**
   * Permits whose scope (principal, action, resource) matched the request but whose conditions
   * did not hold or raised an error: where to look when a request was expected to pass.
   */
  readonly scopeMatchedPermits: string[];
}

/**
 * The explanation of `decision` given its scope-matched permits (an engine's own, found through
 * its scope index): the kind and the forbids follow from the decision's determining policies, so
 * this costs nothing per policy in the set.
 */
export function explanationOf(
  decision: Decision,
  scopeMatchedPermits: readonly string[],
): Explanation {
  const matched = [...scopeMatchedPermits];
  if (decision.decision === 'allow') return { kind: 'allowed', scopeMatchedPermits: matched };
  // A deny's determining policies are the forbids that held; none when nothing permitted.
  return decision.reasons.length > 0
    ? { kind: 'forbidden', forbiddenBy: [...decision.reasons], scopeMatchedPermits: matched }
    : { kind: 'not_permitted', scopeMatchedPermits: matched };
}

/**
 * The explanation of `decision`, with the scope-matched permits computed by {@link scopeMatches}
 * over every policy of the set: for an engine that cannot explain its decisions itself, and for
 * policy tests. Linear in the set's size: the decision point uses {@link explanationOf}.
 */
export function explain(
  decision: Decision,
  policies: readonly CompiledPolicy[],
  request: AuthorizationRequest,
  ancestors: (entity: EntityUid) => readonly EntityUid[],
): Explanation {
  const satisfied = new Set(decision.reasons);
  // Every policy asks about the same few entities: each one's ancestors are worked out once.
  const known = new Map<string, readonly EntityUid[]>();
  const uncached = ancestors;
  ancestors = (entity) => {
    let found = known.get(key(entity));
    if (found === undefined) {
      found = uncached(entity);
      known.set(key(entity), found);
    }
    return found;
  };
  const scopeMatchedPermits = policies
    .filter(
      (p) =>
        p.effect === 'permit' && !satisfied.has(p.id) && scopeMatches(p.json, request, ancestors),
    )
    .map((p) => p.id);
  if (decision.decision === 'allow') return { kind: 'allowed', scopeMatchedPermits };
  const forbids = policies
    .filter((p) => p.effect === 'forbid' && satisfied.has(p.id))
    .map((p) => p.id);
  return forbids.length > 0
    ? { kind: 'forbidden', forbiddenBy: forbids, scopeMatchedPermits }
    : { kind: 'not_permitted', scopeMatchedPermits };
}

/**
 * True when the policy's scope admits the request: Cedar's rules for `==`, `in` (the entity or
 * any ancestor), `is` (entity type, with an optional `in`) and `in [..]` for actions.
 */
export function scopeMatches(
  policy: cedar.PolicyJson,
  request: AuthorizationRequest,
  ancestors: (entity: EntityUid) => readonly EntityUid[],
): boolean {
  return (
    entityMatches(policy.principal, request.principal, ancestors) &&
    actionMatches(policy.action, request.action, ancestors) &&
    entityMatches(policy.resource, request.resource, ancestors)
  );
}

function uidOf(json: cedar.EntityUidJson): EntityUid {
  return '__entity' in json ? json.__entity : json;
}

function same(a: EntityUid, b: EntityUid): boolean {
  return a.type === b.type && a.id === b.id;
}

function isIn(
  entity: EntityUid,
  target: EntityUid,
  ancestors: (e: EntityUid) => readonly EntityUid[],
): boolean {
  if (same(entity, target)) return true;
  const wanted = key(target);
  return ancestors(entity).some((a) => key(a) === wanted);
}

function entityMatches(
  constraint: cedar.PrincipalConstraint | cedar.ResourceConstraint,
  entity: EntityUid,
  ancestors: (e: EntityUid) => readonly EntityUid[],
): boolean {
  switch (constraint.op) {
    case 'All':
      return true;
    case '==':
      return 'entity' in constraint && same(uidOf(constraint.entity), entity);
    case 'in':
      return 'entity' in constraint && isIn(entity, uidOf(constraint.entity), ancestors);
    case 'is':
      return (
        entity.type === constraint.entity_type &&
        (constraint.in === undefined ||
          ('entity' in constraint.in && isIn(entity, uidOf(constraint.in.entity), ancestors)))
      );
  }
}

function actionMatches(
  constraint: cedar.ActionConstraint,
  action: EntityUid,
  ancestors: (e: EntityUid) => readonly EntityUid[],
): boolean {
  switch (constraint.op) {
    case 'All':
      return true;
    case '==':
      return 'entity' in constraint && same(uidOf(constraint.entity), action);
    case 'in':
      return 'entity' in constraint
        ? isIn(action, uidOf(constraint.entity), ancestors)
        : constraint.entities.some((e) => isIn(action, uidOf(e), ancestors));
  }
}
