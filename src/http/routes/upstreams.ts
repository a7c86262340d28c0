import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import {
  UPSTREAM_KINDS,
  type EgressAllowlist,
  type Upstream as UpstreamRecord,
  type UpstreamService,
} from '../../upstreams/index.js';
import { invalidField } from '../../errors/index.js';
import { changeContext } from '../plugins/authentication.js';
import { UpstreamResource } from '../resources.js';
import { AllowEgressRequest, CreateUpstreamRequest, UpdateUpstreamRequest } from '../requests.js';
import {
  Enum,
  ERROR_RESPONSES,
  Id,
  Name,
  NameParams,
  PageOf,
  PageQuery,
  Strict,
  Timestamp,
} from '../schemas.js';

/** The API view: the contract's read-only lists, copied for the serialiser's types. */
function view(upstream: UpstreamRecord) {
  return {
    ...upstream,
    operations: [...upstream.operations],
    sensitive: [...upstream.sensitive],
  };
}

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
        body: CreateUpstreamRequest,
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
        body: UpdateUpstreamRequest,
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
        body: AllowEgressRequest,
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
