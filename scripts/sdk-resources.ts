/**
 * Writes packages/sdk/src/resources.ts, the SDK's types of the API's resources, from the TypeBox
 * schemas the routes answer with (src/http/resources.ts), and packages/sdk/src/requests.ts, its
 * input types, from the schemas the routes validate request bodies with (src/http/requests.ts).
 * The SDK has no dependencies, so it cannot import TypeBox or the server: it gets plain
 * interfaces, written here. It also writes packages/sdk/src/protocol.ts, the protocol constants
 * (token-type URNs, the token-exchange grant, Steward's own audience) from the server's
 * src/tokens. Run `npm run sdk:resources` after changing any of them; a test fails while a
 * committed file differs from what this generates.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';
import type { TSchema } from 'typebox';
import {
  ApiKeyResource,
  AuditEventResource,
  CreatedApiKeyResource,
  IdentityResource,
  IssuedTokenResource,
  JoinTokenResource,
  PersonResource,
  SecretResource,
  ServiceResource,
  SigningKeyResource,
  TaskResource,
  TeamResource,
  ToolPinResource,
  ToolPinsResource,
  TrustRuleResource,
  UpstreamResource,
} from '../src/http/resources.js';
import * as requests from '../src/http/requests.js';
import {
  ACCESS_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  STEWARD_AUDIENCE,
  TOKEN_EXCHANGE_GRANT,
} from '../src/tokens/index.js';

const TARGET = new URL('../packages/sdk/src/resources.ts', import.meta.url);
const REQUESTS_TARGET = new URL('../packages/sdk/src/requests.ts', import.meta.url);
const PROTOCOL_TARGET = new URL('../packages/sdk/src/protocol.ts', import.meta.url);

/** The subset of JSON Schema the resources use. */
interface Schema {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly anyOf?: readonly Schema[];
  readonly items?: Schema;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly patternProperties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly description?: string;
}

/**
 * Each SDK type: its name, the schema it is written from, and its TSDoc. Every resource of
 * src/http/resources.ts is here but the token endpoint's answer, which the SDK's token endpoint
 * reads field by field as untrusted input rather than through a type.
 */
export const SDK_RESOURCES: readonly { name: string; schema: TSchema; doc: string }[] = [
  { name: 'StewardTeam', schema: TeamResource, doc: 'A team (`/v1/teams`).' },
  { name: 'StewardPerson', schema: PersonResource, doc: 'A person of a team (`/v1/people`).' },
  { name: 'StewardService', schema: ServiceResource, doc: 'A service (`/v1/services`).' },
  {
    name: 'StewardIdentity',
    schema: IdentityResource,
    doc: 'A workload identity (`/v1/identities`).',
  },
  {
    name: 'StewardTask',
    schema: TaskResource,
    doc: [
      'A task as Steward describes it (`GET /v1/tasks/{id}`).',
      '',
      '@example',
      'const done: StewardTask = await task.complete();',
      'console.log(done.status, done.closedAt);',
    ].join('\n'),
  },
  { name: 'StewardApiKey', schema: ApiKeyResource, doc: 'An API key, without its secret.' },
  {
    name: 'StewardCreatedApiKey',
    schema: CreatedApiKeyResource,
    doc: 'An API key as `POST /v1/api-keys` creates it: the only answer with its secret.',
  },
  {
    name: 'StewardJoinToken',
    schema: JoinTokenResource,
    doc: 'A join token as `POST /v1/identities/{id}/join-tokens` creates it.',
  },
  {
    name: 'StewardTrustRule',
    schema: TrustRuleResource,
    doc: 'A federation trust rule (`/v1/federation/trusts`).',
  },
  {
    name: 'StewardSigningKey',
    schema: SigningKeyResource,
    doc: 'A token-signing key, public facts only (`/v1/keys`).',
  },
  {
    name: 'StewardIssuedToken',
    schema: IssuedTokenResource,
    doc: "An issued access token's metadata (`/v1/tokens`); never the token itself.",
  },
  {
    name: 'StewardSecret',
    schema: SecretResource,
    doc: "A secret's metadata (`/v1/secrets`); the value is never returned.",
  },
  { name: 'StewardUpstream', schema: UpstreamResource, doc: 'An upstream (`/v1/upstreams`).' },
  {
    name: 'StewardToolPin',
    schema: ToolPinResource,
    doc: "One MCP tool's pinned and current definitions.",
  },
  {
    name: 'StewardToolPins',
    schema: ToolPinsResource,
    doc: "An MCP upstream's tool pins (`/v1/upstreams/{name}/tools`).",
  },
  {
    name: 'StewardAuditEvent',
    schema: AuditEventResource,
    doc: 'One event of the trail (`/v1/audit`).',
  },
];

