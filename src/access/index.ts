export { canManageTeam } from './roles.js';
export { createApiKeyService } from './api-keys.js';
export type { ApiKey, ApiKeyService, CreateApiKeyInput, RecoveredBy } from './api-keys.js';
export type { TeamNames } from './team-names.js';
