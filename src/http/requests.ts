/**
 * The API's request bodies, one TypeBox schema each: the routes validate with them (and their
 * handlers are typed by them), the OpenAPI document describes them, and
 * `scripts/sdk-resources.ts` writes the SDK's input types from them, as it writes the resources'
 * from `resources.ts`. Every object is closed: an unknown or misspelt field is an error.
 */
import { Type } from 'typebox';
import { JOIN_TOKEN_DEFAULT_TTL_SECONDS } from '../attestation/index.js';
import { ACTIONS, MAX_SIMULATION_EVENTS, POLICY_LIMITS } from '../policy/index.js';
import {
  ENVIRONMENTS,
  MAX_SESSION_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
} from '../registry/index.js';
import { MAX_TASK_SECONDS } from '../tasks/index.js';
import { ON_CHANGE_MODES } from '../toolpins/index.js';
import { CREDENTIAL_PLACEMENTS, UPSTREAM_KINDS, UPSTREAM_LIMITS } from '../upstreams/index.js';
import {
  AgentPath,
  DataClassification,
  Email,
  Enum,
  Environment,
  HttpUrl,
  Id,
  Name,
  Reason,
  Role,
  Strict,
  Text,
  Timestamp,
} from './schemas.js';

/** A body with only a reason: status changes, key withdrawal. */
export const ReasonRequest = Strict({ reason: Reason });

// Teams.

const TeamFields = {
  description: Type.Optional(Text(2000)),
  contact: Text(320, { minLength: 1, description: 'Where to reach the team: mail, chat channel.' }),
  escalation: Text(320, {
    minLength: 1,
    description: 'Who to reach when it is urgent: phone, pager.',
  }),
  onCall: Type.Optional(Text(320, { description: 'On-call schedule reference (id or URL).' })),
};

/** `POST /v1/teams`. */
export const CreateTeamRequest = Strict({ name: Name, ...TeamFields });

/** `PATCH /v1/teams/{name}`. */
export const UpdateTeamRequest = Strict({
  description: TeamFields.description,
  contact: Type.Optional(TeamFields.contact),
  escalation: Type.Optional(TeamFields.escalation),
  onCall: TeamFields.onCall,
});

// People.

const PersonName = Text(200, { minLength: 1 });
const TeamRole = Text(64, {
  minLength: 1,
  description: "The person's role in the team: lead, engineer, on-call…",
});

/** `POST /v1/people`. */
export const CreatePersonRequest = Strict({
  name: PersonName,
  email: Email,
  team: Name,
  role: Type.Optional(TeamRole),
  active: Type.Optional(Type.Boolean()),
});

/** `PATCH /v1/people/{id}`. */
export const UpdatePersonRequest = Strict({
  name: Type.Optional(PersonName),
  role: Type.Optional(TeamRole),
  active: Type.Optional(Type.Boolean()),
});

// Services.

const ServiceFields = {
  description: Type.Optional(Text(2000)),
  dataClassification: DataClassification,
  runbookUrl: Type.Optional(HttpUrl),
  rollbackPlan: Type.Optional(
    Text(4000, { description: 'How to roll back a bad release of this service.' }),
  ),
};

/** `POST /v1/services`. */
export const CreateServiceRequest = Strict({ name: Name, team: Name, ...ServiceFields });

/** `PATCH /v1/services/{name}`. */
export const UpdateServiceRequest = Strict({
  team: Type.Optional(Name),
  description: ServiceFields.description,
  dataClassification: Type.Optional(DataClassification),
  runbookUrl: ServiceFields.runbookUrl,
  rollbackPlan: ServiceFields.rollbackPlan,
});

/** `PUT /v1/services/{name}/admitted-environments`. */
export const AdmitEnvironmentsRequest = Strict({
  environments: Type.Array(Environment, { maxItems: 3, uniqueItems: true }),
  reason: Reason,
});

// Identities.

const MaxTokenTtl = Type.Integer({
  minimum: MIN_TOKEN_TTL_SECONDS,
  maximum: Math.max(...Object.values(MAX_TOKEN_TTL_SECONDS)),
  description: `Longest access-token lifetime, in seconds; capped at ${ENVIRONMENTS.map((environment) => `${MAX_TOKEN_TTL_SECONDS[environment]} in ${environment}`).join(', ')}.`,
});

const MaxSession = Type.Integer({
  minimum: 300,
  maximum: MAX_SESSION_SECONDS,
  description:
    'How long renewals may extend one session before the workload must attest again (default 8 hours).',
});

/** `POST /v1/identities`. */
export const CreateIdentityRequest = Strict({
  service: Name,
  environment: Environment,
  agentPath: AgentPath,
  description: Type.Optional(Text(2000)),
  maxTokenTtlSeconds: Type.Optional(MaxTokenTtl),
  maxSessionSeconds: Type.Optional(MaxSession),
});

