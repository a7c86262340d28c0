export type { SecretReader } from './types.js';
export {
  createSecretService,
  loadSecretOwner,
  SECRETS_CHANNEL,
  REVEAL_CACHE_MS,
} from './secrets.js';
export type {
  SecretService,
  SecretInfo,
  CreateSecretInput,
  SecretOwner,
  CredentialUsers,
} from './secrets.js';
export { rewrapMasterKey } from './rewrap.js';
export type { RewrapReport } from './rewrap.js';
export { canAttachCredential, canManageCredential, canReadCredential } from './access.js';
