import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import type { ServiceService } from '../../registry/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { ServiceResource } from '../resources.js';
import {
  DataClassification,
  Environment,
  ERROR_RESPONSES,
  HttpUrl,
  Name,
  NameParams,
  PageOf,
  PageQuery,
  Reason,
  Strict,
  Text,
} from '../schemas.js';

const ServiceFields = {
  description: Type.Optional(Text(2000)),
  dataClassification: DataClassification,
  runbookUrl: Type.Optional(HttpUrl),
  rollbackPlan: Type.Optional(
    Text(4000, { description: 'How to roll back a bad release of this service.' }),
  ),
};

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
        body: Strict({ name: Name, team: Name, ...ServiceFields }),
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
        body: Strict({
          team: Type.Optional(Name),
          description: ServiceFields.description,
          dataClassification: Type.Optional(DataClassification),
          runbookUrl: ServiceFields.runbookUrl,
          rollbackPlan: ServiceFields.rollbackPlan,
        }),
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
        body: Strict({
          environments: Type.Array(Environment, { maxItems: 3, uniqueItems: true }),
          reason: Reason,
        }),
        response: { 200: ServiceResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      services.setAdmittedEnvironments(changeContext(request), request.params.name, request.body),
  );
};
