import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  StewardError,
  storageUnavailable,
  type ErrorCode,
  type Problem,
} from '../../errors/index.js';
import { isStoreUnavailable } from '../../store/index.js';
import { OAuthError } from '../../tokens/index.js';
import { fieldErrors } from '../validation.js';

/** Problem-type URIs resolve to the error reference in the docs. */
const PROBLEM_BASE = 'https://steward.dev/problems/';

/**
 * The one place errors become HTTP: RFC 9457 problem documents with a stable `code` and the
 * request id. A storage failure (database down, full, read-only, refusing work) is a 503 with
 * `Retry-After` on every route, logged once in full and described to the client without SQL or
 * driver text. Anything else not raised on purpose is logged in full and answered as a bare 500.
 * Routes that answer a problem without raising one (the HTTP gateway's refusals) send it with
 * `reply.problem`, through the same renderer.
 */
export const problemPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateReply('problem', function (this: FastifyReply, problem: Problem) {
      return sendProblem(this.request, this, problem);
    });
    app.setErrorHandler((error: FastifyError | StewardError | OAuthError, request, reply) => {
      const oauth = request.routeOptions.url?.startsWith('/oauth2/') === true;
      if (isStoreUnavailable(error)) {
        const unavailable = storageUnavailable(error);
        if (!oauth) return sendProblem(request, reply, unavailable);
        request.log.error({ err: error }, unavailable.code);
        return sendOAuthError(
          reply,
          new OAuthError('temporarily_unavailable', unavailable.message),
          unavailable.retryAfterSeconds,
        );
      }
      // The OAuth endpoints speak RFC 6749 errors, not problem documents.
      if (error instanceof OAuthError) {
        if (error.status >= 500) request.log.error({ err: error }, 'oauth server error');
        return sendOAuthError(reply, error);
      }
      const known = toStewardError(error);
      if (known) return sendProblem(request, reply, known);
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(
        request,
        reply,
        new StewardError('internal_error', 'An unexpected error occurred.'),
      );
    });

    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        request,
        reply,
        new StewardError(
          'route_not_found',
          `No route ${request.method} ${request.url.split('?')[0]}.`,
        ),
      ),
    );
  },
  { name: 'problem' },
);

/** An RFC 6749 §5.2 error body, for the `/oauth2/*` endpoints. */
function sendOAuthError(
  reply: FastifyReply,
  error: OAuthError,
  retryAfterSeconds?: number,
): FastifyReply {
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  return reply
    .code(error.status)
    .header('cache-control', 'no-store')
    .type('application/json')
    .serializer(JSON.stringify)
    .send({ error: error.error, error_description: error.description });
}

function toStewardError(error: FastifyError | StewardError): StewardError | undefined {
  if (error instanceof StewardError) return error;
  const fe = error;
  if (fe.validation) {
    const part = fe.validationContext ?? 'body';
    return new StewardError('validation_failed', `The request ${part} is not valid.`, {
      errors: fieldErrors(part, fe.validation),
    });
  }
  const byCode: Partial<Record<string, [ErrorCode, string]>> = {
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'Send application/json.'],
    FST_ERR_CTP_BODY_TOO_LARGE: [
      'payload_too_large',
      'The request body is larger than this endpoint accepts.',
    ],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['bad_request', 'The JSON body is empty.'],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
      'bad_request',
      'The Content-Length header does not match the body.',
    ],
    FST_ERR_CTP_INVALID_JSON_BODY: ['bad_request', 'The body is not valid JSON.'],
    FST_ERR_BAD_URL: ['bad_request', 'The URL is malformed.'],
    FST_ERR_MAX_PARAM_LENGTH: ['bad_request', 'A path segment is longer than this API accepts.'],
    FST_ERR_ASYNC_CONSTRAINT: ['bad_request', 'The request could not be routed.'],
  };
  const mapped = fe.code ? byCode[fe.code] : undefined;
  if (mapped) return new StewardError(mapped[0], mapped[1]);
  // JSON.parse failures surface as SyntaxError with a 400 status.
  if (fe instanceof SyntaxError || fe.statusCode === 400)
    return new StewardError('bad_request', 'The body is not valid JSON.');
  if (fe.statusCode === 413)
    return new StewardError('payload_too_large', 'The request body is too large.');
  if (fe.statusCode === 415)
    return new StewardError('unsupported_media_type', 'Send application/json.');
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new StewardError('bad_request', 'The request is malformed.');
  }
  return undefined;
}

/**
 * For Fastify's `frameworkErrors` option: failures before routing (a malformed URL, an over-long
 * path segment), which never reach the error handler, answered as problems all the same.
 */
export function sendFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  sendProblem(
    request,
    reply,
    toStewardError(error) ?? new StewardError('bad_request', 'The request is malformed.'),
  );
}

declare module 'fastify' {
  interface FastifyReply {
    /** Answers with `problem` as `application/problem+json` (see {@link sendProblem}). */
    problem(problem: Problem): FastifyReply;
  }
}

/** Sends `error` as `application/problem+json`. Exported for hooks that answer early. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: Problem,
): FastifyReply {
  const body = {
    type: PROBLEM_BASE + error.code,
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId: request.id,
    ...(error.errors !== undefined && error.errors.length > 0 ? { errors: error.errors } : {}),
    ...(error.recordId !== undefined ? { recordId: error.recordId } : {}),
  };
  // Also set by the app's onSend hook, which errors raised before routing do not pass through.
  reply.header('x-request-id', request.id);
  if (error.status === 401)
    reply.header('www-authenticate', error.challenge ?? 'Bearer realm="steward"');
  if (error.retryAfterSeconds !== undefined)
    reply.header('retry-after', String(error.retryAfterSeconds));
  if (error.recordId !== undefined) reply.header('x-steward-record', error.recordId);
  if (error.status >= 500 && error.internal !== undefined)
    request.log.error(
      error.internal instanceof Error ? { err: error.internal } : { detail: error.internal },
      error.code,
    );
  return reply
    .code(error.status)
    .type('application/problem+json')
    .serializer(JSON.stringify)
    .send(body);
}
