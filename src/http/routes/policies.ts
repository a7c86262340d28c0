import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import {
  ACTIONS,
  DECISIONS,
  EXPLANATION_KINDS,
  FINDING_KINDS,
  FINDING_SEVERITIES,
  POLICY_EFFECTS,
  WARNING_CODES,
  SCHEMA_JSON,
  SCHEMA_TEXT,
  type PolicyService,
} from '../../policy/index.js';
import { invalidField } from '../../errors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import {
  AuthorizeRequest,
  RollbackPoliciesRequest,
  SimulatePoliciesRequest,
  ValidatePoliciesRequest,
  VersionNumber,
  WritePoliciesRequest,
} from '../requests.js';
import {
  ERROR_RESPONSES,
  NullableTimestamp,
  PageOf,
  PageQuery,
  Strict,
  Timestamp,
} from '../schemas.js';
import { normalizeTime } from './audit.js';

/**
 * Policy text travels in the body: its routes take up to 1 MiB (JSON escaping of 256 Ki
 * characters of Cedar), the rest of the API keeps the 64 KiB default.
 */
export const POLICY_BODY_LIMIT_BYTES = 1024 * 1024;

const Annotations = Type.Record(Type.String(), Type.String());
const Warning = Type.Object({
  code: Type.Enum(WARNING_CODES, {
    description:
      "cedar_validation: a warning of Cedar's validator; unknown_entity: the policy names an entity that does not exist",
  }),
  entity: Type.Optional(Type.Object({ type: Type.String(), id: Type.String() })),
  policyId: Type.Optional(Type.String()),
  line: Type.Optional(Type.Integer()),
  column: Type.Optional(Type.Integer()),
  detail: Type.String(),
});
const Summary = Type.Object({
  id: Type.String(),
  effect: Type.Enum(POLICY_EFFECTS),
  line: Type.Integer(),
  annotations: Annotations,
  text: Type.String(),
});
const VersionFields = {
  version: Type.Integer(),
  author: Type.String(),
  message: Type.String(),
  createdAt: NullableTimestamp,
  policyCount: Type.Integer(),
  rolledBackFrom: Type.Union([Type.Integer(), Type.Null()]),
};
const Version = Type.Object(VersionFields);
const WriteResult = Type.Object({ ...VersionFields, warnings: Type.Array(Warning) });
const SetView = Type.Object({
  ...VersionFields,
  text: Type.String(),
  policies: Type.Array(Summary),
  filtered: Type.Boolean({ description: "True for an owner: only its team's policies are shown." }),
});
const VersionDetail = Type.Object({
  ...SetView.properties,
  previous: Type.Union([Type.Integer(), Type.Null()]),
  diff: Type.String({
    description: 'Every line, marked " " (kept), "-" (removed) or "+" (added).',
  }),
});
const Mapping = Type.Object({
  owaspNhi: Type.Array(Type.String()),
  nistCsf: Type.Array(Type.String()),
  owaspLlm: Type.Array(Type.String()),
});
const Finding = Type.Object({
  id: Type.String(),
  kind: Type.Enum(FINDING_KINDS),
  severity: Type.Enum(FINDING_SEVERITIES),
  policyId: Type.String(),
  line: Type.Integer(),
  title: Type.String(),
  detail: Type.String(),
  mapping: Mapping,
});
/**
 * The versions an `If-Match` header names: `"7"` (the ETag of GET /v1/policies), also `7` or
 * `W/"7"` as scripts write it; a list matches if any member does; `*` matches any version (the
 * set always exists, version 0 being the empty one), as does no header. A value that names no
 * version is refused rather than ignored: a write meant to be conditional must not become
 * unconditional.
 */
