/**
 * Runs the same request through the official engine and the fast evaluator and asserts they
 * agree on the decision, the determining policies and the erroring policies (messages may differ).
 */
import assert from 'node:assert/strict';
import { fastEngine, referenceEngine } from '../../../src/policy/engine/index.js';
import type {
  AuthorizationRequest,
  Decision,
  Entity,
  PolicySource,
} from '../../../src/policy/engine/index.js';

/** What both engines must agree on. */
export interface Outcome {
  readonly decision: 'allow' | 'deny';
  readonly reasons: readonly string[];
  readonly errored: readonly string[];
}

function outcome(d: Decision): Outcome {
  return {
    decision: d.decision,
    reasons: [...d.reasons].sort(),
    errored: d.errors.map((e) => e.policyId).sort(),
  };
}

/** A request for `User::"alice"` doing `Action::"view"` on `Photo::"p"`, with overrides. */
export function request(over: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return {
    principal: { type: 'User', id: 'alice' },
    action: { type: 'Action', id: 'view' },
    resource: { type: 'Photo', id: 'p' },
    context: {},
    ...over,
  };
}

/** Both engines' outcome, asserted equal; returns it so a test can also check the value. */
export function agree(
  policies: PolicySource,
  req: AuthorizationRequest,
  entities: readonly Entity[] = [],
): Outcome {
  let refOutcome: Outcome | Error;
  try {
    refOutcome = outcome(
      referenceEngine.prepare(policies).authorize(req, referenceEngine.prepareEntities(entities)),
    );
  } catch (e) {
    refOutcome = e as Error;
  }
  const fast = fastEngine.prepare(policies);
  if (refOutcome instanceof Error) {
    assert.throws(() => fast.authorize(req, fastEngine.prepareEntities(entities)));
    return { decision: 'deny', reasons: [], errored: ['<request error>'] };
  }
  const fastOutcome = outcome(fast.authorize(req, fastEngine.prepareEntities(entities)));
  assert.deepEqual(fastOutcome, refOutcome, `policies: ${JSON.stringify(policies)}`);
  return fastOutcome;
}

/** One policy `p0` with the given condition, checked on both engines. */
export function agreeOn(
  condition: string,
  context: AuthorizationRequest['context'] = {},
  entities: readonly Entity[] = [],
): Outcome {
  return agree(
    { p0: `permit(principal, action, resource) when { ${condition} };` },
    request({ context }),
    entities,
  );
}

/** Entity helper. */
export function entity(
  type: string,
  id: string,
  attrs: Entity['attrs'] = {},
  parents: Entity['parents'] = [],
  tags?: Entity['tags'],
): Entity {
  return tags === undefined
    ? { uid: { type, id }, attrs, parents }
    : { uid: { type, id }, attrs, parents, tags };
}
