import type { EgressCheck } from '../../upstreams/index.js';

/**
 * The `fetch` of the MCP gateway's upstream leg, with the egress guard re-run before every
 * request: an allowance withdrawn, or a name that now resolves to an internal address, stops the
 * call here as it does on the HTTP gateway. The guard resolves the name itself; fetch resolves it
 * again, so a rebinding between the two is narrowed to that instant, not closed (the HTTP
 * gateway connects to the checked address; the MCP SDK's transport offers no such hook).
 */
export function egressGuardedFetch(check: (url: string) => Promise<EgressCheck>): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const verdict = await check(url);
    if (!verdict.ok) throw new Error(`egress refused: ${verdict.reason}`);
    return fetch(input, init);
  };
}
