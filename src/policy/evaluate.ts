import type { PreparedSet } from './current-set.js';
import type { AuthorizationRequest, Decision, Entity, EntityUid } from './engine/index.js';
import { key } from './entities.js';
import type { EntitySnapshot } from './entity-snapshot.js';
import { engineExplanation } from './evaluator.js';
import { explain, explanationOf, type Explanation } from './explain.js';
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
 * The explanation comes from the engine's own walk over the slice (the policies its scope index
 * finds for the request), so it costs what the decision costs, not a scan of every policy; only
 * an engine that cannot explain falls back to {@link explain}.
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
  const explained = engineRefusals(() => engineExplanation(set.prepared, request, entities));
  if (explained) {
    return {
      decision: explained,
      explanation: explanationOf(explained, explained.scopeMatchedPermits),
    };
  }
  const decision = decideRequest(set, snap, request, described);
  return {
    decision,
    explanation: explain(decision, set.draft.policies, request, ancestorsOf(snap, described)),
  };
}

/**
 * The decision alone, for callers that need no explanation (simulation replays thousands).
 *
 * @throws StewardError `policy_request_invalid` as {@link evaluateRequest}.
 */
export function decideRequest(
  set: PreparedSet,
  snap: EntitySnapshot,
  request: AuthorizationRequest,
  described: readonly Entity[],
): Decision {
  const entities = snap.preparedWith(described);
  return engineRefusals(() => set.prepared.authorize(request, entities));
}

/** Runs the engine; its refusal of the request itself is a 400, never a decision. */
function engineRefusals<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw badRequest(
      '/body',
      error instanceof Error
        ? error.message.replace(/^cedar: /, '')
        : 'the engine refused the request',
    );
  }
}

/**
 * Each entity's ancestors, by a walk that visits every entity at most once: described entities
 * by their parents, the rest from the snapshot (already transitive).
 */
function ancestorsOf(
  snap: EntitySnapshot,
  described: readonly Entity[],
): (entity: EntityUid) => readonly EntityUid[] {
  const byKey = new Map(described.map((e) => [key(e.uid), e]));
  return (entity) => {
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
}
