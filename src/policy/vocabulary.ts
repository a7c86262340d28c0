/**
 * The policy domain's closed vocabularies, each once: the domain's types are written from them,
 * and the routes' answer schemas enumerate them, so the two cannot drift.
 */

/** A Cedar policy's effect. */
export const POLICY_EFFECTS = ['permit', 'forbid'] as const;
export type PolicyEffect = (typeof POLICY_EFFECTS)[number];

/** A decision. */
export const DECISIONS = ['allow', 'deny'] as const;
export type DecisionValue = (typeof DECISIONS)[number];

/** Why a decision came out as it did. */
export const EXPLANATION_KINDS = ['allowed', 'forbidden', 'not_permitted'] as const;
export type ExplanationKind = (typeof EXPLANATION_KINDS)[number];

/** What a warning on a draft is about. */
export const WARNING_CODES = ['cedar_validation', 'unknown_entity'] as const;
export type PolicyWarningCode = (typeof WARNING_CODES)[number];

/** The least-privilege findings. */
export const FINDING_KINDS = [
  'unconstrained_principal',
  'unconstrained_resource',
  'every_action',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** How serious a finding is. */
export const FINDING_SEVERITIES = ['high', 'medium', 'low'] as const;
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];
