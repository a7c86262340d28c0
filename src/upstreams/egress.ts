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
  // RFC 8215: where the IPv4 address sits depends on the prefix length the operator chose, which
  // Steward cannot know, so the whole local-use NAT64 prefix counts as internal.
  { cidr: '64:ff9b:1::/48', label: 'local-use NAT64' },
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

/**
 * IPv6 prefixes that carry IPv4 addresses, and where. A connection to such an address ends at (or
 * is tunnelled to) an IPv4 address inside it, so it is judged by every IPv4 address it may carry:
 * `64:ff9b::a9fe:a9fe` is 169.254.169.254. Matched on the eight 16-bit words, in every spelling
 * (`::ffff:169.254.169.254`, `::ffff:a9fe:a9fe`, upper case, leading zeros all parse the same).
 */
interface Embedding {
  readonly label: string;
  /** The prefix's leading words (every prefix here ends on a word boundary). */
  readonly prefix: readonly number[];
  /** The IPv4 addresses an address under the prefix may reach. */
  readonly ipv4: (w: readonly number[]) => readonly string[];
}

const word = (w: readonly number[], i: number) => w[i] ?? 0;
const hi = (w: readonly number[], i: number) => word(w, i) >> 8;
const lo = (w: readonly number[], i: number) => word(w, i) & 0xff;
const quad = (...bytes: number[]) => bytes.join('.');
/** The IPv4 address in words `i` and `i + 1`. */
const wordsAt = (w: readonly number[], i: number) =>
  quad(hi(w, i), lo(w, i), hi(w, i + 1), lo(w, i + 1));

const EMBEDDINGS: readonly Embedding[] = [
  // RFC 4291: the socket itself goes to the IPv4 address.
  { label: 'IPv4-mapped', prefix: [0, 0, 0, 0, 0, 0xffff], ipv4: (w) => [wordsAt(w, 6)] },
  // RFC 7915 (SIIT): a translator forwards to the IPv4 address.
  {
    label: 'IPv4-translated',
    prefix: [0, 0, 0, 0, 0xffff, 0],
    ipv4: (w) => [wordsAt(w, 6)],
  },
  // RFC 6052 well-known NAT64 prefix: /96 only.
  { label: 'NAT64', prefix: [0x64, 0xff9b, 0, 0, 0, 0], ipv4: (w) => [wordsAt(w, 6)] },
  // RFC 3056 6to4: packets are tunnelled to the IPv4 address in bits 16-47.
  { label: '6to4', prefix: [0x2002], ipv4: (w) => [wordsAt(w, 1)] },
  // RFC 4380 Teredo: the server in bits 32-63, the client (bit-inverted) in the last 32 bits.
  {
    label: 'Teredo',
    prefix: [0x2001, 0],
    ipv4: (w) => [wordsAt(w, 2), wordsAt([word(w, 6) ^ 0xffff, word(w, 7) ^ 0xffff], 0)],
  },
  // RFC 4291 IPv4-compatible (deprecated); `::` and `::1` are judged as themselves.
  { label: 'IPv4-compatible', prefix: [0, 0, 0, 0, 0, 0], ipv4: (w) => [wordsAt(w, 6)] },
];

function embeddingOf(words: readonly number[]): Embedding | undefined {
  if (words.slice(0, 7).every((w) => w === 0) && word(words, 7) <= 1) return undefined; // :: and ::1
  return EMBEDDINGS.find(({ prefix }) => prefix.every((w, i) => word(words, i) === w));
}

/** Where a connection to an address goes: the socket's address, and what that reaches. */
interface Reach {
  /** The address to connect to: an IPv4-mapped address as its IPv4, IPv6 canonically. */
  readonly connect: string;
  /** The addresses judged: the address itself, or the IPv4 ones an embedding carries. */
  readonly reached: readonly string[];
  /** The embedding's name (`NAT64`…) when `reached` came from one. */
  readonly via?: string;
}

function reachOf(address: string): Reach {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return { connect: bare, reached: [bare] };
  if (family !== 6) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
  const canonical = new SocketAddress({ address: bare, family: 'ipv6' }).address;
  const words = ipv6Words(bare);
  const embedding = embeddingOf(words);
  if (embedding === undefined) return { connect: canonical, reached: [canonical] };
  const reached = [...new Set(embedding.ipv4(words))];
  const mapped = embedding.label === 'IPv4-mapped';
  return { connect: mapped ? (reached[0] ?? canonical) : canonical, reached, via: embedding.label };
}