const comment = (text: string) =>
  text.includes('\n')
    ? `/**\n${text
        .split('\n')
        .map((line) => ` *${line === '' ? '' : ` ${line}`}`)
        .join('\n')}\n */\n`
    : `/** ${text} */\n`;

/** The TypeScript type of `schema`; throws on a construct the resources do not use. */
function typeOf(schema: Schema): string {
  if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf !== undefined) {
    const members = schema.anyOf.map(typeOf);
    return members.includes('unknown') ? 'unknown' : members.join(' | ');
  }
  switch (schema.type) {
    case undefined:
      return 'unknown';
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      if (schema.items === undefined) throw new Error('an array without items');
      const item = typeOf(schema.items);
      return `readonly ${item.includes(' | ') ? `(${item})` : item}[]`;
    }
    case 'object':
      return objectType(schema);
    default:
      throw new Error(`no TypeScript for a schema of type ${schema.type}`);
  }
}

function objectType(schema: Schema): string {
  if (schema.patternProperties !== undefined) {
    const [value] = Object.values(schema.patternProperties);
    return `Readonly<Record<string, ${value === undefined ? 'unknown' : typeOf(value)}>>`;
  }
  const required = new Set(schema.required ?? []);
  const members = Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const doc = property.description === undefined ? '' : comment(property.description);
    const optional = required.has(name) ? '' : '?';
    return `${doc}readonly ${name}${optional}: ${typeOf(property)};`;
  });
  return `{\n${members.join('\n')}\n}`;
}

/** Each input type's TSDoc: the routes whose body it is, by the schema's name. */
const REQUEST_ROUTES: Readonly<Record<string, string>> = {
  ReasonRequest:
    'POST /v1/identities/{id}/disable, /enable and /decommission; POST /v1/keys/{kid}/withdraw',
  CreateTeamRequest: 'POST /v1/teams',
  UpdateTeamRequest: 'PATCH /v1/teams/{name}',
  CreatePersonRequest: 'POST /v1/people',
  UpdatePersonRequest: 'PATCH /v1/people/{id}',
  CreateServiceRequest: 'POST /v1/services',
  UpdateServiceRequest: 'PATCH /v1/services/{name}',
  AdmitEnvironmentsRequest: 'PUT /v1/services/{name}/admitted-environments',
  CreateIdentityRequest: 'POST /v1/identities',
  UpdateIdentityRequest: 'PATCH /v1/identities/{id}',
  OpenTaskRequest: 'POST /v1/tasks',
  CreateApiKeyRequest: 'POST /v1/api-keys',
  CreateJoinTokenRequest: 'POST /v1/identities/{id}/join-tokens',
  CreateTrustRuleRequest: 'POST /v1/federation/trusts',
  RotateKeyRequest: 'POST /v1/keys/rotate',
  RevokeRequest: 'POST /v1/revocations',
  CreateSecretRequest: 'POST /v1/secrets',
  RotateSecretRequest: 'POST /v1/secrets/{name}/rotate',
  CreateUpstreamRequest: 'POST /v1/upstreams',
  UpdateUpstreamRequest: 'PATCH /v1/upstreams/{name}',
  AllowEgressRequest: 'POST /v1/egress/allow',
  SetToolPinModeRequest: 'PATCH /v1/upstreams/{name}/tools',
  AcceptToolRequest: 'POST /v1/upstreams/{name}/tools/{tool}/accept',
  WritePoliciesRequest: 'PUT /v1/policies',
  RollbackPoliciesRequest: 'POST /v1/policy/rollback',
  ValidatePoliciesRequest: 'POST /v1/policy/validate',
  AuthorizeRequest: 'POST /v1/authorize',
  SimulatePoliciesRequest: 'POST /v1/policy/simulate',
};