/** `PATCH /v1/identities/{id}`. */
export const UpdateIdentityRequest = Strict({
  description: Type.Optional(Text(2000)),
  maxTokenTtlSeconds: Type.Optional(MaxTokenTtl),
  maxSessionSeconds: Type.Optional(MaxSession),
});

// Tasks.

/** `POST /v1/tasks`. */
export const OpenTaskRequest = Strict({
  identity: Id,
  deadlineSeconds: Type.Integer({ minimum: 10, maximum: MAX_TASK_SECONDS }),
  description: Type.Optional(Text(2000)),
});

// API keys.

/** `POST /v1/api-keys`. */
export const CreateApiKeyRequest = Strict({
  name: Text(200, { minLength: 1 }),
  role: Role,
  team: Type.Optional(Name),
  ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 366 * 24 * 3600 })),
});

// Attestation and signing.

/** `POST /v1/identities/{id}/join-tokens` (the body itself is optional). */
export const CreateJoinTokenRequest = Strict({
  ttlSeconds: Type.Optional(
    Type.Integer({
      minimum: 60,
      maximum: 3600,
      default: JOIN_TOKEN_DEFAULT_TTL_SECONDS,
      description: 'Minutes, not days: 60 to 3600 s.',
    }),
  ),
});

const Jwk = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown());
const Jwks = Strict({ keys: Type.Array(Jwk, { minItems: 1, maxItems: 20 }) });

/** `POST /v1/federation/trusts`. */
export const CreateTrustRuleRequest = Strict({
  name: Name,
  issuer: HttpUrl,
  jwksUri: Type.Optional(HttpUrl),
  jwks: Type.Optional(Jwks),
  audience: Text(512, { minLength: 1 }),
  conditions: Type.Record(
    Type.String({ minLength: 1, maxLength: 200 }),
    Text(512, { minLength: 1 }),
    {
      maxProperties: 20,
      description:
        'Claim (a path with "/" between levels) → required value; "*" matches any run of characters.',
    },
  ),
  identity: Id,
});

/** `POST /v1/keys/rotate` (the body itself is optional). */
export const RotateKeyRequest = Strict({
  immediate: Type.Optional(
    Type.Boolean({
      description:
        'Sign with the new key at once (after a compromise) instead of after the lead time.',
    }),
  ),
});

// Revocation.

/** `POST /v1/revocations`. */
export const RevokeRequest = Strict({
  kind: Enum(['token', 'lineage', 'identity', 'service_environment', 'task'] as const),
  jti: Type.Optional(Id),
  identity: Type.Optional(Id),
  service: Type.Optional(Name),
  environment: Type.Optional(Environment),
  task: Type.Optional(Id),
  reason: Reason,
});

// Secrets.

/** Any text up to 16 KiB: API keys, passwords, PEM blocks. Write-only. */
const SecretValue = Text(16_384, {
  minLength: 1,
  description: 'The value; stored sealed and never returned.',
});

/** `POST /v1/secrets`. */
export const CreateSecretRequest = Strict({
  name: Name,
  value: SecretValue,
  team: Type.Optional(Name),
  rotationPeriodSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 5 * 366 * 86_400 })),
  description: Type.Optional(Text(2000)),
});

/** `POST /v1/secrets/{name}/rotate`. */
export const RotateSecretRequest = Strict({ value: SecretValue });

// Upstreams.

const OperationName = Type.String({
  pattern: '^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$',
  minLength: 1,
  maxLength: 128,
  description: 'An MCP tool name or an HTTP operation name.',
});

const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", maxLength: 128 });

const RateLimit = Strict({
  perSecond: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  burst: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
});

const limit = (bounds: { min: number; max: number }, description: string) =>
  Type.Optional(Type.Integer({ minimum: bounds.min, maximum: bounds.max, description }));

const UpstreamFields = {
  kind: Enum(UPSTREAM_KINDS),
  url: HttpUrl,
  team: Name,
  classification: DataClassification,
  credential: Type.Optional(
    Strict({
      secret: Name,
      in: Enum(CREDENTIAL_PLACEMENTS),
      name: Type.Optional(HeaderName),
      format: Type.Optional(
        Text(512, { minLength: 8, description: 'With {secret} where the value goes.' }),
      ),
    }),
  ),
  operations: Type.Optional(
    Type.Array(
      Strict({
        name: OperationName,
        method: Type.Optional(Type.String({ pattern: '^[A-Za-z]{1,16}$' })),
        path: Type.Optional(Type.String({ pattern: '^/[\\x21-\\x7e]*$', maxLength: 1024 })),
        sensitive: Type.Optional(Type.Boolean()),
        description: Type.Optional(Text(1000)),
      }),
      { maxItems: 1000 },
    ),
  ),
  sensitive: Type.Optional(
    Type.Array(OperationName, {
      maxItems: 1000,
      uniqueItems: true,
      description: 'Sensitive operation names; with declared operations, names among them.',
    }),
  ),
  timeoutMs: limit(UPSTREAM_LIMITS.timeoutMs, 'UpstreamResource timeout (default 30000).'),
  maxRequestBytes: limit(UPSTREAM_LIMITS.maxRequestBytes, 'Request body limit (default 1 MiB).'),
  maxResponseBytes: limit(
    UPSTREAM_LIMITS.maxResponseBytes,
    'Response body limit (default 10 MiB).',
  ),
  recordContent: Type.Optional(Type.Boolean()),
  rateLimit: Type.Optional(RateLimit),
};

