import pino, { type Logger } from 'pino';

/**
 * The process logger: JSON lines, with every place a credential could appear redacted once,
 * here, rather than trusted to each call site.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'steward' },
      serializers: { req: serializeRequest },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'res.headers["set-cookie"]',
          '*.key',
          '*.token',
          '*.secret',
          '*.password',
          '*.masterKey',
          '*.adminKey',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * Secrets a client may put in a URL (a key or token in the query string, by mistake or by a
 * client that knows no better): Steward secrets, JWTs, and the values of parameters named like
 * credentials. The URL is logged on every request, so it is cleaned here, once.
 */
const SECRET_IN_URL = /stw_[a-z]+_[0-9A-Za-z]+|eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
const CREDENTIAL_PARAM =
  /([?&][^=&#]*(?:key|token|secret|password|assertion|code)[^=&#]*=)[^&#]*/gi;

/** Redacts what {@link SECRET_IN_URL} and {@link CREDENTIAL_PARAM} match in `url`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_IN_URL, '[redacted]').replace(CREDENTIAL_PARAM, '$1[redacted]');
}

/** Fastify's request serializer, with the URL redacted. */
function serializeRequest(request: {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
}): Record<string, unknown> {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
  };
}
