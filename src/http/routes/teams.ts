import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import type { TeamService } from '../../registry/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { TeamResource } from '../resources.js';
import { CreateTeamRequest, UpdateTeamRequest } from '../requests.js';
import { ERROR_RESPONSES, NameParams, PageOf, PageQuery, Strict } from '../schemas.js';

export const teamRoutes: FastifyPluginAsyncTypebox<{ readonly teams: TeamService }> = async (
  app,
  { teams },
) => {
  const tags = ['teams'];

  app.post(
    '/v1/teams',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Create a team',
        body: CreateTeamRequest,
        response: { 201: TeamResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await teams.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/teams',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List teams by name',
        querystring: Strict(PageQuery),
        response: { 200: PageOf(TeamResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      teams.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/teams/:name',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'Get a team',
        params: NameParams,
        response: { 200: TeamResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => teams.get(request.params.name),
  );

  app.patch(
    '/v1/teams/:name',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags,
        summary: "Update a team's contacts (owners: their own team)",
        params: NameParams,
        body: UpdateTeamRequest,
        response: { 200: TeamResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => teams.update(changeContext(request), request.params.name, request.body),
  );

  app.delete(
    '/v1/teams/:name',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Delete a team that owns nothing',
        params: NameParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await teams.delete(changeContext(request), request.params.name);
      return reply.code(204).send(null);
    },
  );
};
