/**
 * The OAuth endpoints (`/oauth2/token`, `/oauth2/introspect`, `/oauth2/revoke`) take form bodies
 * and answer RFC 6749 errors, not the JSON and problem documents the SDK's client speaks. This is
 * the small client for them: a form POST with a time limit, whose failures become the same exit
 * codes as the rest of the CLI.
 */
import { StewardApiError, StewardUnreachableError } from '@steward/sdk';
import type { Command } from 'commander';
import { OAuthRefusal, stewardUrl } from './context.js';

/** As the SDK's client: no call waits forever. */
const TIMEOUT_MS = 10_000;

/**
 * POSTs `form` (empty values left out) to `path` on Steward, with `credential` as a bearer token
 * when given, and resolves to the JSON answer. Throws {@link OAuthRefusal} for an OAuth error,
 * `StewardApiError` for a problem document (the API-key check answers those), and
 * `StewardUnreachableError` when Steward cannot be reached.
 */
export async function postForm<T>(
  command: Command,
  path: string,
  form: Readonly<Record<string, string | undefined>>,
  credential?: string,
): Promise<T> {
  const url = stewardUrl(command);
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) {
    if (value !== undefined && value !== '') body.set(key, value);
  }
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (credential !== undefined) headers['authorization'] = `Bearer ${credential}`;
  let response: Response;
  try {
    response = await fetch(url + path, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new StewardUnreachableError(url, error);
  }
  const text = await response.text();
  const json = parseObject(text);
  if (response.ok && json !== undefined) return json as T;
  throw failure(response, json);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function failure(response: Response, json: Record<string, unknown> | undefined): Error {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  if (typeof json?.['error'] === 'string') {
    const description = json['error_description'];
    return new OAuthRefusal(
      response.status,
      json['error'],
      typeof description === 'string' ? description : undefined,
    );
  }
  // A problem document (the API-key check), or something that is not Steward answering at all.
  const code = json?.['code'];
  const detail = json?.['detail'];
  return new StewardApiError({
    status: response.ok ? 502 : response.status,
    code: typeof code === 'string' ? code : `http_${response.status}`,
    detail:
      typeof detail === 'string'
        ? detail
        : response.ok
          ? 'the answer was not a JSON object'
          : response.statusText,
    requestId: typeof json?.['requestId'] === 'string' ? json['requestId'] : requestId,
  });
}
