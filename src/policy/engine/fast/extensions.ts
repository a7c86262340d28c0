/**
 * Cedar's extension types (`decimal`, `ipaddr`, `datetime`, `duration`): parsing with the exact
 * acceptance rules of the official engine (cedar-policy-core `extensions/*.rs`, mirrored by the
 * Lean spec `Cedar/Spec/Ext/*.lean`), and their operations. Integers are i64, held as BigInt.
 */

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** True when `n` fits Cedar's Long (a signed 64-bit integer). */
export function fitsI64(n: bigint): boolean {
  return n >= I64_MIN && n <= I64_MAX;
}

/** A fixed-point decimal with four fractional digits, stored as `value / 10^4`. */
export class Decimal {
  constructor(readonly value: bigint) {}
}

/** An IP address or CIDR range: the address as a number and its prefix length. */
export class IpAddr {
  constructor(
    readonly v6: boolean,
    readonly addr: bigint,
    readonly prefix: number,
  ) {}

  /** The first and last address of the range, as the Rust engine computes them. */
  range(): readonly [bigint, bigint] {
    const width = BigInt((this.v6 ? 128 : 32) - this.prefix);
    const lo = (this.addr >> width) << width;
    return [lo, lo + (1n << width) - 1n];
  }
}

/** Milliseconds since the Unix epoch (leap seconds excluded), as Cedar's `datetime`. */
export class Datetime {
  constructor(readonly ms: bigint) {}
}

/** A signed duration in milliseconds. */
export class Duration {
  constructor(readonly ms: bigint) {}
}

// ---------- decimal ----------

const DECIMAL_RE = /^(-?[0-9]+)\.([0-9]+)$/;

/** Parses `decimal("…")`; undefined when the official engine would raise an error. */
export function parseDecimal(s: string): Decimal | undefined {
  const m = DECIMAL_RE.exec(s);
  if (m === null) return undefined;
  const lStr = m[1] ?? '';
  const rStr = m[2] ?? '';
  const l = BigInt(lStr);
  if (!fitsI64(l) || rStr.length > 4) return undefined;
  const lScaled = l * 10000n;
  if (!fitsI64(lScaled)) return undefined;
  const r = BigInt(rStr) * 10n ** BigInt(4 - rStr.length);
  const v = lStr.startsWith('-') ? lScaled - r : lScaled + r;
  return fitsI64(v) ? new Decimal(v) : undefined;
}

// ---------- ipaddr ----------

function atLeastTwo(s: string, c: string): boolean {
  const i = s.indexOf(c);
  return i >= 0 && s.indexOf(c, i + 1) >= 0;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const p of parts) {
    // Rust's Ipv4Addr parser: 1–3 decimal digits, no leading zero, at most 255.
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out = (out << 8n) | BigInt(n);
  }
  return out;
}

function parseV6Groups(s: string): bigint[] | undefined {
  if (s === '') return [];
  const out: bigint[] = [];
  for (const g of s.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(BigInt(`0x${g}`));
  }
  return out;
}

function parseV6(s: string): bigint | undefined {
  const halves = s.split('::');
  let groups: bigint[];
  if (halves.length === 1) {
    const g = parseV6Groups(halves[0] ?? '');
    if (g === undefined) return undefined;
    groups = g;
  } else if (halves.length === 2) {
    const a = parseV6Groups(halves[0] ?? '');
    const b = parseV6Groups(halves[1] ?? '');
    if (a === undefined || b === undefined || a.length + b.length >= 8) return undefined;
    groups = [...a, ...new Array<bigint>(8 - a.length - b.length).fill(0n), ...b];
  } else {
    return undefined;
  }
  if (groups.length !== 8) return undefined;
  let out = 0n;
  for (const g of groups) out = (out << 16n) | g;
  return out;
}

function parsePrefix(s: string, max: number, maxLen: number): number | undefined {
  if (s.length > maxLen || !/^[0-9]+$/.test(s) || (s.startsWith('0') && s !== '0')) {
    return undefined;
  }
  const n = Number(s);
  return n <= max ? n : undefined;
}

/** Parses `ip("…")` with the official engine's rules (no IPv4-in-IPv6, no leading zeros). */
export function parseIp(s: string): IpAddr | undefined {
  if (s.length > 43) return undefined;
  if (atLeastTwo(s, ':') && atLeastTwo(s, '.')) return undefined;
  const slash = s.indexOf('/');
  const addrStr = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseV4(addrStr);
  const v6 = v4 === undefined ? parseV6(addrStr) : undefined;
  if (v4 === undefined && v6 === undefined) return undefined;
  const isV6 = v4 === undefined;
  let prefix = isV6 ? 128 : 32;
  if (slash >= 0) {
    const p = parsePrefix(s.slice(slash + 1), isV6 ? 128 : 32, isV6 ? 3 : 2);
    if (p === undefined) return undefined;
    prefix = p;
  }
  return new IpAddr(isV6, (isV6 ? v6 : v4) ?? 0n, prefix);
}

