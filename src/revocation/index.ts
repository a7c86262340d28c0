export { createRevocationList, REVOCATION_KINDS, REVOCATIONS_CHANNEL } from './list.js';
export type {
  RevocationList,
  Revocation,
  RevocationKind,
  RevocableToken,
  RevocationConcerns,
  ConcernResolver,
  RevokeWithin,
  PendingRevocation,
} from './list.js';