function ifMatch(header: string | string[] | undefined): number[] | undefined {
  if (header === undefined) return undefined;
  const versions: number[] = [];
  for (const raw of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const tag = raw.trim();
    if (tag === '*') return undefined;
    const match = /^(?:W\/)?("?)(0|[1-9][0-9]{0,9})\1$/.exec(tag);
    const version = Number(match?.[2]);
    if (match === null || version > 2_147_483_647) {
      throw invalidField(
        '/headers/if-match',
        'If-Match must name the version the change was made to, as the ETag of GET /v1/policies gives it (for example "7").',
      );
    }
    versions.push(version);
  }
  return versions;
}

/** The ETag of a policy set version. */
function etag(version: number): string {
  return `"${version}"`;
}

const EntityUidOut = Type.Object({ type: Type.String(), id: Type.String() });
const EvaluationError = Type.Object({ policyId: Type.String(), message: Type.String() });

/** Cedar policies: the schema, the versioned store, decisions, simulation and findings. */
export const policyRoutes: FastifyPluginAsyncTypebox<{ readonly policies: PolicyService }> = async (
  app,
  { policies },
) => {
  const tags = ['policies'];

  app.get(
    '/v1/policy/schema',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: "Steward's Cedar schema: entity types, actions and the request context",
        description:
          'format=cedar answers the schema as text/plain in Cedar syntax; the default is JSON with both forms.',
        querystring: Strict({
          format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('cedar')])),
        }),
        response: {
          200: Type.Union([
            Type.Object({
              text: Type.String(),
              json: Type.Unknown(),
              actions: Type.Record(Type.String(), Type.String()),
            }),
            Type.String(),
          ]),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      if (request.query.format === 'cedar')
        return reply.type('text/plain; charset=utf-8').send(SCHEMA_TEXT);
      return { text: SCHEMA_TEXT, json: SCHEMA_JSON, actions: { ...ACTIONS } };
    },
  );

  app.get(
    '/v1/policies',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary:
          "The current policy set (an owner sees the policies that name its team's entities)",
        description:
          'The ETag header names the version: send it back as If-Match with PUT /v1/policies so that a change made since is not overwritten.',
        response: { 200: SetView, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const view = await policies.current(changeContext(request));
      return reply.header('etag', etag(view.version)).send(view);
    },
  );

  app.put(
    '/v1/policies',
    {
      bodyLimit: POLICY_BODY_LIMIT_BYTES,
      config: { roles: ['admin', 'security'] },
      schema: {
        tags,
        summary:
          'Write a new version of the policy set; validated against the schema, refused with line/column errors',
        description:
          'The text replaces the whole set: policies it leaves out are removed. Send If-Match with the ETag of the version the change was made to (GET /v1/policies); if another version was stored since, the answer is 412 policy_version_mismatch and nothing is stored. Without If-Match the write is unconditional. Warnings name entities the policies refer to that do not exist.',
        body: WritePoliciesRequest,
        response: { 200: WriteResult, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const written = await policies.put(changeContext(request), {
        ...request.body,
        ifVersion: ifMatch(request.headers['if-match']),
      });
      return reply.header('etag', etag(written.version)).send(written);
    },
  );

  app.get(
    '/v1/policy/versions',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary: 'Policy set versions, newest first',
        querystring: Strict({ ...PageQuery }),
        response: { 200: PageOf(Version), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      policies.versions({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/policy/versions/:version',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary: 'One version with a diff against the version before it',
        params: Strict({ version: VersionNumber }),
        response: { 200: VersionDetail, ...ERROR_RESPONSES },
      },
    },
    async (request) => policies.version(changeContext(request), request.params.version),
  );

  app.post(
    '/v1/policy/rollback',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags,
        summary: 'Restore the text of an earlier version as a new version',
        description: 'Takes If-Match as PUT /v1/policies does.',
        body: RollbackPoliciesRequest,
        response: { 201: WriteResult, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const written = await policies.rollback(changeContext(request), {
        ...request.body,
        ifVersion: ifMatch(request.headers['if-match']),
      });
      return reply.code(201).header('etag', etag(written.version)).send(written);
    },
  );

  app.post(
    '/v1/policy/validate',
    {
      bodyLimit: POLICY_BODY_LIMIT_BYTES,
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary: 'Validate policies against the schema without storing them',
        body: ValidatePoliciesRequest,
        response: {
          200: Type.Object({
            valid: Type.Literal(true),
            policies: Type.Array(Summary),
            warnings: Type.Array(Warning),
            findings: Type.Array(Finding),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => policies.validate(request.body.policies),
  );

  app.post(
    '/v1/authorize',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Decide one request: allow or deny, the determining policies, and why',
        description:
          'The principal is a workload identity (by id) or the access token it holds; a token that does not verify is refused (400 principal_invalid), never allowed. ' +
          'Steward sets context.environment and context.time, and context.task from the token. Every decision is recorded in the trail.',
        body: AuthorizeRequest,
        response: {
          200: Type.Object({
            id: Type.String(),
            decision: Type.Enum(DECISIONS),
            policies: Type.Array(Type.String()),
            errors: Type.Array(EvaluationError),
            explanation: Type.Object({
              kind: Type.Enum(EXPLANATION_KINDS),
              forbiddenBy: Type.Optional(Type.Array(Type.String())),
              scopeMatchedPermits: Type.Array(Type.String()),
            }),
            annotations: Type.Record(Type.String(), Annotations),
            policyVersion: Type.Integer(),
            timeMicros: Type.Integer(),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => policies.authorize(changeContext(request), request.body),
  );

  app.post(
    '/v1/policy/simulate',
    {
      bodyLimit: POLICY_BODY_LIMIT_BYTES,
      config: { roles: ['admin', 'security', 'auditor'] },
      schema: {
        tags,
        summary: 'Replay recorded decisions against draft policies and report which would change',
        body: SimulatePoliciesRequest,
        response: {
          200: Type.Object({
            evaluated: Type.Integer(),
            changed: Type.Integer(),
            unchanged: Type.Integer(),
            skipped: Type.Integer(),
            truncated: Type.Boolean(),
            changes: Type.Array(
              Type.Object({
                event: Type.String(),
                occurredAt: Timestamp,
                principal: EntityUidOut,
                action: Type.String(),
                resource: EntityUidOut,
                before: Type.Object({
                  decision: Type.Enum(DECISIONS),
                  policies: Type.Array(Type.String()),
                  policyVersion: Type.Integer(),
                }),
                after: Type.Object({
                  decision: Type.Enum(DECISIONS),
                  policies: Type.Array(Type.String()),
                  errors: Type.Array(EvaluationError),
                }),
              }),
            ),
            warnings: Type.Array(Warning),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) =>
      policies.simulate({
        policies: request.body.policies,
        since: normalizeTime('since', request.body.since, 'body'),
        until: normalizeTime('until', request.body.until, 'body'),
        limit: request.body.limit,
      }),
  );

  app.get(
    '/v1/policy/findings',
    {
      config: { roles: ['admin', 'security', 'auditor'] },
      schema: {
        tags,
        summary: 'Least-privilege findings on the current policy set',
        response: {
          200: Type.Object({ version: Type.Integer(), findings: Type.Array(Finding) }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async () => policies.findings(),
  );
};
