/**
 * The API's resources as they go over the wire, one TypeBox schema each: the routes answer with
 * them (so the type provider holds every handler's result to them at compile time), the OpenAPI
 * document describes them, and `scripts/sdk-resources.ts` writes the SDK's types from them. A
 * field that is a closed vocabulary in the domain is one here too (`Type.Enum`, which the
 * serialiser writes without re-validating), never a bare string.
 */
import { Type } from 'typebox';
import { ROLES } from '../actors/index.js';
import { DATA_CLASSIFICATIONS, ENVIRONMENTS, IDENTITY_STATUSES } from '../registry/index.js';
import { SIGNING_ALGORITHMS } from '../signing/index.js';
import { ACCESS_TOKEN_TYPE } from '../tokens/index.js';
import { ON_CHANGE_MODES } from '../toolpins/index.js';
import { CREDENTIAL_PLACEMENTS, UPSTREAM_KINDS } from '../upstreams/index.js';
import { NullableTimestamp, Timestamp } from './schemas.js';

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** A team: who owns and answers for services (`/v1/teams`). */
export const TeamResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  contact: Type.String(),
  escalation: Type.String(),
  onCall: Type.String(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** A person of a team (`/v1/people`). */
export const PersonResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.String(),
  team: Type.String(),
  role: Type.String({
    description:
      "The person's role in the team, in the team's words: `lead`, `engineer`, `on-call`.",
  }),
  active: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** An AI service or agent application (`/v1/services`). */
export const ServiceResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  team: Type.String(),
  description: Type.String(),
  dataClassification: Type.Enum(DATA_CLASSIFICATIONS),
  runbookUrl: Type.String(),
  rollbackPlan: Type.String(),
  admittedEnvironments: Type.Array(Type.Enum(ENVIRONMENTS)),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** A workload identity: one per (service, environment, agent path) (`/v1/identities`). */
export const IdentityResource = Type.Object({
  id: Type.String(),
  spiffeId: Type.String(),
  service: Type.String(),
  team: Type.String(),
  environment: Type.Enum(ENVIRONMENTS),
  agentPath: Type.String(),
  description: Type.String(),
  status: Type.Enum(IDENTITY_STATUSES),
  statusReason: NullableString,
  statusChangedBy: NullableString,
  statusChangedAt: NullableTimestamp,
  maxTokenTtlSeconds: Type.Integer(),
  maxSessionSeconds: Type.Integer(),
  createdBy: Type.String(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastUsedAt: NullableTimestamp,
});

/** One unit of agent work with a deadline (`/v1/tasks`). */
export const TaskResource = Type.Object({
  id: Type.String(),
  identity: Type.String({ description: 'The workload identity the task belongs to.' }),
  description: Type.String(),
  status: Type.Enum(['open', 'completed', 'expired']),
  deadlineAt: Timestamp,
  createdBy: Type.String(),
  createdAt: Timestamp,
  closedAt: NullableTimestamp,
  closedBy: NullableString,
});

/** An API key, without its secret (`/v1/api-keys`). */
export const ApiKeyResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(ROLES),
  team: NullableString,
  prefix: Type.String({
    description: 'The start of the key, to recognise it; not enough to use it.',
  }),
  createdBy: Type.String(),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  revokedBy: NullableString,
  lastUsedAt: NullableTimestamp,
  status: Type.Enum(['active', 'expired', 'revoked']),
});

/** An API key as it is created: the only answer that carries the secret. */
export const CreatedApiKeyResource = Type.Object({
  ...ApiKeyResource.properties,
  key: Type.String({ description: 'The secret. Shown once, never again: store it now.' }),
});

/** A single-use join token, as it is created (`/v1/identities/{id}/join-tokens`). */
export const JoinTokenResource = Type.Object({
  id: Type.String(),
  token: Type.String({ description: 'The join token: shown once; give it to the workload.' }),
  identity: Type.String(),
  spiffeId: Type.String(),
  expiresAt: Timestamp,
});

/** A federation trust rule: which external OIDC tokens attest an identity. */
export const TrustRuleResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  issuer: Type.String(),
  jwksUri: NullableString,
  jwks: Type.Union([Type.Unknown(), Type.Null()]),
  audience: Type.String(),
  conditions: Type.Record(Type.String(), Type.String()),
  identity: Type.String(),
  createdBy: Type.String(),
  createdAt: Timestamp,
});

/** A token-signing key, public facts only (`/v1/keys`). */
export const SigningKeyResource = Type.Object({
  kid: Type.String(),
  alg: Type.Enum(SIGNING_ALGORITHMS),
  createdAt: Timestamp,
  activatesAt: Timestamp,
  retiresAt: NullableTimestamp,
  unpublishesAt: NullableTimestamp,
  state: Type.Enum(['pending', 'active', 'retired', 'expired', 'revoked']),
});

