/**
 * Path normalisation for the HTTP gateway, done once, before the decision: the path that policy
 * decides on is, byte for byte, the path that is forwarded. Anything a server might read in more
 * than one way (dot segments, encoded slashes, double encoding, backslashes, NUL) is refused
 * rather than "fixed", because a fix the upstream does not share is the classic bypass.
 */

/** The parts of a gateway request's target, checked. */
export interface GatewayTarget {
  readonly upstream: string;
  /** Canonical path, always starting with `/`: what is decided and what is forwarded. */
  readonly path: string;
  /** The query string as sent, without the `?` ('' when there is none). */
  readonly query: string;
}

export type TargetResult =
  | { readonly ok: true; readonly target: GatewayTarget }
  | { readonly ok: false; readonly reason: string };

const PREFIX = '/gw/http/';
const UPSTREAM_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
/** RFC 3986 unreserved characters: their percent-encoded and plain forms mean the same. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Characters allowed plainly in a path (RFC 3986 pchar and `/`), besides `%` escapes. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** Characters allowed plainly in a query. */
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/**
 * Splits and checks the raw request target (`request.raw.url`, never a decoded form) of
 * `/gw/http/<upstream>/<path>?<query>`.
 *
 * Unreserved characters that were percent-encoded are decoded (`%61` is `a`) so that one path
 * has one spelling; other escapes are kept, with upper-case hex. Refused: `.` and `..` segments
 * (also as `%2e`), empty segments (`//`), encoded `/` and `\` (`%2F`, `%5C`), encoded `%`
 * (`%25`, double encoding), encoded or raw NUL and control characters, backslashes, and bad
 * escapes.
 */
export function parseGatewayTarget(rawUrl: string): TargetResult {
  if (!rawUrl.startsWith(PREFIX)) return refuse('not a gateway path');
  if (rawUrl.includes('#')) return refuse('a fragment is not sent to a server');
  const rest = rawUrl.slice(PREFIX.length);
  const queryAt = rest.indexOf('?');
  const beforeQuery = queryAt === -1 ? rest : rest.slice(0, queryAt);
  const query = queryAt === -1 ? '' : rest.slice(queryAt + 1);
  const slash = beforeQuery.indexOf('/');
  const upstream = slash === -1 ? beforeQuery : beforeQuery.slice(0, slash);
  if (!UPSTREAM_NAME.test(upstream)) return refuse('the upstream name is not valid');
  const rawPath = slash === -1 ? '/' : beforeQuery.slice(slash);

  if (!PATH_CHARS.test(rawPath)) {
    return refuse(
      rawPath.includes('\\')
        ? 'backslashes are not allowed in the path'
        : 'the path has characters that must be percent-encoded',
    );
  }
  let path = '';
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath.charAt(i);
    if (ch !== '%') {
      path += ch;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refuse('the path has a malformed percent escape');
    const code = Number.parseInt(hex, 16);
    if (code === 0x2f || code === 0x5c)
      return refuse('encoded slashes are not allowed in the path');
    if (code === 0x25) return refuse('double encoding (%25) is not allowed in the path');
    if (code < 0x20 || code === 0x7f)
      return refuse('control characters are not allowed in the path');
    const decoded = String.fromCharCode(code);
    path += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    i += 2;
  }

  const segments = path.split('/').slice(1);
  for (const [index, segment] of segments.entries()) {
    if (segment === '.' || segment === '..')
      return refuse('dot segments are not allowed in the path');
    // A trailing slash is a segment of its own meaning; an empty one elsewhere (`//`) is not.
    if (segment === '' && index !== segments.length - 1) {
      return refuse('empty path segments (//) are not allowed');
    }
  }

  if (!QUERY_CHARS.test(query))
    return refuse('the query has characters that must be percent-encoded');
  if (/%(?![0-9A-Fa-f]{2})/.test(query)) return refuse('the query has a malformed percent escape');
  if (/%(?:00|0[0-9A-Fa-f]|1[0-9A-Fa-f]|7[Ff])/.test(query)) {
    return refuse('control characters are not allowed in the query');
  }
  return { ok: true, target: { upstream, path, query } };
}

/**
 * The operation a request names: the upstream's declared operation whose method and path
 * pattern (`/refunds/:id`, a trailing `*` for the rest) match, else the route itself,
 * `<METHOD> <path>`.
 */
export function matchOperation(
  operations: readonly {
    readonly name: string;
    readonly method?: string;
    readonly path?: string;
  }[],
  method: string,
  path: string,
): string {
  for (const op of operations) {
    if (op.path === undefined) continue;
    if (op.method !== undefined && op.method.toUpperCase() !== method && op.method !== '*')
      continue;
    if (patternMatches(op.path, path)) return op.name;
  }
  return `${method} ${path}`;
}

function patternMatches(pattern: string, path: string): boolean {
  const want = pattern.split('/');
  const got = path.split('/');
  for (let i = 0; i < want.length; i++) {
    const part = want[i] ?? '';
    if (part === '*' && i === want.length - 1) return true;
    const actual = got[i];
    if (actual === undefined) return false;
    if (part.startsWith(':')) {
      if (actual === '') return false;
      continue;
    }
    if (part !== actual) return false;
  }
  return want.length === got.length;
}

/** The query as arguments for policy and the record: each parameter's values, joined by `,` when repeated. */
export function queryArguments(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    out[name] = Object.hasOwn(out, name) ? `${out[name] ?? ''},${value}` : value;
  }
  return out;
}

function refuse(reason: string): TargetResult {
  return { ok: false, reason };
}
