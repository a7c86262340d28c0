import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import {
  CREDENTIAL_PLACEMENTS,
  UPSTREAM_KINDS,
  UPSTREAM_LIMITS,
  type EgressAllowlist,
  type Upstream as UpstreamRecord,
  type UpstreamService,
} from '../../upstreams/index.js';
import { invalidField } from '../../errors/index.js';
import { changeContext } from '../plugins/authentication.js';
import { UpstreamResource } from '../resources.js';
import {
  DataClassification,
  Enum,
  ERROR_RESPONSES,
  HttpUrl,
  Id,
  Name,
  NameParams,
  PageOf,
  PageQuery,
  Reason,
  Strict,
  Text,
  Timestamp,
} from '../schemas.js';

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

/** The API view: the contract's read-only lists, copied for the serialiser's types. */
function view(upstream: UpstreamRecord) {
  return {
    ...upstream,
    operations: [...upstream.operations],
    sensitive: [...upstream.sensitive],
  };
}

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

const Allow = Type.Object({
  id: Type.String(),
  address: Type.String(),
  reason: Type.String(),
  createdBy: Type.String(),
  createdAt: Timestamp,
});

export const upstreamRoutes: FastifyPluginAsyncTypebox<{
  readonly upstreams: UpstreamService;
  readonly egress: EgressAllowlist;
}> = async (app, { upstreams, egress }) => {
  const tags = ['upstreams'];

  app.post(
    '/v1/upstreams',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Register an upstream (owners: for their own team); the egress guard applies',
        body: Strict({ name: Name, ...UpstreamFields }),
        response: { 201: UpstreamResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(view(await upstreams.create(changeContext(request), request.body))),
  );

  app.get(
    '/v1/upstreams',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List upstreams by name',
        querystring: Strict({
          team: Type.Optional(Name),
          kind: Type.Optional(Enum(UPSTREAM_KINDS)),
          ...PageQuery,
        }),
        response: { 200: PageOf(UpstreamResource), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await upstreams.list({
        ...request.query,
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
      });
      return { ...page, items: page.items.map(view) };
    },
  );

  app.get(
    '/v1/upstreams/:name',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'Get an upstream',
        params: NameParams,
        response: { 200: UpstreamResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => view(await upstreams.get(request.params.name)),
  );

  app.patch(
    '/v1/upstreams/:name',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary:
          'Change an upstream (another team: admin or security; carrying a credential, any change but its limits takes the right to attach that credential)',
        params: NameParams,
        body: Strict({
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
        }),
        response: { 200: UpstreamResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { removeCredential, removeRateLimit, ...changes } = request.body;
      if (removeCredential === true && changes.credential !== undefined) {
        throw invalidField('/body/removeCredential', 'give a credential or remove it, not both');
      }
      if (removeRateLimit === true && changes.rateLimit !== undefined) {
        throw invalidField('/body/removeRateLimit', 'give a rate limit or remove it, not both');
      }
      return view(
        await upstreams.update(changeContext(request), request.params.name, {
          ...changes,
          ...(removeCredential === true ? { credential: null } : {}),
          ...(removeRateLimit === true ? { rateLimit: null } : {}),
        }),
      );
    },
  );

  app.delete(
    '/v1/upstreams/:name',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Delete an upstream',
        params: NameParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await upstreams.delete(changeContext(request), request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/egress/allow',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Allow upstreams to reach an internal address or network (egress guard)',
        body: Strict({
          address: Type.String({
            pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$',
            minLength: 2,
            maxLength: 64,
            description: 'An IP address or a CIDR network.',
          }),
          reason: Reason,
        }),
        response: { 201: Allow, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await egress.allow(changeContext(request), request.body)),
  );

  app.get(
    '/v1/egress/allow',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'List the egress allowlist',
        response: { 200: Type.Object({ items: Type.Array(Allow) }), ...ERROR_RESPONSES },
      },
    },
    async () => ({ items: await egress.list() }),
  );

  app.delete(
    '/v1/egress/allow/:id',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Remove an egress allowlist entry',
        params: Strict({ id: Id }),
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await egress.remove(changeContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
