/**
 * `@steward/sdk`: what agents and scripts need to talk to Steward, with no dependency on the
 * server and none at run time beyond Node's own modules. Every export here is public API.
 */
export { StewardAgent } from './agent.js';
export type { StewardAgentOptions, StewardAgentCommonOptions, AgentFetchOptions } from './agent.js';
export { AgentTask } from './task.js';
export type {
  StewardApiKey,
  StewardAuditEvent,
  StewardCreatedApiKey,
  StewardIdentity,
  StewardIssuedToken,
  StewardJoinToken,
  StewardPerson,
  StewardSecret,
  StewardService,
  StewardSigningKey,
  StewardTask,
  StewardTeam,
  StewardToolPin,
  StewardToolPins,
  StewardTrustRule,
  StewardUpstream,
} from './resources.js';
export type {
  StewardAcceptToolInput,
  StewardAdmitEnvironmentsInput,
  StewardAllowEgressInput,
  StewardAuthorizeInput,
  StewardCreateApiKeyInput,
  StewardCreateIdentityInput,
  StewardCreateJoinTokenInput,
  StewardCreatePersonInput,
  StewardCreateSecretInput,
  StewardCreateServiceInput,
  StewardCreateTeamInput,
  StewardCreateTrustRuleInput,
  StewardCreateUpstreamInput,
  StewardOpenTaskInput,
  StewardReasonInput,
  StewardRevokeInput,
  StewardRollbackPoliciesInput,
  StewardRotateKeyInput,
  StewardRotateSecretInput,
  StewardSetToolPinModeInput,
  StewardSimulatePoliciesInput,
  StewardUpdateIdentityInput,
  StewardUpdatePersonInput,
  StewardUpdateServiceInput,
  StewardUpdateTeamInput,
  StewardUpdateUpstreamInput,
  StewardValidatePoliciesInput,
  StewardWritePoliciesInput,
} from './requests.js';
export type { AgentIdentity } from './identity.js';
export type { Clock } from './clock.js';
export type { FetchInput, FetchInit } from './authorized-fetch.js';
export type { McpFetch, McpTransportClass } from './gateway.js';
export { StewardClient } from './client.js';
export type { StewardClientOptions, Query } from './client.js';
export { StewardApiError, StewardAuthError, StewardUnreachableError } from './errors.js';
export type { StewardAuthErrorCode, StewardGrant } from './errors.js';
