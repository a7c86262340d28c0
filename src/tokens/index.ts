export {
  ACCESS_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
  STEWARD_AUDIENCE,
} from './claims.js';
export type { AccessTokenClaims, ActorClaim } from './claims.js';
export { TokenError, OAuthError } from './errors.js';
export type { TokenErrorCode, OAuthErrorCode } from './errors.js';
export { createTokenVerifier, LEEWAY_SECONDS } from './verify.js';
export type { TokenVerifier, VerifiedToken } from './verify.js';
export { createMinter, createTokenIssuer } from './mint.js';
export type {
  Minter,
  MintRequest,
  MintedToken,
  SignedToken,
  TokenSubject,
  TokenIssuer,
} from './mint.js';
export { createTokenExchange, DEFAULT_TOKEN_TTL_SECONDS } from './exchange.js';
export type {
  TokenExchange,
  TokenResponse,
  AudienceResolver,
  ExchangeParameters,
} from './exchange.js';
export { createRevoker } from './revoke.js';
export { revocationConcerns } from './concerns.js';
export type { Revoker, RevocationRequest, RevocationOutcome } from './revoke.js';
export { createInventory } from './inventory.js';
export type { Inventory, InventoryEntry, InventoryFilter } from './inventory.js';