/**
 * The address a socket connects to: an IPv4-mapped IPv6 address becomes its IPv4 address (the
 * same socket); other IPv6 addresses are written canonically, a zone id dropped. A NAT64 address
 * stays IPv6: the route to it is the translator's.
 */
export function canonicalAddress(address: string): string {
  return reachOf(address).connect;
}

function blockedRange(address: string): string | undefined {
  const hit = BLOCKED_LISTS.find(({ list }) =>
    list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6'),
  );
  return hit && `${hit.label}, ${hit.cidr}`;
}

/**
 * Why `address` is internal (`loopback`, `private`…), or undefined for a public address. An IPv6
 * address that carries IPv4 ones (NAT64, 6to4…) is internal when any of those is.
 */
export function internalRange(address: string): string | undefined {
  for (const reached of reachOf(address).reached) {
    const range = blockedRange(reached);
    if (range !== undefined) return range;
  }
  return undefined;
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
 * What the guard concluded about one resolved address under one allowlist: where to connect, or
 * why not. It depends on nothing else, so it is worked out once per address and allowlist.
 */
type AddressVerdict =
  | { readonly ok: true; readonly connect: string }
  | { readonly ok: false; readonly reached: string; readonly range: string; readonly via?: string }
  | { readonly ok: false; readonly notAnAddress: true };

/** One allowlist, parsed once, and what it made of each address seen so far. */
interface Judged {
  readonly allowed: (address: string) => boolean;
  readonly verdicts: Map<string, AddressVerdict>;
}

/**
 * By allowlist, then by address: the gateway checks egress on every call (and on every new
 * connection) against the same list until an admin changes it (a change is a new array, so a new
 * entry here), and judging an address means canonicalizing it and testing it against every
 * blocked range, which costs more than the call's other checks together.
 */
const judged = new WeakMap<readonly string[], Judged>();
/**
 * A bound on the addresses remembered per allowlist: the names upstreams point at resolve to a
 * handful, but a name under someone else's control could answer with a new address every time.
 * Beyond it the cache starts over rather than grow.
 */
const MAX_VERDICTS = 1_024;

function verdictFor(allowlist: readonly string[], address: string): AddressVerdict {
  let entry = judged.get(allowlist);
  if (entry === undefined) {
    entry = { allowed: buildMatcher(allowlist), verdicts: new Map() };
    judged.set(allowlist, entry);
  }
  let verdict = entry.verdicts.get(address);
  if (verdict === undefined) {
    verdict = judge(entry.allowed, address);
    if (entry.verdicts.size >= MAX_VERDICTS) entry.verdicts.clear();
    entry.verdicts.set(address, verdict);
  }
  return verdict;
}

/** A matcher for allowlist entries (canonical or not; a bad entry is ignored, not fatal). */
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
  return (address) => list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}

function judge(allowed: (address: string) => boolean, address: string): AddressVerdict {
  let reach: Reach;
  try {
    reach = reachOf(address);
  } catch {
    return { ok: false, notAnAddress: true };
  }
  // An entry for the IPv6 address itself (say, an internal NAT64 prefix) allows what it carries.
  const allowedAsWritten = reach.via !== undefined && allowed(reach.connect);
  for (const reached of reach.reached) {
    const range = blockedRange(reached);
    if (range === undefined || allowed(reached) || allowedAsWritten) continue;
    return { ok: false, reached, range, ...(reach.via === undefined ? {} : { via: reach.via }) };
  }
  return { ok: true, connect: reach.connect };
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
  const connect: string[] = [];
  for (const address of addresses) {
    const verdict = verdictFor(allowlist, address);
    if (verdict.ok) {
      connect.push(verdict.connect);
      continue;
    }
    if ('notAnAddress' in verdict) {
      return { ok: false, reason: `${host} resolved to something that is not an address` };
    }
    const { reached, range, via } = verdict;
    const what =
      reached === host
        ? reached
        : `${host} reaches ${reached}${via === undefined ? '' : ` (${via})`}, which`;
    return {
      ok: false,
      reason: `${what} is internal (${range}); an admin may allow it with POST /v1/egress/allow`,
    };
  }
  return { ok: true, addresses: connect };
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
