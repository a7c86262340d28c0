import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and their relatives: never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Request headers the gateway sets itself or that carry the agent's own credentials: the
 * agent's `Authorization` never reaches an upstream, and neither do forwarding headers it made
 * up (`X-Forwarded-For: 10.0.0.1` to look internal).
 */
const DROPPED_FROM_CLIENT = new Set([
  'authorization',
  'host',
  'forwarded',
  'x-real-ip',
  'via',
  'expect',
  'content-length',
  'traceparent',
  'x-request-id',
]);

/** The headers of a forwarded request: the agent's, cleaned, plus Steward's own and the injection. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  options: {
    readonly inject: Readonly<Record<string, string>>;
    readonly clientAddress: string;
    readonly protocol: string;
    readonly host: string | undefined;
    readonly requestId: string;
    readonly traceparent: string;
    /** The body length when it is known (undefined: sent chunked, or no body). */
    readonly contentLength: number | undefined;
  },
): Record<string, string | string[]> {
  const dropped = connectionListed(incoming['connection']);
  const injected = new Set(Object.keys(options.inject).map((name) => name.toLowerCase()));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    const lower = name.toLowerCase();
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(lower) || DROPPED_FROM_CLIENT.has(lower) || dropped.has(lower)) continue;
    if (lower.startsWith('proxy-') || lower.startsWith('x-forwarded-')) continue;
    // The agent may not supply the header the credential goes in, even empty.
    if (injected.has(lower)) continue;
    out[lower] = value;
  }
  out['x-forwarded-for'] = options.clientAddress;
  out['x-forwarded-proto'] = options.protocol;
  if (options.host !== undefined) out['x-forwarded-host'] = options.host;
  out['forwarded'] =
    `for=${forwardedNode(options.clientAddress)};proto=${options.protocol}` +
    (options.host !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(options.host)
      ? `;host="${options.host}"`
      : '');
  out['x-request-id'] = options.requestId;
  out['traceparent'] = options.traceparent;
  if (options.contentLength !== undefined) out['content-length'] = String(options.contentLength);
  for (const [name, value] of Object.entries(options.inject)) out[name.toLowerCase()] = value;
  return out;
}

/** The headers of an upstream's answer as passed to the agent: hop-by-hop ones removed. */
export function agentResponseHeaders(
  incoming: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string | string[]> {
  const dropped = connectionListed(incoming['connection']);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || dropped.has(lower)) continue;
    if (lower.startsWith('proxy-')) continue;
    out[lower] = value;
  }
  return out;
}

/** Header names listed in `Connection`: hop-by-hop by declaration (RFC 9110 §7.6.1). */
function connectionListed(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const line of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const name of line.split(',')) {
      const trimmed = name.trim().toLowerCase();
      if (trimmed !== '') names.add(trimmed);
    }
  }
  return names;
}

/** An address as a `Forwarded` node: IPv6 quoted and bracketed (RFC 7239 §6). */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}
