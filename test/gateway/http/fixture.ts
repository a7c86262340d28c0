/**
 * The HTTP gateway under test: a real Steward listening on a loopback port, a real HTTP API (node:http)
 * behind it registered through the admin API, and tokens obtained through /oauth2/token as agents do.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { buildHttpApp } from '../../../src/http/index.js';
import type { CoreOptions } from '../../../src/server/core.js';
import { createCore, createLogger, type Core } from '../../../src/server/index.js';
import { ManualClock } from '../../support/clock.js';
import type { TestDatabase, TestStore } from '../../support/databases.js';
import { adminCall, workloadToken } from '../../support/inject.js';

export const ISSUER = 'http://steward.test';
export const UPSTREAM = 'billing';
export const UPSTREAM_KEY = 'upstream-real-key-0123456789';
export const TEAM = 'finance';
export const SERVICE = 'invoice-agent';

/** GET and POST anywhere on the upstream, but never its admin routes or the refund operation. */
export const POLICIES = `
@id("billing-read-write")
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"http_request", resource in Steward::Upstream::"${UPSTREAM}")
  when { context has method && (context.method == "GET" || context.method == "POST") };
@id("no-admin")
forbid(principal, action == Steward::Action::"http_request", resource)
  when { context has path && context.path like "/admin*" };
@id("no-refunds")
forbid(principal, action == Steward::Action::"http_request", resource == Steward::Operation::"${UPSTREAM}/refund");
`;

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A small HTTP API that records what reached it. `/slow` answers late; `/big` answers large. */
export interface TestUpstream {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

export async function startUpstream(): Promise<TestUpstream> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      if (req.url?.startsWith('/slow')) {
        setTimeout(() => res.end('late'), 2_000).unref();
        return;
      }
      if (req.url?.startsWith('/echo')) {
        // The request body back as the result: a leak in either direction.
        res.setHeader('content-type', 'application/json');
        res.end(Buffer.concat(chunks));
        return;
      }
      if (req.url?.startsWith('/reflect')) {
        // Every request header back, as response headers and in the body (also as a base64
        // dump, as debugging endpoints do); gzipped whatever the request accepted on
        // `/reflect/gzip`; in headers only on `/reflect/headers`.
        const dump = JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        for (const [name, value] of Object.entries(req.headers)) {
          if (typeof value === 'string' && name !== 'connection') {
            res.setHeader(`x-echo-${name}`, value);
          }
        }
        res.setHeader('content-type', 'application/json');
        if (req.url.startsWith('/reflect/headers')) {
          res.end('{}');
          return;
        }
        const payload = JSON.stringify({
          echo: JSON.parse(dump) as unknown,
          base64: Buffer.from(dump).toString('base64'),
        });
        if (req.url.startsWith('/reflect/gzip')) {
          res.setHeader('content-encoding', 'gzip');
          res.end(gzipSync(payload));
          return;
        }
        res.end(payload);
        return;
      }
      if (req.url?.startsWith('/zstd')) {
        // An encoding the gateway does not decode.
        res.setHeader('content-encoding', 'zstd');
        res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
        return;
      }
      if (req.url?.startsWith('/empty-gzip')) {
        // Declared compressed, and empty, as some servers answer.
        res.setHeader('content-encoding', 'gzip');
        res.end();
        return;
      }
      if (req.url?.startsWith('/whoami')) {
        // Basic authentication decoded, user and password told apart, as "who am I" routes do.
        const basic = /^Basic (.*)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        const [user, password] = Buffer.from(basic, 'base64').toString('utf8').split(':');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ user, password }));
        return;
      }
      if (req.url?.startsWith('/big')) {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.alloc(64 * 1024, 1));
        return;
      }
      if (req.url?.startsWith('/stream-big')) {
        // No Content-Length: the limit can only be found while streaming.
        res.write(Buffer.alloc(40 * 1024, 1));
        res.end(Buffer.alloc(40 * 1024, 1));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'x-upstream-private');
      res.setHeader('x-upstream-private', 'hop');
      res.end(JSON.stringify({ ok: true, path: req.url, bytes: Buffer.concat(chunks).length }));
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestGateway {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly core: Core;
  readonly store: TestStore;
  readonly clock: ManualClock;
  readonly upstream: TestUpstream;
  readonly identity: string;
  readonly otherIdentity: string;
  admin<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    status?: number,
  ): Promise<T>;
  /** A fresh access token of `identity` (default: the permitted workload) for `audience`. */
  token(options?: { identity?: string; audience?: string; task?: string }): Promise<string>;
  /** Audit events of `type`, oldest first, with `after` parsed. */
  events(
    type: string,
  ): Promise<{ targetId: string; identityId: string | null; after: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

export async function startGateway(
  database: TestDatabase,
  upstreamOptions: Record<string, unknown> = {},
  coreOptions: Partial<Pick<CoreOptions, 'resolveHost' | 'otlpEndpoint' | 'rateLimits'>> = {},
): Promise<TestGateway> {
  const store = await database.open();
  const clock = new ManualClock(Date.now());
  const core = createCore({
    store,
    clock,
    trustDomain: 'example.test',
    issuer: ISSUER,
    masterKey: randomBytes(32),
    ...coreOptions,
  });
  await core.start({ jobs: false });
  const logger = createLogger(process.env['STEWARD_TEST_LOG'] ?? 'silent');
  const { app } = await buildHttpApp({ core, logger });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const { key } = await core.apiKeys.create(
    { actor: SYSTEM_ACTOR },
    { name: 'http gateway tests', role: 'admin' },
  );
  const admin = <T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    status?: number,
  ): Promise<T> => adminCall<T>(app, key, method, url, body, status);
  const upstream = await startUpstream();
  await admin('POST', '/v1/teams', {
    name: TEAM,
    contact: 'f@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: SERVICE,
    team: TEAM,
    dataClassification: 'confidential',
  });
  await admin('POST', '/v1/services', {
    name: 'other-agent',
    team: TEAM,
    dataClassification: 'internal',
  });
  const { id: identity } = await admin<{ id: string }>('POST', '/v1/identities', {
    service: SERVICE,
    environment: 'sandbox',
    agentPath: 'worker',
  });
  const { id: otherIdentity } = await admin<{ id: string }>('POST', '/v1/identities', {
    service: 'other-agent',
    environment: 'sandbox',
    agentPath: 'worker',
  });
  await admin('POST', '/v1/egress/allow', { address: '127.0.0.1', reason: 'test upstreams' });
  await admin('POST', '/v1/secrets', { name: 'billing-key', value: UPSTREAM_KEY, team: TEAM });
  await admin('POST', '/v1/upstreams', {
    name: UPSTREAM,
    kind: 'http',
    url: upstream.url,
    team: TEAM,
    classification: 'confidential',
    credential: { secret: 'billing-key', in: 'header', name: 'x-api-key', format: '{secret}' },
    operations: [{ name: 'refund', method: 'POST', path: '/refunds/:id', sensitive: true }],
    timeoutMs: 500,
    maxRequestBytes: 1024,
    maxResponseBytes: 32 * 1024,
    ...upstreamOptions,
  });
  await admin('PUT', '/v1/policies', { policies: POLICIES, message: 'http gateway tests' });

  return {
    url,
    app,
    core,
    store,
    clock,
    upstream,
    identity,
    otherIdentity,
    admin,
    token: (options = {}) =>
      workloadToken(app, key, options.identity ?? identity, {
        audience: options.audience ?? UPSTREAM,
        task: options.task,
      }),
    async events(type) {
      await core.gateway.drain();
      const rows = await store.db
        .selectFrom('audit_events')
        .select(['target_id', 'identity_id', 'after'])
        .where('type', '=', type)
        .orderBy('seq')
        .execute();
      return rows.map((row) => ({
        targetId: row.target_id,
        identityId: row.identity_id,
        after: JSON.parse(row.after ?? '{}') as Record<string, unknown>,
      }));
    },
    async close() {
      await app.close();
      await core.stop();
      await upstream.close();
      await store.dispose();
    },
  };
}

/** An agent's call as it came back: status, headers and text. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Record<string, unknown>;
}

/** One call through the gateway with undici, as an agent makes it. */
export async function call(
  g: TestGateway,
  path: string,
  options: {
    token?: string | undefined;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer | Readable;
  } = {},
): Promise<Answer> {
  const response = await request(`${g.url}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: {
      ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.headers ?? {}),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

/** Sends raw bytes and returns the raw answer: for requests no client library would send. */
export function raw(g: TestGateway, bytes: string): Promise<string> {
  const { hostname, port } = new URL(g.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    socket.setTimeout(5_000, () => socket.destroy());
    let out = '';
    socket.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

/** `answer` is a problem+json refusal with `status` and `code`. */
export function assertProblem(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(String(answer.headers['content-type']), /application\/problem\+json/);
  assert.equal(answer.json()['code'], code);
}
