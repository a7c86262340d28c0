/**
 * Writes packages/sdk/src/resources.ts, the SDK's types of the API's resources, from the TypeBox
 * schemas the routes answer with (src/http/resources.ts). The SDK has no dependencies, so it
 * cannot import TypeBox or the server: it gets plain interfaces, written here. Run
 * `npm run sdk:resources` after changing a resource; a test fails while the committed file
 * differs from what this generates.
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

const TARGET = new URL('../packages/sdk/src/resources.ts', import.meta.url);

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

/** The SDK's resources module, formatted as the repository formats TypeScript. */
export async function renderSdkResources(): Promise<string> {
  const parts = [
    '// Generated by scripts/sdk-resources.ts from the schemas in src/http/resources.ts; do not edit.',
    '',
  ];
  for (const { name, schema, doc } of SDK_RESOURCES) {
    parts.push(`${comment(doc)}export interface ${name} ${objectType(schema)}`, '');
  }
  const options = await resolveConfig(TARGET);
  return format(parts.join('\n'), { ...options, parser: 'typescript' });
}

/** The committed module. */
export function readSdkResources(): string {
  return readFileSync(TARGET, 'utf8');
}

async function main(): Promise<void> {
  writeFileSync(TARGET, await renderSdkResources());
  process.stdout.write('wrote packages/sdk/src/resources.ts\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
