import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { SecretService } from '../../secrets/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { changeContext } from '../plugins/authentication.js';
import { SecretResource } from '../resources.js';
import { CreateSecretRequest, RotateSecretRequest } from '../requests.js';
import { ERROR_RESPONSES, Name, NameParams, PageOf, PageQuery, Strict } from '../schemas.js';

/** The metadata of a secret. The schema has no field for a value, so none can be serialised. */

export const secretRoutes: FastifyPluginAsyncTypebox<{ readonly secrets: SecretService }> = async (
  app,
  { secrets },
) => {
  const tags = ['secrets'];

  app.post(
    '/v1/secrets',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Store a secret (owners: for their own team); the value is never returned',
        body: CreateSecretRequest,
        response: { 201: SecretResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await secrets.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/secrets',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary: "List secrets' metadata by name (owners: their team's)",
        querystring: Strict({ team: Type.Optional(Name), ...PageQuery }),
        response: { 200: PageOf(SecretResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      secrets.list(changeContext(request), {
        ...request.query,
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
      }),
  );

  app.get(
    '/v1/secrets/:name',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags,
        summary: "Get a secret's metadata: versions, rotation, users",
        params: NameParams,
        response: { 200: SecretResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => secrets.get(changeContext(request), request.params.name),
  );

  app.post(
    '/v1/secrets/:name/rotate',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Store a new value as the next version',
        params: NameParams,
        body: RotateSecretRequest,
        response: { 200: SecretResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      secrets.rotate(changeContext(request), request.params.name, request.body.value),
  );

  app.delete(
    '/v1/secrets/:name',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Delete a secret and its versions (refused while an upstream uses it)',
        params: NameParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await secrets.delete(changeContext(request), request.params.name);
      return reply.code(204).send(null);
    },
  );
};