/** `POST /v1/upstreams`. */
export const CreateUpstreamRequest = Strict({ name: Name, ...UpstreamFields });

/** `PATCH /v1/upstreams/{name}`. */
export const UpdateUpstreamRequest = Strict({
  kind: Type.Optional(UpstreamFields.kind),
  url: Type.Optional(UpstreamFields.url),
  team: Type.Optional(UpstreamFields.team),
  classification: Type.Optional(UpstreamFields.classification),
  credential: UpstreamFields.credential,
  operations: UpstreamFields.operations,
  sensitive: UpstreamFields.sensitive,
  timeoutMs: UpstreamFields.timeoutMs,
  maxRequestBytes: UpstreamFields.maxRequestBytes,
  maxResponseBytes: UpstreamFields.maxResponseBytes,
  recordContent: UpstreamFields.recordContent,
  rateLimit: UpstreamFields.rateLimit,
  removeCredential: Type.Optional(
    Type.Boolean({ description: 'True: forward without injecting a credential.' }),
  ),
  removeRateLimit: Type.Optional(
    Type.Boolean({ description: "True: the gateway's default rate limit applies." }),
  ),
});

/** `POST /v1/egress/allow`. */
export const AllowEgressRequest = Strict({
  address: Type.String({
    pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$',
    minLength: 2,
    maxLength: 64,
    description: 'An IP address or a CIDR network.',
  }),
  reason: Reason,
});

// Tool pins.

/** `PATCH /v1/upstreams/{name}/tools`. */
export const SetToolPinModeRequest = Strict({
  onChange: Enum(ON_CHANGE_MODES, {
    description:
      'hide: a changed or new tool is held until accepted; warn: served, with a finding.',
  }),
});

/** `POST /v1/upstreams/{name}/tools/{tool}/accept`. */
export const AcceptToolRequest = Strict({
  hash: Type.String({
    pattern: '^[0-9a-f]{64}$',
    description: "SHA-256 (hex) of the tool definition's RFC 8785 canonical JSON.",
  }),
});

// Policies.

const PolicyText = Text(POLICY_LIMITS.maxTextLength, {
  description:
    'Cedar policies. Ids come from @id("…") annotations, else policy0, policy1… by position.',
});

const Message = Text(1000, {
  minLength: 1,
  description: 'Why: recorded with the version and in the trail.',
});

/** A policy set version: 1 and up. */
export const VersionNumber = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

/** `PUT /v1/policies`. */
export const WritePoliciesRequest = Strict({ policies: PolicyText, message: Message });

/** `POST /v1/policy/rollback`. */
export const RollbackPoliciesRequest = Strict({ version: VersionNumber, message: Message });

/** `POST /v1/policy/validate`. */
export const ValidatePoliciesRequest = Strict({ policies: PolicyText });

const EntityRef = Strict({
  type: Type.String({
    pattern: '^(Steward::)?[A-Z][A-Za-z]{0,31}$',
    description: 'An entity type: Tool or Steward::Tool.',
  }),
  id: Type.String({
    minLength: 1,
    maxLength: 512,
    pattern: '^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$',
  }),
});

const JsonObject = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown());

/** `POST /v1/authorize`. */
export const AuthorizeRequest = Strict({
  principal: Type.Union([
    Strict({ identity: Id }),
    Strict({
      token: Type.String({ minLength: 1, maxLength: 8192, pattern: '^[A-Za-z0-9._-]+$' }),
    }),
  ]),
  action: Type.String({
    pattern: '^[a-z][a-z_]{0,63}$',
    description: Object.keys(ACTIONS).join(', '),
  }),
  resource: Strict({
    ...EntityRef.properties,
    attrs: Type.Optional(JsonObject),
    parents: Type.Optional(Type.Array(EntityRef, { maxItems: 32 })),
  }),
  context: Type.Optional(JsonObject),
});

/** `POST /v1/policy/simulate`. */
export const SimulatePoliciesRequest = Strict({
  policies: PolicyText,
  since: Type.Optional(Timestamp),
  until: Type.Optional(Timestamp),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SIMULATION_EVENTS })),
});
