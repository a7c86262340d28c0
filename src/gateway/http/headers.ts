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
  'via',
  'expect',
  'content-length',
  'traceparent',
  'x-request-id',
  // Method and URL overrides: frameworks and proxies (Express's method-override, Symfony,
  // Laravel, IIS URL Rewrite, Nginx-fronted apps) act on these instead of the request line, so
  // the upstream would run another method or path than the one decided.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-rewrite-url',
  'x-override-url',
  // Addresses and hosts a client can claim: an upstream that trusts them would believe the call
  // came from somewhere else. Steward sets X-Forwarded-* and Forwarded from what it knows.
  'x-real-ip',
  'x-forwarded',
  'forwarded-for',
  'x-proxyuser-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'x-host',
]);

/**
 * Prefixes of the same kinds: `X-Forwarded-*`, `X-Original-*` (`-URL`, `-URI`, `-Method`,
 * `-Host`, `-Forwarded-For`), `Proxy-*`, and Envoy's internal `X-Envoy-*` (`-Original-Path`).
 */
const DROPPED_PREFIXES = ['x-forwarded-', 'x-original-', 'proxy-', 'x-envoy-'];

/** Whether a client's request header must not reach the upstream. */
function droppedFromClient(lower: string): boolean {
  // CGI-style servers (WSGI, Rack, PHP) read `X_Forwarded_For` and `X-Forwarded-For` as the same
  // variable: a name with `_` could stand in for any header Steward drops or sets, including
  // the injected credential's. Nginx drops them too by default.
  if (lower.includes('_')) return true;
  if (HOP_BY_HOP.has(lower) || DROPPED_FROM_CLIENT.has(lower)) return true;
  return DROPPED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

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
    if (droppedFromClient(lower) || dropped.has(lower)) continue;
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
