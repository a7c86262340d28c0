import type { PreparedSet } from './current-set.js';
import type { AuthorizationRequest, Decision, Entity, EntityUid } from './engine/index.js';
import { key } from './entities.js';
import type { EntitySnapshot } from './entity-snapshot.js';
import { engineExplanation } from './evaluator.js';
import { explain, type Explanation } from './explain.js';
import { badRequest } from './request.js';

/** The engine's decision on one request and why it came out so. */
export interface EvaluatedRequest {
  readonly decision: Decision;
  readonly explanation: Explanation;
}

/**
 * Evaluates `request` against `set` over the snapshot's entities with `described` ones added (a
 * resource, or the gateway's upstream entities), and explains the decision. Nothing is recorded.
 *
 * @throws StewardError `policy_request_invalid` when the engine refuses the request itself: no
 *   decision, which is never an allow.
 */
export function evaluateRequest(
  set: PreparedSet,
  snap: EntitySnapshot,
  request: AuthorizationRequest,
  described: readonly Entity[],
): EvaluatedRequest {
  const entities = snap.preparedWith(described);
  let decision: Decision;
  let scopeMatched: readonly string[] | undefined;
  try {
    const explained = engineExplanation(set.prepared, request, entities);
    if (explained) {
      decision = explained;
      scopeMatched = explained.scopeMatchedPermits;
    } else {
      decision = set.prepared.authorize(request, entities);
    }
  } catch (error) {
    throw badRequest(
      '/body',
      error instanceof Error
        ? error.message.replace(/^cedar: /, '')
        : 'the engine refused the request',
    );
  }
  const byKey = new Map(described.map((e) => [key(e.uid), e]));
  // Each entity's ancestors once, by a walk that visits every entity at most once: described
  // entities by their parents, the rest from the snapshot (already transitive).
  const ancestors = (entity: EntityUid): readonly EntityUid[] => {
    if (!byKey.has(key(entity))) return snap.ancestors.get(key(entity)) ?? [];
    const found = new Map<string, EntityUid>();
    const stack = [...(byKey.get(key(entity))?.parents ?? [])];
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      const k = key(next);
      if (found.has(k)) continue;
      found.set(k, next);
      const own = byKey.get(k);
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
