import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import type { PersonService } from '../../registry/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { PersonResource } from '../resources.js';
import { CreatePersonRequest, UpdatePersonRequest } from '../requests.js';
import { ERROR_RESPONSES, IdParams, Name, PageOf, PageQuery, Strict } from '../schemas.js';

export const peopleRoutes: FastifyPluginAsyncTypebox<{ readonly people: PersonService }> = async (
  app,
  { people },
) => {
  const tags = ['people'];

  app.post(
    '/v1/people',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Add a person to a team (owners: their own team)',
        body: CreatePersonRequest,
        response: { 201: PersonResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await people.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/people',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List people',
        querystring: Strict({ team: Type.Optional(Name), ...PageQuery }),
        response: { 200: PageOf(PersonResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      people.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/people/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'Get a person',
        params: IdParams,
        response: { 200: PersonResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => people.get(request.params.id),
  );

  app.patch(
    '/v1/people/:id',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: 'Update a person (owners: their own team)',
        params: IdParams,
        body: UpdatePersonRequest,
        response: { 200: PersonResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => people.update(changeContext(request), request.params.id, request.body),
  );
};
