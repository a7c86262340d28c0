import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { queryAudit } from '../../audit/index.js';
import type { Core } from '../../server/core.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import { ERROR_RESPONSES, Id, Name, PageOf, PageQuery, Strict, Timestamp } from '../schemas.js';

const AuditEvent = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  occurredAt: Timestamp,
  type: Type.String(),
  actor: Type.String(),
  actorRole: Type.String(),
  requestId: Type.Union([Type.String(), Type.Null()]),
  target: Type.Object({ kind: Type.String(), id: Type.String() }),
  team: Type.Union([Type.String(), Type.Null()]),
  service: Type.Union([Type.String(), Type.Null()]),
  identity: Type.Union([Type.String(), Type.Null()]),
  before: Type.Unknown(),
  after: Type.Unknown(),
});

export const auditRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  app.get(
    '/v1/audit',
    {
      config: { roles: ['admin', 'security', 'auditor'] },
      schema: {
        tags: ['audit'],
        summary: 'Read the trail, newest first (order=asc: oldest first), with keyset pagination',
        querystring: Strict({
          type: Type.Optional(
            Type.String({
              pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*\\.?$',
              maxLength: 100,
              description:
                'An event type ("identity.created") or a prefix ending in "." ("identity.").',
            }),
          ),
          identity: Type.Optional(Id),
          service: Type.Optional(Name),
          team: Type.Optional(Name),
          actor: Type.Optional(
            Type.String({ maxLength: 100, pattern: '^(system|apikey:[0-9a-f-]{36})$' }),
          ),
          since: Type.Optional(Timestamp),
          until: Type.Optional(Timestamp),
          order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
          ...PageQuery,
        }),
        response: { 200: PageOf(AuditEvent), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      queryAudit(core.store.db, {
        ...request.query,
        since: normalizeTime(request.query.since),
        until: normalizeTime(request.query.until),
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
      }),
  );
};

/** Stored times are UTC ISO strings; a filter given with an offset is converted to compare right. */
function normalizeTime(value: string | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value).toISOString();
}
