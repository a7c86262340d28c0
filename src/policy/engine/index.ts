export { referenceEngine } from './reference.js';
export { fastEngine } from './fast/engine.js';
export type {
  FastEngine,
  FastPreparedPolicySet,
  EngineCoverage,
  EngineStats,
} from './fast/engine.js';
export { PolicyParseError } from './types.js';
export type {
  EntityUid,
  CedarJson,
  Entity,
  AuthorizationRequest,
  PolicyEvaluationError,
  Decision,
  DecisionExplanation,
  PolicySource,
  PreparedPolicySet,
  PreparedEntities,
  PolicyEngine,
} from './types.js';
