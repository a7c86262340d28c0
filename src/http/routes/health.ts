import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { STORAGE_RETRY_AFTER_SECONDS, StewardError } from '../../errors/index.js';
import type { Dialect } from '../../store/index.js';

/** What `/readyz` says for each reason not to be ready; nothing of the driver's text. */
const NOT_READY = {
  unreachable: 'The database is not reachable.',
  migrations_pending: 'Database migrations are pending.',
  writes_failing: 'The database does not accept writes.',
} as const;

/**
 * What `/readyz` asks of the store: whether it can do its work now and, if not, why. The
 * composition root's readiness (reads, migrations, writes) is one.
 */
export interface ReadinessCheck {
  check(): Promise<
    | { readonly ready: true }
    | { readonly ready: false; readonly reason: keyof typeof NOT_READY; readonly error?: unknown }
  >;
}

/** Liveness, readiness and the OpenAPI document: unauthenticated, and revealing nothing private. */
export const healthRoutes: FastifyPluginAsyncTypebox<{
  readonly readiness: ReadinessCheck;
  readonly dialect: Dialect;
}> = async (app, { readiness, dialect }) => {
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
      const report = await readiness.check();
      if (report.ready) return { status: 'ready', database: dialect };
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
