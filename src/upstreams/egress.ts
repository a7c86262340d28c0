import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4, SocketAddress } from 'node:net';

/**
 * The egress guard (SSRF): an upstream may not point at loopback, link-local (the cloud metadata
 * service at 169.254.169.254), private, shared (CGNAT), unspecified, multicast or reserved
 * addresses unless an admin allowed that address. It runs when an upstream is registered and
 * again when the gateway connects, because a name that resolved to a public address at
 * registration may resolve to an internal one later (DNS rebinding): the gateway should connect
 * to one of the `addresses` it was given, not resolve the name again.
 */
export type EgressCheck =
  | { readonly ok: true; readonly addresses: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Resolves a host name to every address it has. Injected in tests; `dns.lookup` otherwise. */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;

export interface EgressOptions {
  readonly resolve?: HostResolver;
  /** A bound on the name lookup, which the resolver itself does not have. */
  readonly timeoutMs?: number;
}

const BLOCKED: readonly { readonly cidr: string; readonly label: string }[] = [
  { cidr: '0.0.0.0/8', label: 'unspecified ("this network")' },
  { cidr: '10.0.0.0/8', label: 'private' },
  { cidr: '100.64.0.0/10', label: 'shared address space (CGNAT)' },
  { cidr: '127.0.0.0/8', label: 'loopback' },
  { cidr: '169.254.0.0/16', label: 'link-local (cloud metadata)' },
  { cidr: '172.16.0.0/12', label: 'private' },
  { cidr: '192.0.0.0/24', label: 'IETF protocol assignments' },
  { cidr: '192.168.0.0/16', label: 'private' },
  { cidr: '198.18.0.0/15', label: 'benchmarking' },
  { cidr: '224.0.0.0/4', label: 'multicast' },
  { cidr: '240.0.0.0/4', label: 'reserved (and broadcast)' },
  { cidr: '::/128', label: 'unspecified' },
  { cidr: '::1/128', label: 'loopback' },
  { cidr: '100::/64', label: 'discard-only' },
  { cidr: 'fc00::/7', label: 'unique local (private)' },
  { cidr: 'fe80::/10', label: 'link-local' },
  { cidr: 'fec0::/10', label: 'site-local (deprecated)' },
  { cidr: 'ff00::/8', label: 'multicast' },
];

const BLOCKED_LISTS = BLOCKED.map(({ cidr, label }) => {
  const list = new BlockList();
  const { address, prefix, family } = parseCidr(cidr);
  list.addSubnet(address, prefix, family);
  return { cidr, label, list };
});

/** IPv6 ranges that carry an IPv4 address in their last 32 bits, which is what is reached. */
const EMBEDDING_V4 = (() => {
  const list = new BlockList();
  list.addSubnet('::ffff:0:0', 96, 'ipv6'); // IPv4-mapped
  list.addSubnet('64:ff9b::', 96, 'ipv6'); // NAT64
  list.addSubnet('::', 96, 'ipv6'); // IPv4-compatible (deprecated)
  return list;
})();

/**
 * The address actually reached: IPv4-mapped, NAT64 and IPv4-compatible IPv6 addresses become
 * their IPv4 address; other IPv6 addresses are written canonically; a zone id is dropped.
 */
export function canonicalAddress(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
  const words = ipv6Words(bare);
  const canonical = new SocketAddress({ address: bare, family: 'ipv6' }).address;
  if (canonical !== '::' && canonical !== '::1' && EMBEDDING_V4.check(canonical, 'ipv6')) {
    const high = words[6] ?? 0;
    const low = words[7] ?? 0;
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return canonical;
}

/** Why `address` is internal (`loopback`, `private`…), or undefined for a public address. */
export function internalRange(address: string): string | undefined {
  const canonical = canonicalAddress(address);
  const family = isIPv4(canonical) ? 'ipv4' : 'ipv6';
  const hit = BLOCKED_LISTS.find(({ list }) => list.check(canonical, family));
  return hit && `${hit.label}, ${hit.cidr}`;
}

/**
 * An allowlist entry in canonical form: an address (`127.0.0.1` → `127.0.0.1/32`) or a network
 * (`10.1.2.3/16` → `10.1.0.0/16`). Throws on anything else.
 */
export function normalizeAllowEntry(entry: string): string {
  const { address, prefix, family } = parseCidr(entry.trim());
  const bytes = family === 'ipv4' ? ipv4Bytes(address) : ipv6Bytes(address);
  for (let bit = prefix; bit < bytes.length * 8; bit += 1) {
    const index = bit >> 3;
    bytes[index] = (bytes[index] ?? 0) & ~(0x80 >> (bit & 7)) & 0xff;
  }
  const network =
    family === 'ipv4'
      ? [...bytes].join('.')
      : new SocketAddress({
          address: Array.from({ length: 8 }, (_, i) =>
            (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16),
          ).join(':'),
          family: 'ipv6',
        }).address;
  return `${network}/${prefix}`;
}

/**
 * Matchers by allowlist: the gateway checks egress on every call, against the same list until an
 * admin changes it (a change is a new array), so the list is parsed once, not per call.
 */
const matchers = new WeakMap<readonly string[], (address: string) => boolean>();

/** A matcher for allowlist entries (canonical or not; a bad entry is ignored, not fatal). */
function allowMatcher(allowlist: readonly string[]): (address: string) => boolean {
  let matcher = matchers.get(allowlist);
  if (matcher === undefined) {
    matcher = buildMatcher(allowlist);
    matchers.set(allowlist, matcher);
  }
  return matcher;
}

function buildMatcher(allowlist: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of allowlist) {
    try {
      const { address, prefix, family } = parseCidr(entry);
      list.addSubnet(address, prefix, family);
    } catch {
      // An entry that does not parse allows nothing.
    }
  }
  return (address) => {
    const canonical = canonicalAddress(address);
    return (
      list.check(canonical, isIPv4(canonical) ? 'ipv4' : 'ipv6') ||
      (isIP(address) === 6 && list.check(address, 'ipv6'))
    );
  };
}

/**
 * Checks that `url` reaches only addresses it may: every address its host resolves to must be
 * public or on `allowlist` (addresses and CIDR networks). A name that does not resolve is refused.
 *
 * @example
 * const check = await checkEgress('http://169.254.169.254/latest/meta-data', []);
 * // { ok: false, reason: 'http://169.254.169.254/… reaches 169.254.169.254: link-local …' }
 */
export async function checkEgress(
  url: string | URL,
  allowlist: readonly string[],
  options: EgressOptions = {},
): Promise<EgressCheck> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return { ok: false, reason: 'the URL does not parse' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `the scheme ${parsed.protocol} is not http: or https:` };
  }
  // The WHATWG parser has already turned decimal, octal and hex IPv4 forms into dotted quads.
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addresses: readonly string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await withTimeout(
        (options.resolve ?? resolveAll)(host),
        options.timeoutMs ?? 5_000,
      );
    } catch (error) {
      return { ok: false, reason: `${host} does not resolve (${(error as Error).message})` };
    }
    if (addresses.length === 0) return { ok: false, reason: `${host} does not resolve` };
  }
  const allowed = allowMatcher(allowlist);
  for (const address of addresses) {
    let range: string | undefined;
    try {
      range = internalRange(address);
    } catch {
      return { ok: false, reason: `${host} resolved to something that is not an address` };
    }
    if (range !== undefined && !allowed(address)) {
      const reached = canonicalAddress(address);
      const what = reached === host ? reached : `${host} reaches ${reached}, which`;
      return {
        ok: false,
        reason: `${what} is internal (${range}); an admin may allow it with POST /v1/egress/allow`,
      };
    }
  }
  return { ok: true, addresses: addresses.map(canonicalAddress) };
}

async function resolveAll(hostname: string): Promise<readonly string[]> {
  const results = await dnsLookup(hostname, { all: true, verbatim: true });
  return results.map((result) => result.address);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefixText, extra] = text.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) throw new Error(`not an address or CIDR: ${text}`);
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    throw new Error(`not an address or CIDR: ${text}`);
  }
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) throw new Error(`the prefix of ${text} is longer than ${max} bits`);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

function ipv6Bytes(address: string): number[] {
  return ipv6Words(address).flatMap((word) => [word >> 8, word & 0xff]);
}

/** The eight 16-bit words of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(dotted[1]);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}
