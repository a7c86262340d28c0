import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { type TaskService } from '../../tasks/index.js';
import { changeContext } from '../plugins/authentication.js';
import { TaskResource } from '../resources.js';
import { OpenTaskRequest } from '../requests.js';
import { ERROR_RESPONSES, Id, IdParams, PageOf, PageQuery, Strict } from '../schemas.js';

/** Tasks: opened and completed by the workload itself (its access token) or by its owners. */
export const taskRoutes: FastifyPluginAsyncTypebox<{ readonly tasks: TaskService }> = async (
  app,
  { tasks },
) => {
  const tags = ['tasks'];
  app.post(
    '/v1/tasks',
    {
      config: { roles: ['admin', 'owner'], workload: true },
      schema: {
        tags,
        summary: 'Open a task; tokens issued for it die when it completes or reaches its deadline',
        body: OpenTaskRequest,
        response: { 201: TaskResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await tasks.open(changeContext(request), request.body)),
  );

  app.get(
    '/v1/tasks',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'List tasks',
        querystring: Strict({
          identity: Type.Optional(Id),
          status: Type.Optional(
            Type.Union([Type.Literal('open'), Type.Literal('completed'), Type.Literal('expired')]),
          ),
          ...PageQuery,
        }),
        response: { 200: PageOf(TaskResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      tasks.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/tasks/:id',
    {
      config: { roles: ROLES, workload: true },
      schema: {
        tags,
        summary: 'Get a task',
        params: IdParams,
        response: { 200: TaskResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => tasks.get(changeContext(request), request.params.id),
  );

  app.post(
    '/v1/tasks/:id/complete',
    {
      config: { roles: ['admin', 'owner'], workload: true },
      schema: {
        tags,
        summary: 'Complete a task and revoke its tokens at once',
        params: IdParams,
        response: { 200: TaskResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => tasks.complete(changeContext(request), request.params.id),
  );
};
