/**
 * The one spelling a resource URI must have to be read through a template: RFC 3986's normal
 * form (§6.2.2), made strict. A URI the upstream lists is taken exactly as listed; one it does
 * not list is decided by policy as written, so it must have no second spelling the upstream
 * might read as the same resource: a policy on `notes://team/plan` must not be passed by
 * `notes://team/%70lan`, `NOTES://team/plan`, `notes://TEAM/plan` or `notes://team/x/../plan`.
 */

/** Longer URIs are not matched against templates (a listed one may be longer). */
export const MAX_TEMPLATED_URI_LENGTH = 2048;

const SCHEME = /^[a-z][a-z0-9+.-]*:/;
/** `.` or `..` as a whole path segment (before `/`, `?`, `#`, a `;` parameter, or the end). */
const DOT_SEGMENT = /\/\.\.?(?=$|[/?#;])/;
const HEX = /^[0-9A-F]{2}$/;

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  );
}

/**
 * True when `uri` is in the strict normal form: printable ASCII without spaces or `\`; a
 * lower-case scheme and authority; every `%` starting an upper-case escape of a byte that needs
 * one (not an unreserved character, not `/`, `\` or `%` itself, not a control character); no
 * `.` or `..` segment.
 *
 * @example
 * inNormalForm('notes://team/plan');   // true
 * inNormalForm('notes://team/%70lan'); // false: %70 is "p", which needs no escape
 */
export function inNormalForm(uri: string): boolean {
  if (uri.length === 0 || uri.length > MAX_TEMPLATED_URI_LENGTH) return false;
  const scheme = SCHEME.exec(uri);
  if (scheme === null) return false;
  for (let index = 0; index < uri.length; index += 1) {
    const code = uri.charCodeAt(index);
    if (code <= 0x20 || code >= 0x7f || code === 0x5c) return false;
    if (code !== 0x25) continue;
    const hex = uri.slice(index + 1, index + 3);
    if (!HEX.test(hex)) return false;
    const byte = Number.parseInt(hex, 16);
    if (isUnreserved(byte) || byte === 0x2f || byte === 0x5c || byte === 0x25) return false;
    if (byte < 0x20 || byte === 0x7f) return false;
    index += 2;
  }
  const rest = uri.slice(scheme[0].length);
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    // Host names are case-insensitive; the escapes' hex digits are upper-case by the rule above.
    if (/[A-Z]/.test(authority.replace(/%[0-9A-F]{2}/g, ''))) return false;
  }
  return !DOT_SEGMENT.test(uri);
}
