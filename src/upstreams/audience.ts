import { STEWARD_AUDIENCE } from '../tokens/index.js';
import type { Upstream } from './types.js';

/**
 * The audience resolver of token exchange. `steward` (or the issuer URL) is Steward's own API; an
 * upstream's name is its audience, and so are its gateway URLs, `<issuer>/gw/mcp/<name>` and
 * `<issuer>/gw/http/<name>`, which MCP clients send as the RFC 8707 `resource`. Every form comes
 * back as the one canonical audience the token carries: `steward` or the upstream's name.
 */
export function createAudienceResolver(deps: {
  issuer: string;
  resolve: (name: string) => Promise<Upstream | undefined>;
}): (requested: string) => Promise<string | undefined> {
  const { issuer, resolve } = deps;
  const prefixes = [`${issuer}/gw/mcp/`, `${issuer}/gw/http/`];
  return async (requested) => {
    if (requested === STEWARD_AUDIENCE || requested === issuer) return STEWARD_AUDIENCE;
    let name = requested;
    const prefix = prefixes.find((p) => requested.startsWith(p));
    if (prefix !== undefined) {
      name = requested.slice(prefix.length).replace(/\/$/, '');
      if (name.includes('/')) return undefined;
    }
    const upstream = await resolve(name);
    return upstream?.name;
  };
}
