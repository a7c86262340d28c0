export { createPolicyService } from './service.js';
export type { PolicyService } from './service.js';
export type {
  PolicyVersion,
  PolicySummary,
  PolicySetView,
  PolicyVersionDetail,
  PolicyWriteInput,
  PolicyWriteResult,
  ValidationResult,
} from './versions.js';
export { POLICIES_CHANNEL } from './current-set.js';
export type {
  PrincipalInput,
  AuthorizeInput,
  AuthorizeResult,
  GatewayDecisionInput,
  GatewayDecision,
  DecisionRecord,
} from './decision-point.js';
export { MAX_REPORTED_CHANGES, MAX_SIMULATION_EVENTS } from './simulation.js';
export type { SimulationInput, SimulationReport, SimulatedChange } from './simulation.js';
export { compilePolicies, policySource, position, POLICY_LIMITS } from './compile.js';
export type { CompiledPolicy, PolicySetDraft, PolicyWarning } from './compile.js';
export {
  SCHEMA_TEXT,
  SCHEMA_JSON,
  ACTIONS,
  ENTITY_TYPES,
  NAMESPACE,
  qualified,
  actionUid,
  isAction,
} from './schema.js';
export type { ActionName, EntityTypeName } from './schema.js';
export { registrySource, uid, ancestry, key as entityKey } from './entities.js';
export type { EntitySource } from './entities.js';
export type { Entity, EntityUid, CedarJson } from './engine/index.js';
export { buildRequest, contextValue } from './request.js';
export { runPolicyTests } from './testing.js';
export type { PolicyTestCase, PolicyTestFile, PolicyTestResult, TestEntity } from './testing.js';
export type { RequestInput, ResourceInput, ResolvedPrincipal } from './request.js';
export { explain, scopeMatches } from './explain.js';
export type { Explanation } from './explain.js';
export { breadthFindings } from './findings.js';
export type { PolicyFinding, FindingMapping } from './findings.js';
export { diffLines } from './diff.js';
export { decisionEngine } from './evaluator.js';
export {
  DECISIONS,
  EXPLANATION_KINDS,
  FINDING_KINDS,
  FINDING_SEVERITIES,
  POLICY_EFFECTS,
  WARNING_CODES,
} from './vocabulary.js';
export type {
  DecisionValue,
  ExplanationKind,
  FindingKind,
  FindingSeverity,
  PolicyEffect,
  PolicyWarningCode,
} from './vocabulary.js';
