import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import type { ServiceService } from '../../registry/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { ServiceResource } from '../resources.js';
import {
  AdmitEnvironmentsRequest,
  CreateServiceRequest,
  UpdateServiceRequest,
} from '../requests.js';
import { ERROR_RESPONSES, Name, NameParams, PageOf, PageQuery, Strict } from '../schemas.js';

export const serviceRoutes: FastifyPluginAsyncTypebox<{
  readonly services: ServiceService;
}> = async (app, { services }) => {
  const tags = ['services'];

  app.post(
    '/v1/services',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Register a service (owners: for their own team)',
        body: CreateServiceRequest,
        response: { 201: ServiceResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/services',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List services by name',
        querystring: Strict({ team: Type.Optional(Name), ...PageQuery }),
        response: { 200: PageOf(ServiceResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      services.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/services/:name',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'Get a service',
        params: NameParams,
        response: { 200: ServiceResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => services.get(request.params.name),
  );

  app.patch(
    '/v1/services/:name',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Update a service (moving it to another team: admins only)',
        params: NameParams,
        body: UpdateServiceRequest,
        response: { 200: ServiceResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => services.update(changeContext(request), request.params.name, request.body),
  );

  app.put(
    '/v1/services/:name/admitted-environments',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags,
        summary: 'Set the environments a service is admitted to (sandbox is implied)',
        params: NameParams,
        body: AdmitEnvironmentsRequest,
        response: { 200: ServiceResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      services.setAdmittedEnvironments(changeContext(request), request.params.name, request.body),
  );
};