/** An issued access token's metadata in the inventory (never the token itself). */
export const IssuedTokenResource = Type.Object({
  jti: Type.String(),
  identity: Type.String(),
  spiffeId: Type.String(),
  service: Type.String(),
  environment: Type.String(),
  audience: Type.String(),
  task: NullableString,
  attestation: Type.String(),
  parent: NullableString,
  session: Type.String(),
  kid: Type.String(),
  issuedAt: Timestamp,
  expiresAt: Timestamp,
  sessionExpiresAt: Timestamp,
  clientAddress: NullableString,
  act: Type.Unknown(),
  status: Type.Enum(['active', 'expired', 'revoked']),
});

/** An upstream credential's metadata; the value is never returned (`/v1/secrets`). */
export const SecretResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  team: NullableString,
  description: Type.String(),
  version: Type.Integer(),
  versions: Type.Array(Type.Object({ version: Type.Integer(), createdAt: Timestamp })),
  rotationPeriodSeconds: Type.Union([Type.Integer(), Type.Null()]),
  lastRotatedAt: Timestamp,
  rotationDue: Type.Boolean(),
  exposedAt: Type.Union([Timestamp, Type.Null()], {
    description:
      'When the gateway saw the current value come back from an upstream (and scrubbed it); due for rotation until rotated.',
  }),
  usedBy: Type.Array(Type.String(), { description: 'Upstreams whose credential this is.' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** Where the gateway puts an upstream's real credential on a forwarded request. */
const CredentialInjection = Type.Object({
  secret: Type.String(),
  in: Type.Enum(CREDENTIAL_PLACEMENTS),
  name: Type.String(),
  format: Type.String(),
});

/** An operation an upstream offers: an MCP tool, or a named HTTP route. */
const UpstreamOperation = Type.Object({
  name: Type.String(),
  method: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  sensitive: Type.Boolean(),
  description: Type.Optional(Type.String()),
});

/** A tool provider behind the gateway: an HTTP API or an MCP server (`/v1/upstreams`). */
export const UpstreamResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Enum(UPSTREAM_KINDS),
  url: Type.String(),
  team: Type.String(),
  classification: Type.Enum(DATA_CLASSIFICATIONS),
  credential: Type.Union([CredentialInjection, Type.Null()]),
  operations: Type.Array(UpstreamOperation),
  sensitive: Type.Array(Type.String()),
  timeoutMs: Type.Integer(),
  maxRequestBytes: Type.Integer(),
  maxResponseBytes: Type.Integer(),
  recordContent: Type.Boolean(),
  rateLimit: Type.Union([
    Type.Object({ perSecond: Type.Number(), burst: Type.Integer() }),
    Type.Null(),
  ]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** One difference between a pinned and a current tool definition. */
const DefinitionChange = Type.Object({
  path: Type.String(),
  change: Type.Enum(['added', 'removed', 'changed']),
  pinned: Type.Optional(Type.Unknown()),
  current: Type.Optional(Type.Unknown()),
});

/** One MCP tool's pinned and current definitions. */
export const ToolPinResource = Type.Object({
  name: Type.String(),
  status: Type.Enum(['accepted', 'changed', 'new', 'removed']),
  pinned: Type.Union([
    Type.Object({
      hash: Type.String(),
      definition: Type.Unknown(),
      pinnedAt: NullableTimestamp,
      pinnedBy: NullableString,
    }),
    Type.Null(),
  ]),
  current: Type.Union([
    Type.Object({ hash: Type.String(), definition: Type.Unknown() }),
    Type.Null(),
  ]),
  observedAt: Timestamp,
  changes: Type.Array(DefinitionChange),
});

/** An MCP upstream's tool pins and what a change does (`/v1/upstreams/{name}/tools`). */
export const ToolPinsResource = Type.Object({
  upstream: Type.String(),
  onChange: Type.Enum(ON_CHANGE_MODES),
  pinnedAt: NullableTimestamp,
  tools: Type.Array(ToolPinResource),
});

/** One event of the trail (`/v1/audit`). */
export const AuditEventResource = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  occurredAt: Timestamp,
  // A string, not an enum: the trail keeps the types of every version that wrote to it.
  type: Type.String({ description: 'The event type (docs/audit-events.md): `identity.created`.' }),
  actor: Type.String(),
  actorRole: Type.String(),
  requestId: NullableString,
  clientRequestId: NullableString,
  target: Type.Object({ kind: Type.String(), id: Type.String() }),
  team: NullableString,
  service: NullableString,
  identity: NullableString,
  before: Type.Unknown(),
  after: Type.Unknown(),
});

/** The token endpoint's answer (RFC 8693 §2.2.1; `/oauth2/token`), in OAuth's own snake case. */
export const TokenResponseResource = Type.Object({
  access_token: Type.String(),
  issued_token_type: Type.Enum([ACCESS_TOKEN_TYPE]),
  token_type: Type.Enum(['Bearer']),
  expires_in: Type.Integer(),
});