/**
 * The SDK's input types: every request body of src/http/requests.ts, `XxxRequest` becoming
 * `StewardXxxInput`, documented by the routes it is the body of.
 */
export const SDK_REQUESTS: readonly { name: string; schema: TSchema; doc: string }[] =
  Object.entries(requests)
    .filter(([name]) => name.endsWith('Request'))
    .map(([name, schema]) => {
      const route = REQUEST_ROUTES[name];
      if (route === undefined) throw new Error(`${name}: name the routes it is the body of`);
      return {
        name: `Steward${name.slice(0, -'Request'.length)}Input`,
        schema,
        doc: `The body of \`${route}\`.`,
      };
    });

async function render(
  target: URL,
  source: string,
  types: readonly { name: string; schema: TSchema; doc: string }[],
): Promise<string> {
  const parts = [
    `// Generated by scripts/sdk-resources.ts from the schemas in ${source}; do not edit.`,
    '',
  ];
  for (const { name, schema, doc } of types) {
    parts.push(`${comment(doc)}export interface ${name} ${objectType(schema)}`, '');
  }
  const options = await resolveConfig(target);
  return format(parts.join('\n'), { ...options, parser: 'typescript' });
}

/** The SDK's resources module, formatted as the repository formats TypeScript. */
export function renderSdkResources(): Promise<string> {
  return render(TARGET, 'src/http/resources.ts', SDK_RESOURCES);
}

/** The SDK's request-body module, formatted as the repository formats TypeScript. */
export function renderSdkRequests(): Promise<string> {
  return render(REQUESTS_TARGET, 'src/http/requests.ts', SDK_REQUESTS);
}

/** The SDK's protocol constants, as the server's src/tokens declares them. */
export async function renderSdkProtocol(): Promise<string> {
  const text = [
    '// Generated by scripts/sdk-resources.ts from the constants of src/tokens; do not edit.',
    '',
    "/** RFC 8693 token types Steward's token endpoint takes as `subject_token_type`. */",
    'export const TOKEN_TYPES = {',
    `  joinToken: ${JSON.stringify(JOIN_TOKEN_TYPE)},`,
    `  jwt: ${JSON.stringify(JWT_TOKEN_TYPE)},`,
    `  accessToken: ${JSON.stringify(ACCESS_TOKEN_TYPE)},`,
    '} as const;',
    '',
    '/** The RFC 8693 token-exchange grant type. */',
    `export const TOKEN_EXCHANGE_GRANT = ${JSON.stringify(TOKEN_EXCHANGE_GRANT)};`,
    '',
    "/** Steward's own API as an audience. */",
    `export const STEWARD_AUDIENCE = ${JSON.stringify(STEWARD_AUDIENCE)};`,
    '',
  ].join('\n');
  const options = await resolveConfig(PROTOCOL_TARGET);
  return format(text, { ...options, parser: 'typescript' });
}

/** The committed protocol module. */
export function readSdkProtocol(): string {
  return readFileSync(PROTOCOL_TARGET, 'utf8');
}

/** The committed resources module. */
export function readSdkResources(): string {
  return readFileSync(TARGET, 'utf8');
}

/** The committed request-body module. */
export function readSdkRequests(): string {
  return readFileSync(REQUESTS_TARGET, 'utf8');
}

async function main(): Promise<void> {
  writeFileSync(TARGET, await renderSdkResources());
  process.stdout.write('wrote packages/sdk/src/resources.ts\n');
  writeFileSync(REQUESTS_TARGET, await renderSdkRequests());
  process.stdout.write('wrote packages/sdk/src/requests.ts\n');
  writeFileSync(PROTOCOL_TARGET, await renderSdkProtocol());
  process.stdout.write('wrote packages/sdk/src/protocol.ts\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
