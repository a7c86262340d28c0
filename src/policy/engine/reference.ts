import './wasm-guard.js';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type {
  AuthorizationRequest,
  Decision,
  Entity,
  PolicyEngine,
  PolicySource,
  PreparedEntities,
  PreparedPolicySet,
} from './types.js';
import { PolicyParseError } from './types.js';
import type { DecisionExplanation } from './types.js';
import type { EntityData } from './fast/compile.js';
import { compileScope } from './fast/scope.js';
import type { ScopeCheck } from './fast/scope.js';
import { EntityRef, entityKey } from './fast/values.js';

interface ReferenceEntities extends PreparedEntities {
  readonly engine: 'reference';
  readonly list: cedar.EntityJson[];
}

let nextSetId = 0;

/**
 * The official Cedar engine (`@cedar-policy/cedar-wasm`), behind Steward's engine contract. It
 * defines what a policy means: the fast evaluator is tested against it, and falls back to it for
 * any construct it does not compile.
 */
export const referenceEngine: PolicyEngine = {
  name: 'reference',

  prepare(policies: PolicySource): PreparedPolicySet {
    const id = `steward-${process.pid}-${nextSetId++}`;
    const staticPolicies: Record<string, string> = { ...policies };
    const parsed = cedar.preparsePolicySet(id, { staticPolicies });
    if (parsed.type === 'failure') {
      throw new PolicyParseError(undefined, parsed.errors.map((e) => e.message).join('; '));
    }
    let permitScopes: PermitScope[] | undefined;
    let permitsOnly: PreparedPolicySet | undefined;
    const set: PreparedPolicySet = {
      policyIds: Object.keys(policies),
      explain(request: AuthorizationRequest, entities: PreparedEntities): DecisionExplanation {
        const decision = set.authorize(request, entities);
        permitScopes ??= permitScopesOf(policies);
        const store = ancestorStore((entities as ReferenceEntities).list);
        const uid = (u: { type: string; id: string }) => new EntityRef(u.type, u.id);
        const [p, a, r] = [uid(request.principal), uid(request.action), uid(request.resource)];
        const matched = permitScopes.filter(
          (s) => s.principal.test(p, store) && s.action.test(a, store) && s.resource.test(r, store),
        );
        // The satisfied permits are the reasons of a set holding only the permits (a forbid
        // would otherwise hide them).
        permitsOnly ??= referenceEngine.prepare(
          Object.fromEntries(permitScopes.map((s) => [s.id, policies[s.id] ?? ''])),
        );
        const satisfied = new Set(permitsOnly.authorize(request, entities).reasons);
        return {
          ...decision,
          scopeMatchedPermits: matched.filter((s) => !satisfied.has(s.id)).map((s) => s.id),
        };
      },
      authorize(request: AuthorizationRequest, entities: PreparedEntities): Decision {
        const answer = cedar.statefulIsAuthorized({
          principal: request.principal,
          action: request.action,
          resource: request.resource,
          context: request.context as cedar.Context,
          preparsedPolicySetId: id,
          entities: (entities as ReferenceEntities).list,
        });
        if (answer.type === 'failure') {
          // The request itself is malformed (bad context, bad entities): no decision, which the
          // caller must treat as a refusal.
          throw new Error(`cedar: ${answer.errors.map((e) => e.message).join('; ')}`);
        }
        return {
          decision: answer.response.decision === 'allow' ? 'allow' : 'deny',
          reasons: answer.response.diagnostics.reason,
          errors: answer.response.diagnostics.errors.map((e) => ({
            policyId: e.policyId,
            message: e.error.message,
          })),
        };
      },
      release() {
        // cedar-wasm 4.x has no call to drop a preparsed set; replacing the id keeps memory bounded
        // by the number of policy-set versions a process loads.
      },
    };
    return set;
  },

  prepareEntities(entities: readonly Entity[]): PreparedEntities {
    return {
      engine: 'reference',
      list: entities as unknown as cedar.EntityJson[],
    } as ReferenceEntities;
  },
};

interface PermitScope {
  readonly id: string;
  readonly principal: ScopeCheck;
  readonly action: ScopeCheck;
  readonly resource: ScopeCheck;
}

/** The scopes of the permits, from the EST the official engine gives for each policy. */
function permitScopesOf(policies: PolicySource): PermitScope[] {
  const out: PermitScope[] = [];
  for (const [id, text] of Object.entries(policies)) {
    const answer = cedar.policyToJson(text);
    if (answer.type === 'failure' || answer.json.effect !== 'permit') continue;
    out.push({
      id,
      principal: compileScope(answer.json.principal),
      action: compileScope(answer.json.action),
      resource: compileScope(answer.json.resource),
    });
  }
  return out;
}

/** Each entity's transitive ancestors, enough for scope checks (attributes are not needed). */
function ancestorStore(list: readonly cedar.EntityJson[]): Map<string, EntityData> {
  const key = (u: cedar.EntityUidJson): string => {
    const t = '__entity' in u ? u.__entity : u;
    return entityKey(t.type, t.id);
  };
  const parents = new Map<string, string[]>();
  for (const e of list) parents.set(key(e.uid), e.parents.map(key));
  const store = new Map<string, EntityData>();
  for (const [k, ps] of parents) {
    const ancestors = new Set<string>();
    const stack = [...ps];
    while (stack.length > 0) {
      const a = stack.pop() ?? '';
      if (ancestors.has(a)) continue;
      ancestors.add(a);
      stack.push(...(parents.get(a) ?? []));
    }
    store.set(k, { attrs: new Map(), tags: new Map(), ancestors });
  }
  return store;
}
