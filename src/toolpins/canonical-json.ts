/**
 * The JSON Canonicalization Scheme (RFC 8785): one byte sequence per JSON value, whatever the
 * order of its object members or the spelling of its numbers, so that a hash over it names the
 * value. ECMAScript's own number and string serialisation is what RFC 8785 prescribes
 * (§3.2.2.2, §3.2.2.3), so `JSON.stringify` does those; what it adds is member order, by UTF-16
 * code units (§3.2.3), which is what `Array.prototype.sort` compares by default.
 */

/** Deeper values are refused: a definition never needs this much, and recursion stays bounded. */
export const MAX_CANONICAL_DEPTH = 64;

/** A value with no canonical form: not JSON (a function, `NaN`, a bigint), or nested too deep. */
export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/**
 * The RFC 8785 canonical JSON of `value` (a value as `JSON.parse` returns it). Members whose
 * value is `undefined` are left out and `undefined` in an array is `null`, as `JSON.stringify`
 * does.
 *
 * @example
 * canonicalJson({ b: [1e3, 'é'], a: null }); // '{"a":null,"b":[1000,"é"]}'
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, 0, out);
  return out.join('');
}

function write(value: unknown, depth: number, out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('a number is not finite');
      // -0 is "0", 1e21 is "1e+21": ECMAScript's Number::toString, as §3.2.2.3 asks.
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`a ${typeof value} is not JSON`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (depth >= MAX_CANONICAL_DEPTH) {
    throw new CanonicalJsonError(`nested deeper than ${MAX_CANONICAL_DEPTH}`);
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) out.push(',');
      const item: unknown = value[index];
      write(item === undefined ? null : item, depth + 1, out);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  out.push('{');
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(member, depth + 1, out);
  }
  out.push('}');
}
