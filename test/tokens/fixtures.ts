/**
 * What the token tests share: registering workloads through the API, the OAuth endpoints with
 * form bodies, and short ways to ask "is this token accepted, and if not, why".
 */
import assert from 'node:assert/strict';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { TokenError } from '../../src/tokens/index.js';
import { OWNER_TEAM, type TestApp } from '../support/app.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JOIN_TOKEN = 'urn:steward:token-type:join-token';
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN = 'urn:ietf:params:oauth:token-type:jwt';

export interface Workload {
  readonly id: string;
  readonly spiffeId: string;
  readonly service: string;
  readonly environment: string;
}

/** An `application/x-www-form-urlencoded` POST, the way OAuth clients send one. */
export function postForm(
  t: TestApp,
  url: string,
  params: Readonly<Record<string, string>> | string,
  as: Parameters<TestApp['call']>[0] = null,
): Promise<LightMyRequestResponse> {
  const payload = typeof params === 'string' ? params : new URLSearchParams(params).toString();
  return t.call(as, {
    method: 'POST',
    url,
    payload,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** A JSON call that must succeed with `status`; returns the parsed body. */
export async function api<T = Record<string, unknown>>(
  t: TestApp,
  as: Parameters<TestApp['call']>[0],
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  status = method === 'POST' ? 201 : 200,
): Promise<T> {
  const response = await t.call(as, {
    method,
    url,
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
  assert.equal(response.statusCode, status, `${method} ${url}: ${response.body}`);
  return response.body === '' ? ({} as T) : response.json<T>();
}

export async function createService(t: TestApp, name: string): Promise<void> {
  await api(t, 'admin', 'POST', '/v1/services', {
    name,
    team: OWNER_TEAM,
    dataClassification: 'confidential',
  });
}

export async function createIdentity(
  t: TestApp,
  service: string,
  agentPath: string,
  options: { environment?: string; maxSessionSeconds?: number } = {},
): Promise<Workload> {
  const environment = options.environment ?? 'sandbox';
  const created = await api<{ id: string; spiffeId: string }>(
    t,
    'admin',
    'POST',
    '/v1/identities',
    {
      service,
      environment,
      agentPath,
      ...(options.maxSessionSeconds === undefined
        ? {}
        : { maxSessionSeconds: options.maxSessionSeconds }),
    },
  );
  return { id: created.id, spiffeId: created.spiffeId, service, environment };
}

export async function joinToken(t: TestApp, identity: string, ttlSeconds = 600): Promise<string> {
  const created = await api<{ token: string }>(
    t,
    'owner',
    'POST',
    `/v1/identities/${identity}/join-tokens`,
    { ttlSeconds },
  );
  assert.match(created.token, /^stw_join_/);
  return created.token;
}

export function exchange(
  t: TestApp,
  subjectToken: string,
  subjectTokenType: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<LightMyRequestResponse> {
  return postForm(t, '/oauth2/token', {
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: subjectTokenType,
    ...extra,
  });
}

/** The access token of a successful exchange (asserting RFC 8693 §2.2.1's response). */
export async function issued(response: Promise<LightMyRequestResponse>): Promise<string> {
  const res = await response;
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.headers['cache-control'], 'no-store');
  const body = res.json<{ access_token: string; issued_token_type: string; token_type: string }>();
  assert.equal(body.issued_token_type, ACCESS_TOKEN);
  assert.equal(body.token_type, 'Bearer');
  return body.access_token;
}

/** A fresh join token for `identity`, exchanged: the first token of a new session. */
export async function attest(
  t: TestApp,
  identity: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<string> {
  return issued(exchange(t, await joinToken(t, identity), JOIN_TOKEN, extra));
}

/** Renewal: a still-valid Steward token for a new one. */
export function renew(
  t: TestApp,
  token: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<string> {
  return issued(exchange(t, token, ACCESS_TOKEN, extra));
}

/** The OAuth error code of a refused request (RFC 6749 §5.2: 400 and a JSON body). */
export async function oauthError(response: Promise<LightMyRequestResponse>): Promise<string> {
  const res = await response;
  assert.equal(res.statusCode, 400, res.body);
  const body = res.json<{ error: string; error_description: string }>();
  assert.equal(typeof body.error_description, 'string');
  return body.error;
}

/** `ok`, or the code Steward's verifier refuses the token with. */
export function verdict(t: TestApp, token: string, audience?: string | readonly string[]): string {
  try {
    t.core.verifier.verify(token, audience);
    return 'ok';
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
}

/** RFC 7662 introspection with an admin key. */
export async function introspect(t: TestApp, token: string): Promise<Record<string, unknown>> {
  const res = await postForm(t, '/oauth2/introspect', { token }, 'security');
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** Opens a task for `identity` (as admin); returns its id. */
export async function openTask(t: TestApp, identity: string, deadlineSeconds = 3600) {
  const task = await api<{ id: string }>(t, 'admin', 'POST', '/v1/tasks', {
    identity,
    deadlineSeconds,
  });
  return task.id;
}

/** A workload-authenticated call: GET /v1/tasks/{task} with the access token. */
export async function workloadCall(t: TestApp, token: string, task: string): Promise<number> {
  const res = await t.call({ key: token }, { method: 'GET', url: `/v1/tasks/${task}` });
  return res.statusCode;
}

export function claimsOf(token: string): JWTPayload & Record<string, unknown> {
  return decodeJwt(token);
}

export function kidOf(token: string): string | undefined {
  return decodeProtectedHeader(token).kid;
}

export async function revoke(t: TestApp, body: Record<string, unknown>): Promise<void> {
  await api(t, 'security', 'POST', '/v1/revocations', { reason: 'test', ...body });
}
