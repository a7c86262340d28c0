export { createJoinTokenService, JOIN_TOKEN_DEFAULT_TTL_SECONDS } from './join-tokens.js';
export type { JoinTokenService, CreatedJoinToken, RedeemResult } from './join-tokens.js';
export { createFederationService, FEDERATION_ALGORITHMS } from './federation.js';
export type {
  FederationService,
  FederationTrust,
  CreateTrustInput,
  FederationResult,
} from './federation.js';
