import type { CompiledPolicy } from './compile.js';
import type { FindingKind, FindingSeverity } from './vocabulary.js';

/** Where a finding sits in the standards Steward answers to. */
export interface FindingMapping {
  readonly owaspNhi: string[];
  readonly nistCsf: string[];
  readonly owaspLlm: string[];
}

/** A least-privilege problem in one policy. Kept for the posture report. */
export interface PolicyFinding {
  /** Stable per kind and policy: `policy.unconstrained_principal:<policy id>`. */
  readonly id: string;
  readonly kind: FindingKind;
  readonly severity: FindingSeverity;
  readonly policyId: string;
  readonly line: number;
  readonly title: string;
  readonly detail: string;
  readonly mapping: FindingMapping;
}

/**
 * OWASP NHI5 (Overprivileged NHI); NIST CSF 2.0 PR.AA-05 (access permissions managed with least
 * privilege); OWASP LLM06 (Excessive Agency).
 */
const LEAST_PRIVILEGE: FindingMapping = Object.freeze({
  owaspNhi: ['NHI5:2025 Overprivileged NHI'],
  nistCsf: ['PR.AA-05'],
  owaspLlm: ['LLM06:2025 Excessive Agency'],
});

/**
 * Breadth findings: permits that name no principal, no resource, or every action. A permit with
 * `when`/`unless` conditions may still be narrow, so its findings are one severity lower; only
 * the scope is judged here, never what the conditions mean.
 *
 * @example
 * breadthFindings(compilePolicies('permit(principal, action, resource);').policies);
 * // three findings: unconstrained principal, unconstrained resource, every action
 */
export function breadthFindings(policies: readonly CompiledPolicy[]): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  for (const policy of policies) {
    if (policy.effect !== 'permit') continue;
    const conditional = policy.json.conditions.length > 0;
    const severity = (base: 'high' | 'medium'): PolicyFinding['severity'] =>
      conditional ? (base === 'high' ? 'medium' : 'low') : base;
    const add = (
      kind: PolicyFinding['kind'],
      base: 'high' | 'medium',
      title: string,
      detail: string,
    ) =>
      findings.push({
        id: `policy.${kind}:${policy.id}`,
        kind,
        severity: severity(base),
        policyId: policy.id,
        line: policy.line,
        title,
        detail: conditional ? `${detail} Its conditions may narrow it: check them.` : detail,
        mapping: LEAST_PRIVILEGE,
      });
    if (policy.json.principal.op === 'All') {
      add(
        'unconstrained_principal',
        'high',
        'Permit for every workload',
        `Policy ${policy.id} permits any principal; name a workload, service or team (principal in Steward::Service::"…").`,
      );
    }
    if (policy.json.resource.op === 'All') {
      add(
        'unconstrained_resource',
        'medium',
        'Permit on every resource',
        `Policy ${policy.id} permits on any resource; name the tool, upstream or data set.`,
      );
    }
    if (policy.json.action.op === 'All') {
      add(
        'every_action',
        'high',
        'Permit of every action',
        `Policy ${policy.id} permits every action, including ones added later; list the actions it needs.`,
      );
    }
  }
  return findings;
}
