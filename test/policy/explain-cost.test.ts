/**
 * A decision's explanation (`scopeMatchedPermits`, the kind and the forbids) comes from the
 * engine's walk over the slice its scope index finds, not from a scan of every permit: the same
 * answers as the scan where both mean the same, at a cost that does not grow with the set.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareSet, type PreparedSet } from '../../src/policy/current-set.js';
import type { EntitySnapshot } from '../../src/policy/entity-snapshot.js';
import { evaluateRequest } from '../../src/policy/evaluate.js';
import {
  actionUid,
  ancestry,
  compilePolicies,
  decisionEngine,
  entityKey,
  explain,
  uid,
  type Entity,
} from '../../src/policy/index.js';
import { cpuMs } from './cost.js';

/** Per tenant: a permit on its upstream's tools in the sandbox, a forbid of a tool, a listing. */
function policies(tenants: number): string {
  const out: string[] = [];
  for (let t = 0; t < tenants; t++) {
    out.push(
      `@id("t${t}-sandbox") permit(principal in Steward::Team::"team-${t}", action == Steward::Action::"invoke_tool", resource in Steward::Upstream::"up-${t}") when { context.environment == "sandbox" };`,
      `@id("t${t}-task") permit(principal in Steward::Service::"svc-${t}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"up-${t}/refund") when { context has task };`,
      `@id("t${t}-no-export") forbid(principal, action == Steward::Action::"invoke_tool", resource == Steward::Tool::"up-${t}/export");`,
      `@id("t${t}-list") permit(principal in Steward::Team::"team-${t}", action == Steward::Action::"list_tools", resource == Steward::Upstream::"up-${t}");`,
    );
  }
  return out.join('\n');
}

const ENTITIES: Entity[] = [
  { uid: uid('Team', 'team-0'), attrs: { name: 'team-0' }, parents: [] },
  {
    uid: uid('Service', 'svc-0'),
    attrs: { name: 'svc-0', team: 'team-0', dataClassification: 'internal' },
    parents: [uid('Team', 'team-0')],
  },
  {
    uid: uid('Workload', 'w0'),
    attrs: {
      spiffeId: 'spiffe://steward.local/w0',
      service: 'svc-0',
      environment: 'production',
      agentPath: 'a',
      team: 'team-0',
      status: 'active',
    },
    parents: [uid('Service', 'svc-0')],
  },
];

function tool(name: string): Entity {
  return {
    uid: uid('Tool', `up-0/${name}`),
    attrs: { name, upstream: 'up-0', sensitive: false },
    parents: [uid('Upstream', 'up-0')],
  };
}

function snapshot(): EntitySnapshot {
  const prepared = decisionEngine.prepareEntities(ENTITIES);
  return {
    fingerprint: 'test',
    known: new Set(ENTITIES.map((e) => entityKey(e.uid))),
    byKey: new Map(ENTITIES.map((e) => [entityKey(e.uid), e])),
    ancestors: ancestry(ENTITIES),
    preparedWith: (described) =>
      described.length === 0
        ? prepared
        : decisionEngine.prepareEntities([...ENTITIES, ...described]),
  };
}

function call(
  set: PreparedSet,
  snap: EntitySnapshot,
  name: string,
  environment: string,
  task?: string,
) {
  const context = {
    environment,
    time: { __extn: { fn: 'datetime', arg: '2026-03-10T14:30:00.000Z' } },
    ...(task === undefined ? {} : { task }),
  };
  const request = {
    principal: uid('Workload', 'w0'),
    action: actionUid('invoke_tool'),
    resource: uid('Tool', `up-0/${name}`),
    context,
  };
  const described = [tool(name)];
  return { request, described, evaluated: evaluateRequest(set, snap, request, described) };
}

describe('explanations from the scope index', () => {
  const snap = snapshot();
  const small = prepareSet(1, compilePolicies(policies(5)));
  const large = prepareSet(2, compilePolicies(policies(300)));

  it('match the scan where both mean the same, and name only unmet permits when forbidden', () => {
    for (const set of [small, large]) {
      const allowed = call(set, snap, 'refund', 'sandbox');
      assert.deepEqual(allowed.evaluated.explanation, {
        kind: 'allowed',
        scopeMatchedPermits: ['t0-task'],
      });
      const notPermitted = call(set, snap, 'search', 'production');
      assert.deepEqual(notPermitted.evaluated.explanation, {
        kind: 'not_permitted',
        scopeMatchedPermits: ['t0-sandbox'],
      });
      for (const { request, described, evaluated } of [allowed, notPermitted]) {
        const byScan = explain(evaluated.decision, set.draft.policies, request, (e) =>
          described.some((d) => entityKey(d.uid) === entityKey(e))
            ? [uid('Upstream', 'up-0'), uid('Team', 'team-0')]
            : (snap.ancestors.get(entityKey(e)) ?? []),
        );
        assert.deepEqual(evaluated.explanation, byScan);
      }
      // Forbidden: the permit that held is a determining policy's rival, not a near miss.
      const forbidden = call(set, snap, 'export', 'sandbox', 'task-1');
      assert.deepEqual(forbidden.evaluated.explanation, {
        kind: 'forbidden',
        forbiddenBy: ['t0-no-export'],
        scopeMatchedPermits: [],
      });
    }
  });

  it('cost the same at 1,200 policies as at 20 (CPU time, same test)', async () => {
    const calls = 2_000;
    const run = (set: PreparedSet) => () => {
      for (let i = 0; i < calls; i++)
        call(set, snap, i % 2 === 0 ? 'refund' : 'search', 'production');
    };
    run(small)();
    run(large)();
    let smallMs = Number.POSITIVE_INFINITY;
    let largeMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      smallMs = Math.min(smallMs, await cpuMs(run(small)));
      largeMs = Math.min(largeMs, await cpuMs(run(large)));
    }
    // A scan of 900 permits per call costs tens of times more; the slice costs the same.
    assert.ok(
      largeMs <= Math.max(smallMs, 1) * 3,
      `${calls} explained decisions: ${largeMs.toFixed(1)} ms of CPU at 1,200 policies, ${smallMs.toFixed(1)} ms at 20`,
    );
  });
});
