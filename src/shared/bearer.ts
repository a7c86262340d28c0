/**
 * The credential of an `Authorization: Bearer <credential>` header (RFC 6750 §2.1), or undefined.
 * One parser for the admin API and both gateways, so they accept and refuse exactly the same
 * headers: printable ASCII, no spaces, case-insensitive scheme.
 */
export function bearerCredential(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  return /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim())?.[1];
}
