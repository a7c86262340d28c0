import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { queryAudit } from '../../audit/index.js';
import { invalidField } from '../../errors/index.js';
import { DEFAULT_PAGE_SIZE } from '../../shared/cursor.js';
import type { Database } from '../../store/index.js';
import { AuditEventResource } from '../resources.js';
import { ERROR_RESPONSES, Id, Name, PageOf, PageQuery, Strict, Timestamp } from '../schemas.js';

export const auditRoutes: FastifyPluginAsyncTypebox<{ readonly db: Kysely<Database> }> = async (
  app,
  { db },
) => {
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
            Type.String({ maxLength: 100, pattern: '^(system|(apikey|workload):[0-9a-f-]{36})$' }),
          ),
          since: Type.Optional(Timestamp),
          until: Type.Optional(Timestamp),
          order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
          ...PageQuery,
        }),
        response: { 200: PageOf(AuditEventResource), ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      queryAudit(db, {
        ...request.query,
        since: normalizeTime('since', request.query.since),
        until: normalizeTime('until', request.query.until),
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
      }),
  );
};

/**
 * Stored times are UTC ISO strings; a filter given with an offset is converted to compare right.
 * RFC 3339 allows a leap second (`23:59:60`), which `Date` cannot read: it is taken as the instant
 * after it. Years outside 1–9999 (reachable through an offset) are refused: neither database
 * compares them correctly.
 */
export function normalizeTime(
  name: string,
  value: string | undefined,
  part: 'query' | 'body' = 'query',
): string | undefined {
  if (value === undefined) return undefined;
  const leap = /^(.*[Tt ]\d\d:\d\d):60(.*)$/.exec(value);
  const ms = leap ? Date.parse(`${leap[1]}:59${leap[2]}`) + 1000 : Date.parse(value);
  const iso = Number.isNaN(ms) ? '' : new Date(ms).toISOString();
  if (!/^(?!0000)\d{4}-/.test(iso)) {
    throw invalidField(`/${part}/${name}`, 'must be a time between the years 1 and 9999 (UTC)');
  }
  return iso;
}
