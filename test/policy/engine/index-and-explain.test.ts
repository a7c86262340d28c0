/**
 * The scope index (a request evaluates only the policies whose scope can match, found through
 * its entities and their ancestors) and decision explanations on both engines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fastEngine, referenceEngine } from '../../../src/policy/engine/index.js';
import type { Entity } from '../../../src/policy/engine/index.js';
import { entity, request } from './both.js';

function manyPolicies(n: number): Record<string, string> {
  const policies: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    policies[`w${i}`] =
      `permit(principal == Steward::Workload::"w${i}", action == Action::"invoke", ` +
      `resource in Steward::Tool::"t${i % 50}") when { context.env == "prod" };`;
  }
  return policies;
}

const WORKLOADS: Entity[] = [
  entity('Steward::Workload', 'w4242', {}, [{ type: 'Steward::Team', id: 'ml' }]),
  entity('Steward::Tool', 'search', {}, [{ type: 'Steward::Tool', id: 't42' }]),
];

describe('scope index', () => {
  it('at 10,000 policies, decides right and evaluates only the slice', () => {
    const policies = {
      ...manyPolicies(10_000),
      team: 'permit(principal in Steward::Team::"ml", action, resource) when { context.env == "dev" };',
      deny: 'forbid(principal, action, resource is Steward::Dataset);',
    };
    const set = fastEngine.prepare(policies);
    const entities = fastEngine.prepareEntities(WORKLOADS);
    const req = request({
      principal: { type: 'Steward::Workload', id: 'w4242' },
      action: { type: 'Action', id: 'invoke' },
      resource: { type: 'Steward::Tool', id: 'search' },
      context: { env: 'prod' },
    });
    const d = set.authorize(req, entities);
    assert.deepEqual(d, { decision: 'allow', reasons: ['w4242'], errors: [] });
    // w4242 and the team policy; the forbid on datasets is filed under its type, not found.
    assert.equal(set.stats().candidates, 2);
    assert.equal(set.stats().conditionEvaluations, 2);

    const ref = referenceEngine.prepare(policies);
    assert.deepEqual(ref.authorize(req, referenceEngine.prepareEntities(WORKLOADS)), {
      ...d,
      errors: [],
    });
  });

  it('finds policies through every ancestor of principal, action and resource', () => {
    const set = fastEngine.prepare({
      viaTeam: 'permit(principal in Steward::Team::"ml", action, resource);',
      viaTool: 'permit(principal, action in Action::"all", resource in Steward::Tool::"t42");',
      other: 'permit(principal in Steward::Team::"ops", action, resource);',
    });
    const entities = fastEngine.prepareEntities([
      ...WORKLOADS,
      entity('Action', 'invoke', {}, [{ type: 'Action', id: 'all' }]),
    ]);
    const d = set.authorize(
      request({
        principal: { type: 'Steward::Workload', id: 'w4242' },
        action: { type: 'Action', id: 'invoke' },
        resource: { type: 'Steward::Tool', id: 'search' },
      }),
      entities,
    );
    assert.deepEqual([...d.reasons].sort(), ['viaTeam', 'viaTool']);
    assert.equal(set.stats().candidates, 2);
  });

  it('evaluates a policy filed under two action keys once', () => {
    const set = fastEngine.prepare({
      both: 'permit(principal, action in [Action::"read", Action::"view"], resource);',
    });
    const entities = fastEngine.prepareEntities([
      entity('Action', 'view', {}, [{ type: 'Action', id: 'read' }]),
    ]);
    const d = set.authorize(request(), entities);
    assert.deepEqual(d.reasons, ['both']);
    assert.equal(set.stats().candidates, 1);
  });
});

describe('explanations', () => {
  const policies = {
    scopeOk: 'permit(principal == User::"alice", action, resource) when { context.level > 3 };',
    errors: 'permit(principal, action, resource) when { context.missing };',
    scopeMiss: 'permit(principal == User::"bob", action, resource);',
    holds: 'permit(principal, action == Action::"view", resource) when { context.level > 1 };',
    forbidden: 'forbid(principal, action, resource) when { context.level == 2 };',
  };
  const entities: Entity[] = [entity('User', 'alice')];

  for (const engine of [fastEngine, referenceEngine]) {
    it(`${engine.name}: names permits whose scope matched but whose conditions did not hold`, () => {
      const set = engine.prepare(policies);
      const prepared = engine.prepareEntities(entities);
      assert.ok(set.explain !== undefined);
      const e = set.explain.call(set, request({ context: { level: 2 } }), prepared);
      assert.equal(e.decision, 'deny');
      assert.deepEqual(e.reasons, ['forbidden']);
      assert.deepEqual([...e.scopeMatchedPermits].sort(), ['errors', 'scopeOk']);
      assert.deepEqual(
        e.errors.map((x) => x.policyId),
        ['errors'],
      );
    });
  }
});
