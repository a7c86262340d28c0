/**
 * Path normalisation for the HTTP gateway, done once, before the decision: the path that policy
 * decides on is, byte for byte, the path that is forwarded, and the query parameters policy sees
 * are the ones the upstream reads. Anything a server might read in more than one way (dot
 * segments, encoded slashes, double encoding, backslashes, NUL, path parameters, Unicode
 * look-alikes of `.` and `/`, a repeated query parameter) is refused rather than "fixed",
 * because a fix the upstream does not share is the classic bypass.
 *
 * Every check is one pass over the target (linear in its length, whatever it holds).
 */

/** The parts of a gateway request's target, checked. */
export interface GatewayTarget {
  readonly upstream: string;
  /** Canonical path, always starting with `/`: what is decided and what is forwarded. */
  readonly path: string;
  /** The query string as sent, without the `?` ('' when there is none). */
  readonly query: string;
  /**
   * The query's parameters, decoded (`+` is a space), each name once: what policy sees as
   * `context.arguments`. A prototype-less object, so `__proto__` is a name like any other.
   */
  readonly parameters: Readonly<Record<string, string>>;
}

export type TargetResult =
  | { readonly ok: true; readonly target: GatewayTarget }
  | { readonly ok: false; readonly reason: string };

const PREFIX = '/gw/http/';
const UPSTREAM_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
/** RFC 3986 unreserved characters: their percent-encoded and plain forms mean the same. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/**
 * Characters allowed plainly in a path (RFC 3986 pchar and `/`), besides `%` escapes. Not `;`:
 * servers disagree on path parameters (Tomcat and Spring drop `;jsessionid=…` and read `..;`
 * as `..`, most others keep them), so the path policy sees would not be the path executed.
 */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$/;
/** Characters allowed plainly in a query. Not `;`: some servers split parameters on it too. */
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@/?%]*$/;
/** A segment that is only dots and white space: `..` (or empty) to a server that trims. */
const DOTS_ONLY = /^[.\s]+$/;
/**
 * Characters that look like or are read as `.`, `/` or `\` and that NFKC leaves alone: the
 * ideographic full stop (IDNA maps it to `.`), Arabic, Syriac, Lisu and Vai full stops,
 * division, fraction, big and box-drawing slashes, set minus and reverse solidus operators, and
 * the combining solidus overlays. (Full-width and small forms are caught by the NFKC check.)
 */
const LOOK_ALIKES =
  /[\u3002\u06D4\u0701\u0702\uA4F8\uA60E\u2215\u2044\u29F8\u2571\u27CB\u2216\u29F5\u29F9\u2572\u27CD]|\u0337|\u0338|\u20E5/;
/**
 * Query parameters that frameworks read as the request's method (Express's method-override,
 * Symfony, Laravel): the upstream would run another method than the one decided.
 */
