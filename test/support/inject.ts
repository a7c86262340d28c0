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
