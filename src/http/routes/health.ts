import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { STORAGE_RETRY_AFTER_SECONDS, StewardError } from '../../errors/index.js';
import type { Core } from '../../server/core.js';

/** What `/readyz` says for each reason not to be ready; nothing of the driver's text. */
const NOT_READY = {
  unreachable: 'The database is not reachable.',
  migrations_pending: 'Database migrations are pending.',
  writes_failing: 'The database does not accept writes.',
} as const;

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
        summary: 'The database is reachable, takes writes, and every migration has run',
        response: { 200: Type.Object({ status: Type.String(), database: Type.String() }) },
      },
    },
    async (request) => {
      const report = await core.readiness.check();
      if (report.ready) return { status: 'ready', database: core.store.dialect };
      request.log.warn(
        { reason: report.reason, ...(report.error === undefined ? {} : { err: report.error }) },
        'readiness check failed',
      );
      throw new StewardError('not_ready', NOT_READY[report.reason], {
        retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS,
      });
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
