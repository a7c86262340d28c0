import { toApiError } from './client.js';
import {
  isOAuthErrorCode,
  StewardAuthError,
  StewardUnreachableError,
  type StewardGrant,
} from './errors.js';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from './protocol.js';

export { TOKEN_TYPES } from './protocol.js';

/** How to reach the token endpoint. */
export interface TokenEndpoint {
  /** Steward's base URL, without a trailing slash. */
  readonly url: string;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

export interface ExchangeRequest {
  readonly subjectToken: string;
  readonly subjectTokenType: (typeof TOKEN_TYPES)[keyof typeof TOKEN_TYPES];
  readonly grant: StewardGrant;
  readonly audience: string;
  readonly task?: string | undefined;
  readonly expiresInSeconds?: number | undefined;
}

export interface IssuedToken {
  readonly accessToken: string;
  /** The lifetime Steward granted, which may be less than the one asked for. */
  readonly expiresInSeconds: number;
}

/**
 * One RFC 8693 token exchange. OAuth error answers become {@link StewardAuthError}s, other
 * error answers {@link StewardApiError}s, and no answer a {@link StewardUnreachableError}.
 */
export async function exchangeToken(
  endpoint: TokenEndpoint,
  request: ExchangeRequest,
): Promise<IssuedToken> {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: request.subjectToken,
    subject_token_type: request.subjectTokenType,
    audience: request.audience,
  });
  if (request.task !== undefined) form.set('task', request.task);
  if (request.expiresInSeconds !== undefined) {
    form.set('expires_in', String(request.expiresInSeconds));
  }
  let response: Response;
  try {
    response = await endpoint.fetch(`${endpoint.url}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: form,
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
  } catch (error) {
    throw new StewardUnreachableError(endpoint.url, error);
  }
  const body = await readJson(response);

  if (!response.ok) {
    const oauthCode = body?.['error'];
    if (typeof oauthCode !== 'string') throw toApiError(response, body);
    const description =
      typeof body?.['error_description'] === 'string'
        ? body['error_description']
        : `Steward answered ${response.status}.`;
    throw new StewardAuthError({
      // An error code outside RFC 6749/8693 is kept visible in the description rather than
      // widening the code union that callers switch on.
      code: isOAuthErrorCode(oauthCode) ? oauthCode : 'server_error',
      description: isOAuthErrorCode(oauthCode)
        ? description
        : `unexpected error "${oauthCode}": ${description}`,
      grant: request.grant,
      status: response.status,
      hint: hintFor(request.grant, oauthCode),
    });
  }

  const accessToken = body?.['access_token'];
  const expiresIn = body?.['expires_in'];
  const tokenType = body?.['token_type'];
  if (
    typeof accessToken !== 'string' ||
    accessToken === '' ||
    typeof expiresIn !== 'number' ||
    !Number.isFinite(expiresIn) ||
    expiresIn <= 0 ||
    typeof tokenType !== 'string' ||
    tokenType.toLowerCase() !== 'bearer'
  ) {
    throw new StewardAuthError({
      code: 'server_error',
      description: 'The token endpoint answered without a usable bearer token.',
      grant: request.grant,
      status: response.status,
    });
  }
  return { accessToken, expiresInSeconds: expiresIn };
}

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  const text = await response.text();
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** What an operator can do about a refused attestation; the codes alone do not say it. */
function hintFor(grant: StewardGrant, code: string): string | undefined {
  if (code !== 'invalid_grant') return undefined;
  if (grant === 'join_token') {
    return 'A join token works once and only for minutes: create a new one (steward identity join-token) and start the agent with it.';
  }
  if (grant === 'token_file') {
    return 'Check that the token file holds a current token from the platform and that a federation trust rule accepts its issuer, audience and claims.';
  }
  return undefined;
}