const METHOD_OVERRIDE_PARAMETERS = new Set([
  '_method',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/**
 * Splits and checks the raw request target (`request.raw.url`, never a decoded form) of
 * `/gw/http/<upstream>/<path>?<query>`.
 *
 * Unreserved characters that were percent-encoded are decoded (`%61` is `a`) so that one path
 * has one spelling; other escapes are kept, with upper-case hex. Refused in the path: `.` and
 * `..` segments (also as `%2e`) and segments of dots and white space only, empty segments
 * (`//`), encoded `/` and `\` (`%2F`, `%5C`), encoded `%` (`%25`, double encoding), path
 * parameters (`;`, `%3B`), encoded or raw NUL and control characters, backslashes, bad escapes,
 * escapes that are not UTF-8 (overlong `%C0%AE` included), characters that NFKC changes
 * (full-width `．`, `／`, letters) and other look-alikes of `.`, `/` and `\`. Refused in the
 * query: `;`, bad or non-UTF-8 escapes, control characters, a parameter name given twice (in any
 * letter case), names that NFKC changes, and method-override parameters (`_method`).
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
        : rawPath.includes(';')
          ? 'path parameters (;) are not allowed in the path'
          : 'the path has characters that must be percent-encoded',
    );
  }
  // Runs between escapes are copied whole: no string made per character.
  let path = '';
  let from = 0;
  for (let at = rawPath.indexOf('%'); at !== -1; at = rawPath.indexOf('%', from)) {
    path += rawPath.slice(from, at);
    const high = hexValue(rawPath.charCodeAt(at + 1));
    const low = hexValue(rawPath.charCodeAt(at + 2));
    if (high === -1 || low === -1) return refuse('the path has a malformed percent escape');
    const code = high * 16 + low;
    if (code === 0x2f || code === 0x5c)
      return refuse('encoded slashes are not allowed in the path');
    if (code === 0x25) return refuse('double encoding (%25) is not allowed in the path');
    if (code === 0x3b) return refuse('path parameters (;) are not allowed in the path');
    if (code < 0x20 || code === 0x7f)
      return refuse('control characters are not allowed in the path');
    const decoded = String.fromCharCode(code);
    path += UNRESERVED.test(decoded) ? decoded : `%${HEX[high] ?? ''}${HEX[low] ?? ''}`;
    from = at + 3;
  }
  path += rawPath.slice(from);

  // The path as a server reads it once decoded: what the checks below look at. `%2F` and `%25`
  // are refused above, so its `/` are the canonical path's and it holds no `%`.
  const text = percentDecode(path);
  if (text === undefined) return refuse('the path has percent escapes that are not UTF-8');
  if (text.normalize('NFKC') !== text || LOOK_ALIKES.test(text)) {
    return refuse(
      'the path has Unicode characters that servers may read as others (full-width or look-alike dots, slashes or letters)',
    );
  }
  // Segment by segment, without an array of them: `text` starts with `/`.
  for (let start = 1; start <= text.length;) {
    const slashAt = text.indexOf('/', start);
    const end = slashAt === -1 ? text.length : slashAt;
    // A trailing slash is a segment of its own meaning; an empty one elsewhere (`//`) is not.
    if (end === start && slashAt !== -1) return refuse('empty path segments (//) are not allowed');
    if (end > start && DOTS_ONLY.test(text.slice(start, end))) {
      return refuse('dot segments are not allowed in the path');
    }
    start = end + 1;
  }

  if (!QUERY_CHARS.test(query)) {
    return refuse(
      query.includes(';')
        ? 'the query may not use ; (servers differ on whether it separates parameters)'
        : 'the query has characters that must be percent-encoded',
    );
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(query)) return refuse('the query has a malformed percent escape');
  if (/%(?:00|0[0-9A-Fa-f]|1[0-9A-Fa-f]|7[Ff])/.test(query)) {
    return refuse('control characters are not allowed in the query');
  }
  const parameters = parseQuery(query);
  if (typeof parameters === 'string') return refuse(parameters);
  return { ok: true, target: { upstream, path, query, parameters } };
}

/**
 * The query's parameters, or why they are refused. A name given twice is refused: servers read
 * `?account=user&account=admin` as the first, the last, both joined or a list, so no one value
 * policy could see is sure to be the one the upstream acts on. Names are compared in lower case,
 * as case-insensitive frameworks (ASP.NET) do.
 */
function parseQuery(query: string): Record<string, string> | string {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (query === '') return out;
  const seen = new Set<string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = formDecode(equals === -1 ? part : part.slice(0, equals));
    const value = formDecode(equals === -1 ? '' : part.slice(equals + 1));
    if (name === undefined || value === undefined) {
      return 'the query has percent escapes that are not UTF-8';
    }
    if (name.normalize('NFKC') !== name) {
      return 'a query parameter name has Unicode characters that servers may read as others';
    }
    const folded = name.toLowerCase();
    if (METHOD_OVERRIDE_PARAMETERS.has(folded)) {
      return 'method-override query parameters (_method) are not allowed';
    }
    if (seen.has(folded)) {
      return `the query parameter ${JSON.stringify(name.slice(0, 64))} is given more than once (send one value, or indexed names)`;
    }
    seen.add(folded);
    out[name] = value;
  }
  return out;
}

/** `application/x-www-form-urlencoded` decoding (`+` is a space), strict UTF-8; undefined if not. */
function formDecode(text: string): string | undefined {
  return percentDecode(text.replaceAll('+', ' '));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * `%XX` escapes (already checked well formed) decoded, the result read as strict UTF-8:
 * undefined for bytes that are not (overlong forms such as `%C0%AE`, surrogates, cut sequences).
 */
function percentDecode(text: string): string | undefined {
  if (!text.includes('%')) return text;
  // Only ASCII is left besides the escapes (the path and query were checked for it), so runs
  // between escapes are written as Latin-1, one byte a character.
  const bytes = Buffer.allocUnsafe(text.length);
  let length = 0;
  let from = 0;
  for (let at = text.indexOf('%'); at !== -1; at = text.indexOf('%', from)) {
    length += bytes.write(text.slice(from, at), length, 'latin1');
    bytes[length++] = hexValue(text.charCodeAt(at + 1)) * 16 + hexValue(text.charCodeAt(at + 2));
    from = at + 3;
  }
  length += bytes.write(text.slice(from), length, 'latin1');
  try {
    return UTF8.decode(bytes.subarray(0, length));
  } catch {
    return undefined;
  }
}

const HEX = '0123456789ABCDEF';

/** The value of a hex digit's character code, or -1 (also for NaN, past the end). */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
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

function refuse(reason: string): TargetResult {
  return { ok: false, reason };
}
