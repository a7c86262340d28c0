import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { invalidField } from '../../errors/index.js';
import { REVOCATION_KINDS } from '../../revocation/index.js';
import type { Inventory, RevocationRequest, Revoker } from '../../tokens/index.js';
import { changeContext } from '../plugins/authentication.js';
import { IssuedTokenResource } from '../resources.js';
import { RevokeRequest } from '../requests.js';
import { ERROR_RESPONSES, Id, Name, PageOf, PageQuery, Strict } from '../schemas.js';

/** Token inventory and revocation by operators. */
export const revocationRoutes: FastifyPluginAsyncTypebox<{
  readonly revoker: Revoker;
  readonly inventory: Inventory;
}> = async (app, { revoker, inventory }) => {
  app.get(
    '/v1/tokens',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags: ['tokens'],
        summary:
          'The token inventory, newest first: metadata of every issued token, never the token',
        querystring: Strict({
          identity: Type.Optional(Id),
          task: Type.Optional(Id),
          session: Type.Optional(Id),
          service: Type.Optional(Name),
          ...PageQuery,
        }),
        response: { 200: PageOf(IssuedTokenResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      inventory.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }),
  );

  app.post(
    '/v1/revocations',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags: ['tokens'],
        summary:
          'Revoke a token, a lineage, an identity, a service in an environment (kill switch) or a task',
        description:
          'kind=token needs jti; kind=lineage needs jti (that token and every token renewed from it; the root of a session revokes the session); ' +
          'kind=identity needs identity; kind=service_environment needs service and environment; kind=task needs task.',
        body: RevokeRequest,
        response: {
          201: Type.Object({ kind: Type.Enum(REVOCATION_KINDS), entries: Type.Integer() }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const kind: RevocationRequest['kind'] = body.kind;
      const need = (field: 'jti' | 'identity' | 'service' | 'environment' | 'task'): string => {
        const value = body[field];
        if (value === undefined)
          throw invalidField(`/body/${field}`, `is required for kind ${kind}`);
        return value;
      };
      const target: RevocationRequest =
        kind === 'token' || kind === 'lineage'
          ? { kind, jti: need('jti') }
          : kind === 'identity'
            ? { kind, identity: need('identity') }
            : kind === 'service_environment'
              ? { kind, service: need('service'), environment: need('environment') }
              : { kind, task: need('task') };
      return reply
        .code(201)
        .send(await revoker.revoke(changeContext(request), target, body.reason));
    },
  );
};
