import { StewardApiError, StewardUnreachableError } from './errors.js';

export interface StewardClientOptions {
  /** Steward's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** An admin API key or an access token, sent as a bearer credential. */
  readonly credential?: string | undefined;
  /** Per-request time limit in milliseconds (default 10 s): no call waits forever. */
  readonly timeoutMs?: number;
  /** A `fetch` to use instead of the global one (tests, proxies). */
  readonly fetch?: typeof fetch;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * A small, dependency-free client for Steward's HTTP API: JSON in, JSON out, problem documents
 * turned into {@link StewardApiError}s.
 *
 * @example
 * const steward = new StewardClient({ url: 'http://127.0.0.1:8080', credential: process.env.STEWARD_ADMIN_KEY });
 * const team = await steward.request('POST', '/v1/teams', { body: { name: 'payments', contact: 'p@example.com', escalation: '+1-555-0100' } });
 */
export class StewardClient {
  readonly url: string;
  readonly #credential: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: StewardClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`not a URL: ${options.url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`Steward's URL must be http:// or https://, not ${parsed.protocol}`);
    }
    this.url = options.url.replace(/\/+$/, '');
    this.#credential = options.credential;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Sends one request; resolves to the parsed JSON body (undefined for 204). `headers` are sent
   * as given (`if-match`, say); they cannot replace the credential or the content type.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; headers?: Readonly<Record<string, string>> } = {},
  ): Promise<T> {
    const url = new URL(this.url + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      ...options.headers,
      accept: 'application/json, application/problem+json',
    };
    if (this.#credential !== undefined) headers['authorization'] = `Bearer ${this.#credential}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new StewardUnreachableError(this.url, error);
    }
    const text = await response.text();
    const json = text === '' ? undefined : safeJson(text);
    if (!response.ok) throw toApiError(response, json);
    return json as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns an error answer (a problem document, or anything else) into a {@link StewardApiError}. */
export function toApiError(response: Response, json: unknown): StewardApiError {
  const problem = (json ?? {}) as Record<string, unknown>;
  return new StewardApiError({
    status: response.status,
    code: typeof problem['code'] === 'string' ? problem['code'] : `http_${response.status}`,
    detail: typeof problem['detail'] === 'string' ? problem['detail'] : response.statusText,
    requestId:
      typeof problem['requestId'] === 'string'
        ? problem['requestId']
        : (response.headers.get('x-request-id') ?? undefined),
    errors: Array.isArray(problem['errors'])
      ? (problem['errors'] as { pointer: string; detail: string }[])
      : undefined,
  });
}
