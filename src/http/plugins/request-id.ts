import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The caller's own `x-request-id`, when it is short and plain: kept beside Steward's id (in
     * the log and the trail) for the caller's correlation, never instead of it.
     */
    clientRequestId: string | undefined;
  }
}

/** The longest client request id kept; a longer or stranger one is dropped, not truncated. */
const MAX_CLIENT_REQUEST_ID = 64;
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]+$/;

/**
 * Steward's own id for a request: always made here, never taken from the caller, so that a
 * client cannot choose the id the trail and the log file its actions under (and so forge a
 * correlation with someone else's request).
 */
export function newRequestId(): string {
  return randomUUID();
}

/**
 * The caller's `x-request-id` when it is 1 to 64 characters of `A-Z a-z 0-9 . _ : -` and sent
 * once; otherwise undefined. The length is checked before the pattern.
 */
export function clientRequestId(headers: IncomingHttpHeaders): string | undefined {
  const offered = headers['x-request-id'];
  return typeof offered === 'string' &&
    offered.length <= MAX_CLIENT_REQUEST_ID &&
    CLIENT_REQUEST_ID.test(offered)
    ? offered
    : undefined;
}

/** Puts the caller's request id on the request, for the change context of the trail. */
export const requestIdPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('clientRequestId', undefined);
    app.addHook('onRequest', async (request) => {
      request.clientRequestId = clientRequestId(request.headers);
    });
  },
  { name: 'request-id' },
);
