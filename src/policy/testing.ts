import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compilePolicies } from './compile.js';
import { policySource } from './compile.js';
import type { AuthorizationRequest, CedarJson, Entity, EntityUid } from './engine/index.js';
import { ancestry, key } from './entities.js';
import { decisionEngine } from './evaluator.js';
import { explain, type Explanation } from './explain.js';
import { contextValue } from './request.js';
import { actionUid, qualified, SCHEMA_TEXT } from './schema.js';

/** An entity as a test file gives it: types may omit the `Steward::` namespace. */
export interface TestEntity {
  readonly type: string;
  readonly id: string;
  readonly attrs?: Readonly<Record<string, unknown>>;
  readonly parents?: readonly { readonly type: string; readonly id: string }[];
}

/** One expected decision: a policy unit test. */
export interface PolicyTestCase {
  readonly name: string;
  readonly principal: { readonly type?: string; readonly id: string };
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
  /** The whole context; `time` may be an ISO string and `clientAddress` a plain address. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly expect: 'allow' | 'deny';
}

/** A test file: the cases alone, or the cases with the entities they need. */
export type PolicyTestFile =
  | readonly PolicyTestCase[]
  | { readonly entities?: readonly TestEntity[]; readonly tests: readonly PolicyTestCase[] };

export interface PolicyTestResult {
  readonly name: string;
  readonly passed: boolean;
  readonly expected: 'allow' | 'deny';
  /** The decision, or `error` when the request does not fit the schema. */
  readonly actual: 'allow' | 'deny' | 'error';
  readonly policies: readonly string[];
  readonly explanation?: Explanation;
  readonly error?: string;
}

function toEntity(entity: TestEntity): Entity {
  return {
    uid: { type: qualified(entity.type), id: entity.id },
    attrs: Object.fromEntries(
      Object.entries(entity.attrs ?? {}).map(([name, value]) => [name, contextValue(name, value)]),
    ),
    parents: (entity.parents ?? []).map((p) => ({ type: qualified(p.type), id: p.id })),
  };
}

/**
 * Runs policy unit tests against `policies` with the engine the server uses, locally: no
 * server, no registry; the file brings the entities it needs.
 *
 * @throws StewardError `policy_invalid` when the policies do not validate.
 */
export function runPolicyTests(policies: string, file: PolicyTestFile): PolicyTestResult[] {
  const draft = compilePolicies(policies, { pointer: '/policies' });
  const cases = Array.isArray(file)
    ? (file as readonly PolicyTestCase[])
    : (file as { tests: readonly PolicyTestCase[] }).tests;
  const entities = (
    Array.isArray(file) ? [] : ((file as { entities?: readonly TestEntity[] }).entities ?? [])
  ).map(toEntity);
  const entityCheck = cedar.checkParseEntities({
    entities: entities as cedar.EntityJson[],
    schema: SCHEMA_TEXT,
  });
  const prepared = decisionEngine.prepare(policySource(draft));
  const preparedEntities = decisionEngine.prepareEntities(entities);
  const ancestors = ancestry(entities);
  try {
    return cases.map((test): PolicyTestResult => {
      const base = { name: test.name, expected: test.expect };
      const fail = (error: string): PolicyTestResult => ({
        ...base,
        passed: false,
        actual: 'error',
        policies: [],
        error,
      });
      if (entityCheck.type === 'failure')
        return fail(entityCheck.errors.map((e) => e.message).join('; '));
      const action = actionUid(test.action);
      const context: Record<string, CedarJson> = {};
      for (const [name, value] of Object.entries(test.context ?? {}))
        context[name] = contextValue(name, value);
      const checked = cedar.checkParseContext({
        context: context as cedar.Context,
        schema: SCHEMA_TEXT,
        action,
      });
      if (checked.type === 'failure') return fail(checked.errors.map((e) => e.message).join('; '));
      const request: AuthorizationRequest = {
        principal: { type: qualified(test.principal.type ?? 'Workload'), id: test.principal.id },
        action,
        resource: { type: qualified(test.resource.type), id: test.resource.id },
        context,
      };
      try {
        const decision = prepared.authorize(request, preparedEntities);
        const explanation = explain(
          decision,
          draft.policies,
          request,
          (e: EntityUid) => ancestors.get(key(e)) ?? [],
        );
        return {
          ...base,
          passed: decision.decision === test.expect,
          actual: decision.decision,
          policies: decision.reasons,
          explanation,
        };
      } catch (error) {
        return fail(error instanceof Error ? error.message : String(error));
      }
    });
  } finally {
    prepared.release();
  }
}
