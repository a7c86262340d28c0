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
    return {
      policyIds: Object.keys(policies),
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
  },

  prepareEntities(entities: readonly Entity[]): PreparedEntities {
    return {
      engine: 'reference',
      list: entities as unknown as cedar.EntityJson[],
    } as ReferenceEntities;
  },
};
