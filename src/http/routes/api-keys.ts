import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiKeyService } from '../../access/index.js';
import { ROLES } from '../../actors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { ApiKeyResource, CreatedApiKeyResource } from '../resources.js';
import { CreateApiKeyRequest } from '../requests.js';
import { ERROR_RESPONSES, IdParams, PageOf, PageQuery, Strict } from '../schemas.js';

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ readonly apiKeys: ApiKeyService }> = async (
  app,
  { apiKeys },
) => {
  const tags = ['api-keys'];

  app.post(
    '/v1/api-keys',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Create an API key; the secret is in this response only',
        body: CreateApiKeyRequest,
        response: { 201: CreatedApiKeyResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      // The response carries a secret: no intermediary may keep it.
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(await apiKeys.create(changeContext(request), request.body));
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'List API keys (never their secrets)',
        querystring: Strict({ includeRevoked: Type.Optional(Type.Boolean()), ...PageQuery }),
        response: { 200: PageOf(ApiKeyResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      apiKeys.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.get(
    '/v1/api-keys/:id',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Get an API key',
        params: IdParams,
        response: { 200: ApiKeyResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => apiKeys.get(request.params.id),
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Revoke an API key, at once',
        params: IdParams,
        response: { 200: ApiKeyResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => apiKeys.revoke(changeContext(request), request.params.id),
  );

  app.get(
    '/v1/whoami',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: 'The caller: key reference, role and team',
        response: {
          200: Type.Object({
            actor: Type.String(),
            role: Type.String(),
            team: Type.Union([Type.String(), Type.Null()]),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => ({
      actor: request.actor.ref,
      role: request.actor.role,
      team: request.actor.teamName ?? null,
    }),
  );
};