/** `a.isInRange(b)`: a's range lies within b's; false across address families. */
export function ipInRange(a: IpAddr, b: IpAddr): boolean {
  if (a.v6 !== b.v6) return false;
  const [alo, ahi] = a.range();
  const [blo, bhi] = b.range();
  return alo >= blo && ahi <= bhi;
}

const LOOPBACK_V4 = new IpAddr(false, 0x7f000000n, 8);
const LOOPBACK_V6 = new IpAddr(true, 1n, 128);
const MULTICAST_V4 = new IpAddr(false, 0xe0000000n, 4);
const MULTICAST_V6 = new IpAddr(true, 0xff00n << 112n, 8);

export function ipIsLoopback(a: IpAddr): boolean {
  return ipInRange(a, a.v6 ? LOOPBACK_V6 : LOOPBACK_V4);
}

export function ipIsMulticast(a: IpAddr): boolean {
  return ipInRange(a, a.v6 ? MULTICAST_V6 : MULTICAST_V4);
}

// ---------- datetime and duration ----------

const DURATION_RE = /^-?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
const U64_MAX = (1n << 64n) - 1n;

/** Parses `duration("…")`, e.g. `1d2h3m4s5ms` or `-10m`; undefined on error or overflow. */
export function parseDuration(s: string): Duration | undefined {
  if (s === '' || s === '-') return undefined;
  const m = DURATION_RE.exec(s);
  if (m === null) return undefined;
  const neg = s.startsWith('-');
  const units: readonly [number, bigint][] = [
    [10, 1n],
    [8, 1000n],
    [6, 60_000n],
    [4, 3_600_000n],
    [2, 86_400_000n],
  ];
  let total = 0n;
  for (const [idx, mul] of units) {
    const digits = m[idx];
    const n = digits === undefined ? 0n : BigInt(digits);
    // The Rust parser reads each quantity as u64, then as i64, and checks every step.
    if (n > U64_MAX || !fitsI64(n)) return undefined;
    const part = n * mul;
    if (!fitsI64(part)) return undefined;
    total = neg ? total - part : total + part;
    if (!fitsI64(total)) return undefined;
  }
  return new Duration(total);
}

const DATE_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})/;
const HMS_RE = /^T([0-9]{2}):([0-9]{2}):([0-9]{2})/;
const MS_OFFSET_RE = /^(\.([0-9]{3}))?(Z|((\+|-)([0-9]{2})([0-9]{2})))$/;

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Parses `datetime("…")`: `YYYY-MM-DD`, optionally `Thh:mm:ss`, `.SSS`, and `Z` or `±hhmm`. */
export function parseDatetime(s: string): Datetime | undefined {
  const dm = DATE_RE.exec(s);
  if (dm === null) return undefined;
  const y = Number(dm[1]);
  const mo = Number(dm[2]);
  const d = Number(dm[3]);
  const dateOk = mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo);
  const days = BigInt(daysFromCivil(y, mo, d));
  const rest = s.slice(dm[0].length);
  if (rest === '') return dateOk ? new Datetime(days * 86_400_000n) : undefined;
  const hm = HMS_RE.exec(rest);
  if (hm === null) return undefined;
  const tail = rest.slice(hm[0].length);
  const om = MS_OFFSET_RE.exec(tail);
  if (om === null || !dateOk) return undefined;
  const h = Number(hm[1]);
  const mi = Number(hm[2]);
  const sec = Number(hm[3]);
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  const ms = om[2] === undefined ? 0 : Number(om[2]);
  let offsetSec = 0;
  if (om[4] !== undefined) {
    const oh = Number(om[6]);
    const omin = Number(om[7]);
    if (oh >= 24 || omin >= 60) return undefined;
    offsetSec = (oh * 3600 + omin * 60) * (om[5] === '+' ? 1 : -1);
  }
  const total = days * 86_400_000n + BigInt(((h * 60 + mi) * 60 + sec - offsetSec) * 1000 + ms);
  return new Datetime(total);
}

const MS_PER_DAY = 86_400_000n;

/** `datetime.toDate()`: midnight of the same UTC day; undefined on overflow. */
export function toDate(d: Datetime): Datetime | undefined {
  const r = d.ms % MS_PER_DAY;
  const floor = r === 0n ? d.ms : d.ms >= 0n ? d.ms - r : d.ms - r - MS_PER_DAY;
  return fitsI64(floor) ? new Datetime(floor) : undefined;
}

/** `datetime.toTime()`: the time since that day's midnight, always non-negative. */
export function toTime(d: Datetime): Duration {
  const r = d.ms % MS_PER_DAY;
  return new Duration(r < 0n ? r + MS_PER_DAY : r);
}
