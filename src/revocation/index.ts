export { createRevocationList, REVOCATION_KINDS, REVOCATIONS_CHANNEL } from './list.js';
export type {
  RevocationList,
  Revocation,
  RevocationKind,
  RevocableToken,
  RevocationConcerns,
  ConcernResolver,
} from './list.js';
