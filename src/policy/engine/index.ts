export { referenceEngine } from './reference.js';
export { PolicyParseError } from './types.js';
export type {
  EntityUid,
  CedarJson,
  Entity,
  AuthorizationRequest,
  PolicyEvaluationError,
  Decision,
  PolicySource,
  PreparedPolicySet,
  PreparedEntities,
  PolicyEngine,
} from './types.js';
