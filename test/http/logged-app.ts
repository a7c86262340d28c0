/**
 * A second HTTP app over a test app's core whose JSON log lines are kept, parsed, for tests that
 * check what is logged (and what is not).
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/index.js';
import { createLogger, type Core } from '../../src/server/index.js';

export async function loggedApp(
  core: Core,
): Promise<{ app: FastifyInstance; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const { app } = await buildHttpApp({ core, logger: createLogger('info', sink) });
  return { app, lines };
}
