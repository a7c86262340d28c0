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
