import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES, type Role } from '../../actors/index.js';
import { type IdentityService, type StatusChange } from '../../registry/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { IdentityResource } from '../resources.js';
import { CreateIdentityRequest, ReasonRequest, UpdateIdentityRequest } from '../requests.js';
import {
  Environment,
  ERROR_RESPONSES,
  IdentityStatus,
  IdParams,
  Name,
  PageOf,
  PageQuery,
  Strict,
} from '../schemas.js';

/** Who may make each lifecycle move. Owners can stop their own workloads but not restart one. */
const STATUS_ROUTES: readonly { change: StatusChange; roles: readonly Role[]; summary: string }[] =
  [
    {
      change: 'disable',
      roles: ['admin', 'security', 'owner'],
      summary: 'Disable an identity (reversible)',
    },
    { change: 'enable', roles: ['admin', 'security'], summary: 'Re-enable a disabled identity' },
    {
      change: 'decommission',
      roles: ['admin', 'security', 'owner'],
      summary: 'Decommission an identity (permanent)',
    },
  ];

export const identityRoutes: FastifyPluginAsyncTypebox<{
  readonly identities: IdentityService;
}> = async (app, { identities }) => {
  const tags = ['identities'];

  app.post(
    '/v1/identities',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Create a workload identity for (service, environment, agent path)',
        body: CreateIdentityRequest,
        response: { 201: IdentityResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await identities.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/identities',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List workload identities',
        querystring: Strict({
          service: Type.Optional(Name),
          team: Type.Optional(Name),
          environment: Type.Optional(Environment),
          status: Type.Optional(IdentityStatus),
          spiffeId: Type.Optional(
            Type.String({ maxLength: 512, pattern: '^spiffe://[a-z0-9._-]+(/[a-z0-9._-]+)+$' }),
          ),
          ...PageQuery,
        }),
        response: { 200: PageOf(IdentityResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      identities.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/identities/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'Get a workload identity',
        params: IdParams,
        response: { 200: IdentityResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => identities.get(request.params.id),
  );

  app.patch(
    '/v1/identities/:id',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Update an identity (description, token lifetime)',
        params: IdParams,
        body: UpdateIdentityRequest,
        response: { 200: IdentityResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => identities.update(changeContext(request), request.params.id, request.body),
  );

  for (const { change, roles, summary } of STATUS_ROUTES) {
    app.post(
      `/v1/identities/:id/${change}`,
      {
        config: { roles },
        schema: {
          tags,
          summary,
          params: IdParams,
          body: ReasonRequest,
          response: { 200: IdentityResource, ...ERROR_RESPONSES },
        },
      },
      async (request) =>
        identities.changeStatus(
          changeContext(request),
          request.params.id,
          change,
          request.body.reason,
        ),
    );
  }
};
