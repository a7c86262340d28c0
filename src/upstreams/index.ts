export type { Upstream, UpstreamKind, CredentialInjection, UpstreamOperation } from './types.js';
export { checkEgress, canonicalAddress, internalRange, normalizeAllowEntry } from './egress.js';
export type { EgressCheck, EgressOptions, HostResolver } from './egress.js';
export { createEgressAllowlist, UPSTREAMS_CHANNEL } from './allowlist.js';
export type { EgressAllow, EgressAllowlist } from './allowlist.js';
export {
  createUpstreamService,
  credentialUsers,
  UPSTREAM_KINDS,
  CREDENTIAL_PLACEMENTS,
  UPSTREAM_LIMITS,
} from './upstreams.js';
export type {
  UpstreamService,
  CreateUpstreamInput,
  UpdateUpstreamInput,
  CredentialInput,
  OperationInput,
} from './upstreams.js';
export { createAudienceResolver } from './audience.js';
