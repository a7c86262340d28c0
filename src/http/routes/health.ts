import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StewardError } from '../../errors/index.js';
import type { Core } from '../../server/core.js';

/** Liveness, readiness and the OpenAPI document: unauthenticated, and revealing nothing private. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const Status = Type.Object({ status: Type.String() });

  app.get(
    '/healthz',
    {
      schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: Status } },
    },
    async () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database is reachable and every migration has run',
        response: { 200: Type.Object({ status: Type.String(), database: Type.String() }) },
      },
    },
    async (request) => {
      try {
        await core.store.ping();
        if (await core.store.migrationsCurrent())
          return { status: 'ready', database: core.store.dialect };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        throw new StewardError('not_ready', 'The database is not reachable.');
      }
      throw new StewardError('not_ready', 'Database migrations are pending.');
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
