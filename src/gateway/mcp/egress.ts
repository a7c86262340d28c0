import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { EgressCheck } from '../../upstreams/index.js';

/**
 * The `fetch` of the MCP gateway's upstream leg, with the egress guard before every request: an
 * allowance withdrawn, or a name that now resolves to an internal address, stops the call here
 * as it does on the HTTP gateway.
 *
 * With `dispatcher` (the gateway's egress agent, see `createEgressAgent`), connections are made
 * by undici to the addresses the guard approved when it connected, so a name that rebinds to an
 * internal address between the check and the connection is refused too, as on the HTTP gateway.
 * Without one (tests), the global `fetch` resolves the name again by itself.
 */
export function egressGuardedFetch(
  check: (url: string) => Promise<EgressCheck>,
  dispatcher?: Dispatcher,
): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const verdict = await check(url);
    if (!verdict.ok) throw new Error(`egress refused: ${verdict.reason}`);
    if (dispatcher === undefined) return fetch(input, init);
    // undici's own fetch, so that the agent (from the same package) is certain to be honoured;
    // its Request and Response are the same WHATWG shapes as the global ones.
    return undiciFetch(
      input as Parameters<typeof undiciFetch>[0],
      {
        ...init,
        dispatcher,
      } as Parameters<typeof undiciFetch>[1],
    );
  };
}
