/**
 * What `fetch` takes as its first argument: a URL string, a `URL` or a `Request`.
 *
 * @example
 * const input: FetchInput = new URL('/v1/tasks', agent.url);
 */
export type FetchInput = Parameters<typeof fetch>[0];
/**
 * What `fetch` takes as its second argument.
 *
 * @example
 * const init: FetchInit = { method: 'POST', body: JSON.stringify({ q: 'refunds' }) };
 */
export type FetchInit = NonNullable<Parameters<typeof fetch>[1]>;

/**
 * Sends a request with `Authorization: Bearer <token>` and, if the answer is 401, once more with
 * a token obtained after telling `token` which one was refused (revoked, or expired in transit).
 *
 * A request that already carries an `Authorization` header is refused with a TypeError before
 * anything is sent: replacing the caller's credential silently would send a request under an
 * identity the caller did not choose, and keeping it would make the retry meaningless.
 *
 * The request is cloned before the first attempt so its body can be sent again; a streamed body
 * is therefore held in memory until the answer arrives.
 */
export async function fetchWithToken(
  send: typeof fetch,
  token: (rejected?: string) => Promise<string>,
  input: FetchInput,
  init: FetchInit | undefined,
): Promise<Response> {
  const request = new Request(input, init);
  if (request.headers.has('authorization')) {
    throw new TypeError(
      'This request already has an Authorization header: the Steward agent adds its own token and will not replace or drop yours. Use the global fetch for requests that carry their own credential.',
    );
  }
  const first = request.clone();
  const sent = await token();
  first.headers.set('authorization', `Bearer ${sent}`);
  const response = await send(first);
  if (response.status !== 401) return response;
  // The refused answer is dropped: the caller gets the retry's, which is the meaningful one.
  await response.body?.cancel();
  request.headers.set('authorization', `Bearer ${await token(sent)}`);
  return send(request);
}
