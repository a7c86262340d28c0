import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';

/**
 * A JSON call to the admin API through `inject`, with an API key, that must answer `status`
 * (201 for POST, 200 otherwise, unless told); returns the parsed body.
 */
export async function adminCall<T = Record<string, unknown>>(
  app: FastifyInstance,
  key: string,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  status = method === 'POST' ? 201 : 200,
): Promise<T> {
  const response = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}` },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
  assert.equal(response.statusCode, status, `${method} ${url}: ${response.body}`);
  return (response.body === '' ? {} : response.json()) as T;
}

/**
 * An access token of workload `identity` for `audience`, got as an agent gets one: a fresh join
 * token (through the admin API with `key`), exchanged at `/oauth2/token`; with `task`, bound to it.
 */
export async function workloadToken(
  app: FastifyInstance,
  key: string,
  identity: string,
  options: { audience: string; task?: string | undefined },
): Promise<string> {
  const { token: join } = await adminCall<{ token: string }>(
    app,
    key,
    'POST',
    `/v1/identities/${identity}/join-tokens`,
    { ttlSeconds: 600 },
  );
  const response = await app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: join,
      subject_token_type: 'urn:steward:token-type:join-token',
      audience: options.audience,
      ...(options.task !== undefined ? { task: options.task } : {}),
    }).toString(),
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<{ access_token: string }>().access_token;
}
