/**
 * The fast evaluator's runtime values: JS booleans, BigInt Longs and strings unwrapped (so
 * comparisons are plain `===`), and small classes for sets, records, entity references and the
 * extension types. Built once per entity snapshot; request contexts are converted per request.
 */
import { Datetime, Decimal, Duration, IpAddr } from './extensions.js';

/** The key of an entity: type names hold no NUL, so `type NUL id` is unambiguous. */
export function entityKey(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

/** A reference to an entity (`Type::"id"`), compared by `key`. */
export class EntityRef {
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = entityKey(type, id);
  }
}

/**
 * A record: attribute name to value. Its structural key (see {@link structuralKey}) is made on
 * first use and kept, so a record nested in several sets is keyed once.
 */
export class CRecord {
  private key: string | undefined;

  constructor(readonly map: ReadonlyMap<string, Value>) {}

  /** The structural key: equal records, and only they, have equal keys. */
  structuralKey(): string {
    if (this.key === undefined) {
      const entries: string[] = [];
      for (const [name, v] of this.map) entries.push(`${JSON.stringify(name)}:${structuralKey(v)}`);
      // Attribute names are distinct and JSON-quoted, so sorting the entries sorts by name.
      this.key = `{${entries.sort().join(',')}}`;
    }
    return this.key;
  }
}

/**
 * A Cedar set. Primitives and entity keys sit in JS Sets for O(1) `contains`; compound values
 * (records, sets, extension values) sit in a map by their structural key, so that building a set
 * and asking it `contains`/`containsAll` cost time linear in the data. A scan comparing each new
 * element with every earlier one was quadratic: 40,000 tool arguments froze the process for
 * tens of seconds.
 */
export class CSet {
  readonly prims = new Set<boolean | bigint | string>();
  readonly ents = new Map<string, EntityRef>();
  readonly others = new Map<string, Value>();
  private key: string | undefined;

  constructor(items: readonly Value[]) {
    for (const v of items) this.add(v);
  }

  private add(v: Value): void {
    if (typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'string') {
      this.prims.add(v);
    } else if (v instanceof EntityRef) {
      this.ents.set(v.key, v);
    } else {
      const k = structuralKey(v);
      if (!this.others.has(k)) this.others.set(k, v);
    }
  }

  get size(): number {
    return this.prims.size + this.ents.size + this.others.size;
  }

  has(v: Value): boolean {
    if (typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'string') {
      return this.prims.has(v);
    }
    if (v instanceof EntityRef) return this.ents.has(v.key);
    return this.others.has(structuralKey(v));
  }

  /** Every element, in no particular order. */
  *values(): Generator<Value> {
    yield* this.prims;
    yield* this.ents.values();
    yield* this.others.values();
  }

  /** The structural key: equal sets, and only they, have equal keys (order does not count). */
  structuralKey(): string {
    if (this.key === undefined) {
      const elements: string[] = [];
      for (const v of this.values()) elements.push(structuralKey(v));
      this.key = `[${elements.sort().join(',')}]`;
    }
    return this.key;
  }
}

/**
 * A string that identifies a value up to Cedar's `==`: two values have the same key exactly
 * when they are equal. Each kind starts with its own character and every part is
 * self-delimiting (strings and names JSON-quoted, numbers ended by `,`, `]` or `}`), so no two
 * different values share a key. Compound keys hold their elements' keys, which bounds their
 * length by the data's size times its nesting; {@link MAX_VALUE_DEPTH} bounds the nesting.
 */
export function structuralKey(v: Value): string {
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'bigint') return `i${v}`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof CRecord || v instanceof CSet) return v.structuralKey();
  if (v instanceof EntityRef) return `e${JSON.stringify(v.key)}`;
  if (v instanceof Decimal) return `d${v.value}`;
  if (v instanceof Datetime) return `T${v.ms}`;
  if (v instanceof Duration) return `D${v.ms}`;
  return `p${v.v6 ? 6 : 4}:${v.addr}/${v.prefix}`;
}

/**
 * The deepest nesting of sets and records this evaluator reads from JSON data. Deeper data is
 * left to the official engine (whose own parser stops near 128 levels), which keeps keys and
 * recursion here bounded by the data's size.
 */
export const MAX_VALUE_DEPTH = 64;

export type Value =
  boolean | bigint | string | CSet | CRecord | EntityRef | Decimal | IpAddr | Datetime | Duration;

/** Cedar's `==`: structural, never an error, false across types. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityRef) return b instanceof EntityRef && a.key === b.key;
  if (a instanceof CSet) {
    if (!(b instanceof CSet) || a.size !== b.size) return false;
    for (const v of a.values()) if (!b.has(v)) return false;
    return true;
  }
  if (a instanceof CRecord) {
    if (!(b instanceof CRecord) || a.map.size !== b.map.size) return false;
    for (const [k, v] of a.map) {
      const w = b.map.get(k);
      if (w === undefined || !valueEquals(v, w)) return false;
    }
    return true;
  }
  if (a instanceof Decimal) return b instanceof Decimal && a.value === b.value;
  if (a instanceof Datetime) return b instanceof Datetime && a.ms === b.ms;
  if (a instanceof Duration) return b instanceof Duration && a.ms === b.ms;
  return b instanceof IpAddr && a.v6 === b.v6 && a.addr === b.addr && a.prefix === b.prefix;
}

/** Raised when JSON data holds something this evaluator does not model; callers fall back. */
export class UnsupportedData extends Error {}

const IDENT = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has']);
const validTypes = new Map<string, boolean>();

/**
 * True for an entity type name the official engine certainly accepts. Anything else is left to
 * it (whole-request fallback), so its exact error is reproduced.
 */
export function isPlainTypeName(t: string): boolean {
  let ok = validTypes.get(t);
  if (ok === undefined) {
    ok = true;
    for (const p of t.split('::')) {
      if (!IDENT.test(p) || RESERVED.has(p) || p.startsWith('__cedar')) ok = false;
    }
    if (validTypes.size < 10_000) validTypes.set(t, ok);
  }
  return ok;
}

/** Reads an entity reference, `{type, id}` or `{__entity: {type, id}}`. */
export function toEntityRef(json: unknown): EntityRef {
  if (typeof json !== 'object' || json === null) throw new UnsupportedData('entity uid');
  const o = json as Record<string, unknown>;
  const inner = ('__entity' in o && Object.keys(o).length === 1 ? o['__entity'] : o) as Record<
    string,
    unknown
  > | null;
  if (typeof inner !== 'object' || inner === null) throw new UnsupportedData('entity uid');
  const { type, id } = inner;
  if (
    typeof type !== 'string' ||
    typeof id !== 'string' ||
    Object.keys(inner).length !== 2 ||
    !isPlainTypeName(type) ||
    /\p{Cs}/u.test(id)
  ) {
    throw new UnsupportedData('entity uid');
  }
  return new EntityRef(type, id);
}

/** The name of a value's type, for error messages. */
export function typeName(v: Value): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'long';
  if (typeof v === 'string') return 'string';
  if (v instanceof CSet) return 'set';
  if (v instanceof CRecord) return 'record';
  if (v instanceof EntityRef) return 'entity';
  if (v instanceof Decimal) return 'decimal';
  if (v instanceof IpAddr) return 'ipaddr';
  if (v instanceof Datetime) return 'datetime';
  return 'duration';
}
