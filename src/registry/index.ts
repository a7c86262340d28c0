export { createTeamService } from './teams.js';
export type { Team, TeamService, CreateTeamInput, UpdateTeamInput } from './teams.js';
export { createTeamNames } from './team-names.js';
export { createPersonService } from './people.js';
export type { Person, PersonService, CreatePersonInput, UpdatePersonInput } from './people.js';
export { createServiceService } from './services.js';
export type {
  Service,
  ServiceService,
  CreateServiceInput,
  UpdateServiceInput,
  AdmissionInput,
} from './services.js';
export { createIdentityService } from './identities.js';
export type {
  Identity,
  IdentityService,
  CreateIdentityInput,
  UpdateIdentityInput,
  IdentityFilter,
  StatusChange,
} from './identities.js';
export {
  loadWorkload,
  loadWorkloads,
  workloadIdsOfService,
  loadServiceOwner,
  whyMayNotAct,
  recordWorkloadUse,
} from './workloads.js';
export type { Workload, ServiceOwner, ActRefusal } from './workloads.js';
export { loadRegistryCatalog, registryFingerprint, loadTeamHoldings } from './catalog.js';
export type { RegistryCatalog, TeamHoldings } from './catalog.js';
export {
  ENVIRONMENTS,
  DATA_CLASSIFICATIONS,
  IDENTITY_STATUSES,
  NAME_PATTERN,
  AGENT_PATH_PATTERN,
  AGENT_PATH_MAX_LENGTH,
  MAX_TOKEN_TTL_SECONDS,
  MAX_TOKEN_LIFETIME_MS,
  MIN_TOKEN_TTL_SECONDS,
  DEFAULT_MAX_SESSION_SECONDS,
  MAX_SESSION_SECONDS,
  spiffeId,
  environmentRank,
} from './vocabulary.js';
export type { Environment, DataClassification, IdentityStatus } from './vocabulary.js';
