/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for each MCP upstream behind the gateway,
 * and the `WWW-Authenticate` challenge that points MCP clients at it (MCP authorization spec,
 * "Authorization Server Discovery").
 */
import { NAME_PATTERN } from '../../registry/index.js';

/** The path prefix of the gateway's MCP endpoints. */
export const MCP_GATEWAY_PATH = '/gw/mcp';

/** The well-known prefix RFC 9728 §3.1 inserts before the resource's path. */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** An upstream name as it may appear in a URL path: what the registry accepts, nothing more. */
export const UPSTREAM_NAME = new RegExp(NAME_PATTERN);

/** The protected resource an MCP client names in RFC 8707 `resource`: the upstream's gateway URL. */
export function mcpResourceUrl(issuer: string, upstream: string): string {
  return `${trimSlash(issuer)}${MCP_GATEWAY_PATH}/${upstream}`;
}

/** Where the metadata of `upstream`'s gateway endpoint is served (RFC 9728 §3.1). */
export function resourceMetadataUrl(issuer: string, upstream: string): string {
  return `${trimSlash(issuer)}${PROTECTED_RESOURCE_WELL_KNOWN}${MCP_GATEWAY_PATH}/${upstream}`;
}

/** RFC 9728 §2 metadata. Steward is its own authorization server (token exchange at `/oauth2/token`). */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly resource_name: string;
}

export function protectedResourceMetadata(
  issuer: string,
  upstream: string,
): ProtectedResourceMetadata {
  return {
    resource: mcpResourceUrl(issuer, upstream),
    authorization_servers: [trimSlash(issuer)],
    // Only the header: a token in a query string ends up in logs (RFC 6750 §2.3, §5.3).
    bearer_methods_supported: ['header'],
    resource_name: `${upstream} (MCP, through Steward's gateway)`,
  };
}

/**
 * The challenge of a 401 (RFC 6750 §3, RFC 9728 §5.1). `error="invalid_token"` only when a token
 * was presented: a request without one gets the bare challenge, as RFC 6750 §3.1 asks.
 */
export function bearerChallenge(
  issuer: string,
  upstream: string,
  presented: boolean,
  description?: string,
): string {
  const parts = [`resource_metadata="${resourceMetadataUrl(issuer, upstream)}"`];
  if (presented) {
    parts.push('error="invalid_token"');
    // Token error messages are fixed sentences without quotes; keep it that way on the wire.
    if (description !== undefined)
      parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
